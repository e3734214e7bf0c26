"""Real data without a dataset hub: pinned files from package registries (checked by SHA-256) and the labelled
sets built from them (docs/offline-data.md)."""

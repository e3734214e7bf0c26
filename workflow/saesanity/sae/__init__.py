"""Sparse autoencoders: one file per architecture behind a registry (saesanity.sae.registry)."""

"""SAEs trained by other libraries (SAELens, EleutherAI's sparsify, saprmarks' dictionary_learning), read
into our SAE classes so that our encode/decode give the library's latents and reconstruction.

describe (no torch: the Snakefile imports it when it builds the DAG) says what a folder holds; load builds
our SAE from it; write produces such folders from one of our SAEs, through the libraries where they install.
"""

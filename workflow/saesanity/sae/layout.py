"""Names inside an SAE folder: the SAELens/SAEBench layout (cfg.json, sae_weights.safetensors) plus our
train_log.csv, train_curve.csv and checkpoints/<samples>/. One source for the writers (sae.io, train, checkpoints), the
readers, and the Snakefile's path templates (saesanity.pipeline.paths); no imports, so the Snakefile can read
it without loading torch."""

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
TRAIN_LOG = "train_log.csv"
TRAIN_CURVE = "train_curve.csv"
CHECKPOINTS = "checkpoints"

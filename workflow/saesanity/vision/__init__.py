"""Vision: a toy image world with known concepts, a small ViT (or CLIP) behind one adapter, and the
evaluations of arXiv 2602.14111 that fit images."""

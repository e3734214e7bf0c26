"""Studies beyond arXiv 2602.14111 that put the trained SAEs beside their random baselines."""

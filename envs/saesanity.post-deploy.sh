#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment, from the workflow's directory (the repository root):
# the README's install, so that `--sdm conda` jobs import this repository's package with the pinned versions.
set -euo pipefail
pip install -c envs/constraints.txt -e .

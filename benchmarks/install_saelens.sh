#!/usr/bin/env bash
# Installs SAELens (pinned in envs/constraints.txt) into its own virtual environment, benchmarks/.venv-saelens,
# for benchmarks/vs_saelens.py. The constraints keep torch at the local CPU build; saesanity is installed
# there too (editable), so the benchmark can drive both libraries from one process on the same activations.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv-saelens"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -c "$root/envs/constraints.txt" sae-lens -e "$root"
"$venv/bin/python" -c "import sae_lens, torch; print('sae_lens', sae_lens.__version__, 'torch', torch.__version__)"

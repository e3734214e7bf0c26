#!/usr/bin/env bash
# One command from a fresh clone: installs SAELens into benchmarks/.venv-saelens (once), then runs
# benchmarks/vs_saelens.py there with the given arguments.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x "$here/.venv-saelens/bin/python" ] || ! "$here/.venv-saelens/bin/python" -c "import sae_lens, saesanity" 2>/dev/null; then
    "$here/install_saelens.sh"
fi
exec "$here/.venv-saelens/bin/python" "$here/vs_saelens.py" "$@"

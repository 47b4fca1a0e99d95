#!/usr/bin/env bash
# Runs the Python test suites of contrib/: the devnet (contrib/devnet/tests) and the contracts
# (contrib/contracts/tests), in one pytest run. Creates/updates the venv first. Extra arguments go
# to pytest (e.g. -k reorg). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
contrib="$(dirname "$here")"
"$here/venv.sh"
cd "$contrib"
# -p no:cacheprovider: leave no .pytest_cache in the work tree.
exec "$contrib/.venv/bin/python" -m pytest -q -p no:cacheprovider devnet/tests contracts/tests "$@"

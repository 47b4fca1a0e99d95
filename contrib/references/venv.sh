#!/usr/bin/env bash
# Creates or updates the reference venv at contrib/references/.venv from contrib/references/requirements.txt
# (pycanon + pandas, used by the sample tests to recheck k and l independently). Idempotent; rebuilt only when
# the requirements change. Usage: contrib/references/venv.sh [--print-path]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

current() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if ! current; then
    exec 9>"${TMPDIR:-/tmp}/delong-refvenv-$(printf %s "$here" | sha256sum | cut -c1-16).lock"
    flock 9
    if ! current; then
        py="${PYTHON:-python3}"
        echo "references/venv.sh: building $venv with $($py --version 2>&1) (one-time)" >&2
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
        echo "$want" > "$stamp"
        echo "references/venv.sh: ready" >&2
    fi
fi

if [ "${1:-}" = "--print-path" ]; then echo "$venv"; fi

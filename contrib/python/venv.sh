#!/usr/bin/env bash
# Creates or updates a Python venv from a requirements file: by default the one venv for contrib/ tools at
# contrib/.venv from contrib/python/requirements.txt (contrib/references/venv.sh names its own pair).
# Idempotent; silent when the venv is already current. The venv records the sha256 of the requirements it
# was built from and is rebuilt only when that changes.
# Usage: contrib/python/venv.sh [--venv DIR --requirements FILE] [--print-path]
# Prints the venv path on stdout only with --print-path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
contrib="$(dirname "$here")"
venv="$contrib/.venv"
req="$here/requirements.txt"
print_path=0
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv="$2"; shift 2 ;;
        --requirements) req="$2"; shift 2 ;;
        --print-path) print_path=1; shift ;;
        *) echo "venv.sh: unknown argument $1 (expected --venv DIR, --requirements FILE, --print-path)" >&2; exit 2 ;;
    esac
done
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

current() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if ! current; then
    # Serialize concurrent first uses (tests start several devnets at once).
    # The lock lives outside the work tree so it never shows up in git status.
    exec 9>"${TMPDIR:-/tmp}/delong-venv-$(printf %s "$venv" | sha256sum | cut -c1-16).lock"
    flock 9
    if ! current; then
        py="${PYTHON:-python3}"
        echo "venv.sh: building $venv with $($py --version 2>&1) (one-time, ~1 min)" >&2
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
        echo "$want" > "$stamp"
        echo "venv.sh: ready" >&2
    fi
fi

if [ "$print_path" = 1 ]; then echo "$venv"; fi

#!/usr/bin/env bash
# Creates or updates the one Python venv for contrib/ tools at contrib/.venv from
# contrib/python/requirements.txt. Idempotent; silent when the venv is already current.
# The venv records the sha256 of the requirements it was built from and is rebuilt only
# when that changes. Usage: contrib/python/venv.sh   (or source it; it defines nothing).
# Prints the venv path on stdout only with --print-path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
contrib="$(dirname "$here")"
venv="$contrib/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

current() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if ! current; then
    # Serialize concurrent first uses (tests start several devnets at once).
    # The lock lives outside the work tree so it never shows up in git status.
    exec 9>"${TMPDIR:-/tmp}/delong-venv-$(printf %s "$contrib" | sha256sum | cut -c1-16).lock"
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

if [ "${1:-}" = "--print-path" ]; then echo "$venv"; fi

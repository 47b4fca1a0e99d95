#!/usr/bin/env bash
# Creates or updates the reference venv at contrib/references/.venv from contrib/references/requirements.txt
# (pycanon + pandas, used by the sample tests to recheck k and l independently; moto + boto3, the local S3
# store of the object-storage tests), with the same builder as the contrib venv. Idempotent.
# Usage: contrib/references/venv.sh [--print-path]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../python/venv.sh" --venv "$here/.venv" --requirements "$here/requirements.txt" "$@"

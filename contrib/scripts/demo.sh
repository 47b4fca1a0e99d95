#!/usr/bin/env bash
# DeLong's main job on its embedded default, the local devnet:
#   contrib/scripts/demo.sh
# Builds `delong`, starts the devnet (py-evm behind JSON-RPC), deploys DataMarket and AlgorithmRegistry with
# demo activity (datasets, rentals, an extension, a revocation, algorithms, a job, a trusted measurement),
# then has `delong chain verify-rpc` verify every block the devnet produced (hashes, parent links,
# transaction/withdrawal/receipt roots, blooms) and prove both contract accounts against the head's state
# root. Nothing the devnet says is trusted. (Syncing into the LevelDB index, `delong node run`, is not
# built yet; see the README's status table.)
set -euo pipefail
cd "$(dirname "$0")/../.."

contrib/scripts/install-deps.sh >/dev/null
echo "== building delong (release)"
swift build -c release --product delong 2>&1 | tail -n 1

work="$(mktemp -d)"
deploy_pid=""
cleanup() {
    if [ -n "$deploy_pid" ] && kill -0 "$deploy_pid" 2>/dev/null; then
        kill -TERM "$deploy_pid" 2>/dev/null || true
        wait "$deploy_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the devnet and deploying the contracts with demo activity"
contrib/contracts/deploy --port 0 --demo --out "$work/deployment.json" >"$work/deploy.out" 2>"$work/deploy.err" &
deploy_pid=$!
for _ in $(seq 1 1200); do   # up to 120 s: the first run also creates the Python venv
    grep -q '^READY ' "$work/deploy.out" 2>/dev/null && break
    if ! kill -0 "$deploy_pid" 2>/dev/null; then
        echo "deploy failed:" >&2
        cat "$work/deploy.err" >&2
        exit 1
    fi
    sleep 0.1
done
rpc="$(awk '/^READY /{print $2; exit}' "$work/deploy.out")"
[ -n "$rpc" ] || { echo "the devnet did not become ready within 120 s" >&2; cat "$work/deploy.err" >&2; exit 1; }
read -r market registry < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["DataMarket"]["address"], d["AlgorithmRegistry"]["address"])' "$work/deployment.json")
echo "devnet $rpc · DataMarket $market · AlgorithmRegistry $registry"

echo "== verifying every block and both contract accounts with delong"
.build/release/delong chain verify-rpc --rpc "$rpc" --account "$market" --account "$registry"

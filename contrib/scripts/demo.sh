#!/usr/bin/env bash
# DeLong's main job on its embedded default, the local devnet:
#   contrib/scripts/demo.sh
# Builds `delong`, starts the devnet (py-evm behind JSON-RPC), deploys DataMarket and AlgorithmRegistry with
# demo activity (datasets, rentals, an extension, a revocation, algorithms, a job, a trusted measurement),
# then runs the light-client node: `delong node sync` verifies every header from the genesis checkpoint,
# fetches receipts only where a block's bloom may hold a DeLong event, checks them against receiptsRoot and
# indexes the events into LevelDB; `delong index …` shows what it found. Last, `delong chain verify-rpc`
# re-verifies every block in full and proves both contract accounts against the head's state root.
# Nothing the devnet says is trusted.
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

delong=.build/release/delong
genesis="$(python3 -c 'import json,sys,urllib.request as u; r=u.Request(sys.argv[1], data=b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x0\",false]}", headers={"Content-Type": "application/json"}); print(json.load(u.urlopen(r))["result"]["hash"])' "$rpc")"

echo "== syncing the light-client node from the genesis checkpoint 0:$genesis"
"$delong" node sync --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" --data-dir "$work/index" --finality 4

echo "== what the verified index holds"
"$delong" index status --data-dir "$work/index"
dataset="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo"]["datasets"]["admissions"])' "$work/deployment.json")"
image="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo"]["imageDigest"])' "$work/deployment.json")"
"$delong" index rentals --dataset "$dataset" --data-dir "$work/index"
"$delong" index algorithm "$image" --data-dir "$work/index"

echo "== re-verifying every block in full and both contract accounts"
"$delong" chain verify-rpc --rpc "$rpc" --account "$market" --account "$registry"

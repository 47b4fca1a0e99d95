#!/usr/bin/env bash
# Light-client sync benchmark on the local devnet, one command:
#   contrib/benchmarks/sync-bench.sh [BLOCKS] [ACTIVE_BLOCKS]
# (DELONG_BIN=path runs another delong build; SYNC_BENCH_PERF=file records the empty-block sync with perf.)
# Mines BLOCKS empty blocks (default 100000) and ACTIVE_BLOCKS blocks that each carry a DeLong event
# (default 2000), then times a release `delong node sync` over each part and prints: blocks/s, the node's
# CPU time beside the devnet's (the devnet is the reference: it serves every byte the node verifies) and,
# for the empty blocks, beside the bare decode + keccak of the same headers measured in the same run
# (`delong-bench sync-reference`), with the JSON-RPC requests (HTTP) and calls per 1,000 blocks; then
# index bytes per record, and HTTP query latency of `delong node run`. Not a test; nothing fails on a
# slow figure. Builds what it needs (release delong and delong-bench) from a clean clone.
set -euo pipefail
cd "$(dirname "$0")/../.."
blocks="${1:-100000}"
active="${2:-2000}"

contrib/scripts/install-deps.sh >/dev/null
contrib/python/venv.sh
swift build -c release --product delong 2>&1 | tail -n 1
swift build -c release --product delong-bench 2>&1 | tail -n 1
delong="${DELONG_BIN:-$PWD/.build/release/delong}"  # DELONG_BIN: another build to compare
bench="$PWD/.build/release/delong-bench"
py="$PWD/contrib/.venv/bin/python"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }   # user+system seconds of a pid
now() { date +%s.%N; }

contrib/devnet/run --port 0 --deterministic >"$work/devnet.out" 2>/dev/null &
pids+=($!)
devnet_pid=$!
for _ in $(seq 1 600); do grep -q READY "$work/devnet.out" 2>/dev/null && break; sleep 0.1; done
rpc="$(awk '/^READY/{print $2}' "$work/devnet.out")"
contrib/contracts/deploy --rpc "$rpc" --demo --out "$work/deployment.json" >/dev/null
rpc_call() { "$py" -c 'import json,sys,urllib.request as u; r=u.Request(sys.argv[1], data=json.dumps({"jsonrpc":"2.0","id":1,"method":sys.argv[2],"params":json.loads(sys.argv[3])}).encode(), headers={"Content-Type":"application/json"}); print(json.dumps(json.load(u.urlopen(r, timeout=600))["result"]))' "$rpc" "$1" "$2"; }
genesis="$(rpc_call eth_getBlockByNumber '["0x0", false]' | "$py" -c 'import json,sys; print(json.load(sys.stdin)["hash"])')"
sync() {  # sync; prints "blocks seconds node_cpu devnet_cpu receipts events rpc_requests rpc_calls"
    local d0 t0 t1 d1 out
    d0="$(cpu "$devnet_pid")"; t0="$(now)"
    out="$( { /usr/bin/time -f '%U %S' ${profile:+perf record -q -F 999 -g -o "$profile" --} "$delong" node sync --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
        --data-dir "$work/index" --finality 12 --batch 256 >"$work/sync.json"; } 2>&1 | tail -n 1)"
    t1="$(now)"; d1="$(cpu "$devnet_pid")"
    "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); u,s=map(float,sys.argv[4].split()); print(j["blocks"], float(sys.argv[3])-float(sys.argv[2]), u+s, float(sys.argv[6])-float(sys.argv[5]), j["receiptsFetched"], j["events"], j.get("rpcRequests", 0), j.get("rpcCalls", 0))' \
        "$work/sync.json" "$t0" "$t1" "$out" "$d0" "$d1"
}
report() {
    read -r n secs node_cpu devnet_cpu receipts events requests calls <<<"$1"
    printf '%-34s %8d blocks %9.0f blocks/s   node CPU %6.2f s   devnet CPU %6.2f s (%.2fx)   receipts fetched %d, events %d\n' \
        "$2" "$n" "$(echo "$n / $secs" | bc -l)" "$node_cpu" "$devnet_cpu" "$(echo "$node_cpu / ($devnet_cpu + 0.001)" | bc -l)" "$receipts" "$events"
    printf '%-34s per 1,000 blocks: %.1f RPC requests (HTTP), %.0f JSON-RPC calls\n' "" \
        "$(echo "1000 * $requests / ($n + 0.000001)" | bc -l)" "$(echo "1000 * $calls / ($n + 0.000001)" | bc -l)"
}

echo "== devnet $rpc"
report "$(sync)" "demo activity (deploy --demo)"
t0="$(now)"; rpc_call anvil_mine "[\"$(printf '0x%x' "$blocks")\"]" >/dev/null; t1="$(now)"
printf 'devnet mined %d empty blocks in %.1f s\n' "$blocks" "$(echo "$t1 - $t0" | bc -l)"
head_before="$(rpc_call eth_blockNumber '[]' | tr -d '"')"
profile="${SYNC_BENCH_PERF:-}" empty="$(sync)"  # SYNC_BENCH_PERF=FILE: perf-record this sync into FILE
unset profile
report "$empty" "empty blocks (bloom skips receipts)"
# The reference in the same run: bare RLP decode + keccak of the same headers (all blocks up to the head).
read -r ref_headers ref_cpu < <("$bench" sync-reference --rpc "$rpc" --blocks "$((head_before))")
read -r n _ node_cpu _ <<<"$empty"
printf '%-34s node CPU %.2f s for %d blocks = %.1f µs/block; bare decode + keccak of the same headers %.3f s for %d = %.2f µs/header: node %.1fx of it\n' \
    "" "$node_cpu" "$n" "$(echo "1000000 * $node_cpu / $n" | bc -l)" "$ref_cpu" "$ref_headers" "$(echo "1000000 * $ref_cpu / $ref_headers" | bc -l)" \
    "$(echo "($node_cpu / $n) / ($ref_cpu / $ref_headers)" | bc -l)"

# Activity: a long rental by demo consumer B (whose demo rental was revoked), then one RentalExtended per
# block, signed with eth-account. (Blocks are 1 s apart on the deterministic devnet, so the demo's one-hour
# rentals have long expired after the empty blocks.)
"$py" - "$rpc" "$work/deployment.json" "$active" <<'PY'
import json, sys
from eth_account import Account
from web3 import Web3
rpc, dep, n = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
w3 = Web3(Web3.HTTPProvider(rpc))
Account.enable_unaudited_hdwallet_features()
acct = Account.from_mnemonic("test test test test test test test test test test test junk", account_path="m/44'/60'/0'/0/6")
market = w3.eth.contract(address=dep["DataMarket"]["address"], abi=json.load(open("contrib/contracts/artifacts/DataMarket.json"))["abi"])
ds = dep["demo"]["datasets"]["admissions"]
nonce = w3.eth.get_transaction_count(acct.address)
price = market.functions.datasets(ds).call()[2]
fees = {"gas": 200000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id, "from": acct.address}
long = 10**7
for i in range(n):
    call = market.functions.rent(ds, long) if i == 0 else market.functions.extend(ds, 1)
    tx = call.build_transaction({**fees, "nonce": nonce + i, "value": price * (long if i == 0 else 1)})
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    if i == 0 and w3.eth.get_transaction_receipt(h)["status"] != 1:
        sys.exit("the benchmark's rent transaction reverted")
PY
report "$(sync)" "blocks each with a DeLong event"

size="$(du -sb "$work/index" | cut -f1)"
read -r records record_bytes < <("$delong" index status --data-dir "$work/index" --json | "$py" -c 'import json,sys; j=json.load(sys.stdin); print(j["records"], j["recordBytes"])')
printf 'index: %d records, %.0f bytes per record (key + value, before compression); %d bytes on disk in all (LevelDB files, block hashes and undo data of the last 13 blocks)\n' \
    "$records" "$(echo "$record_bytes / $records" | bc -l)" "$size"

"$delong" node run --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" --data-dir "$work/index" --finality 12 \
    --listen 127.0.0.1:0 --poll 5 >"$work/run.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 300); do grep -q READY "$work/run.out" 2>/dev/null && break; sleep 0.1; done
api="$(awk '/^READY/{print $2}' "$work/run.out")"
"$py" - "$api" "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo"]["datasets"]["admissions"])' "$work/deployment.json")" <<'PY'
import http.client, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); ds = sys.argv[2]
conn = http.client.HTTPConnection(u.hostname, u.port)
def get(path):
    t = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); r.read(); return time.perf_counter() - t
for path, name in ((f"/v1/datasets/{ds}", "GET /v1/datasets/ID"), (f"/v1/rentals?dataset={ds}", "GET /v1/rentals?dataset=ID"), ("/v1/status", "GET /v1/status")):
    for _ in range(50): get(path)
    lat = sorted(get(path) for _ in range(2000))
    print(f"{name:34s} p50 {lat[1000]*1e6:7.0f} µs   p99 {lat[1980]*1e6:7.0f} µs   (one keep-alive client, 2000 requests)")
PY

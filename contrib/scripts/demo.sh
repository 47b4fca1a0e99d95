#!/usr/bin/env bash
# DeLong's main job on its embedded default, the local devnet:
#   contrib/scripts/demo.sh
# Builds `delong`, starts the devnet (py-evm behind JSON-RPC), deploys DataMarket and AlgorithmRegistry with
# demo activity (datasets, rentals, an extension, a revocation, algorithms, a job, a trusted measurement),
# then runs the light-client node: `delong node sync` verifies every header from the genesis checkpoint,
# fetches receipts only where a block's bloom may hold a DeLong event, checks them against receiptsRoot and
# indexes the events into LevelDB; `delong index …` shows what it found. Last, `delong chain verify-rpc`
# re-verifies every block in full and proves both contract accounts against the head's state root.
# Then the Privacy Plane (`delong privacy serve`) runs on the same chain: the provider signs in (SIWE) and
# receives its dataset key over X25519 to seal a sample dataset; the renter signs in, gets a Secure Mode
# token, and a development sandbox (INSECURE evidence: there is no TDX here) receives the same key, which
# opens the sealed dataset. Nothing the devnet says is trusted.
set -euo pipefail
cd "$(dirname "$0")/../.."

contrib/scripts/install-deps.sh >/dev/null
echo "== building delong (release)"
swift build -c release --product delong 2>&1 | tail -n 1

work="$(mktemp -d)"
deploy_pid=""
plane_pid=""
compute_pid=""
cleanup() {
    # Newest first: the planes, then the devnet they follow.
    for pid in "$compute_pid" "$plane_pid" "$deploy_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# ready_url NAME PID: waits up to 30 s for $work/NAME.out's READY line and prints its URL; exits with NAME's
# stderr if the process dies or never gets ready.
ready_url() {
    local name="$1" pid="$2" url=""
    for _ in $(seq 1 300); do
        grep -q '^READY ' "$work/$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { echo "$name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
        sleep 0.1
    done
    url="$(awk '/^READY /{print $2; exit}' "$work/$name.out")"
    [ -n "$url" ] || { echo "$name did not become ready within 30 s" >&2; cat "$work/$name.err" >&2; exit 1; }
    echo "$url"
}

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

echo "== the Privacy Plane on the same chain (development root secret and INSECURE development evidence)"
# The devnet's well-known development keys (the "test test ... junk" mnemonic), from the deployment's roles.
key_of() {
    contrib/.venv/bin/python - "$work/deployment.json" "$1" <<'PY'
import json, sys
from eth_account import Account
Account.enable_unaudited_hdwallet_features()
d = json.load(open(sys.argv[1]))
role, _, i = sys.argv[2].partition(":")
index = d["accountIndexes"][role] if not i else d["accountIndexes"][role][int(i)]
print(Account.from_mnemonic(d["mnemonic"], account_path=f"m/44'/60'/0'/0/{index}").key.hex())
PY
}
(umask 077
 key_of privacySigner > "$work/plane.key"
 key_of demoProviders:0 > "$work/provider.key"
 key_of demoConsumers:0 > "$work/consumer.key")
chain_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chainId"])' "$work/deployment.json")"
# The devnet mines only on transactions, so its head ages while the demo is idle: allow an hour
# (on a live chain, keep the default bound; docs/privacy-plane.md "Freshness").
"$delong" privacy serve --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
    --data-dir "$work/plane" --finality 1 --signing-key "$work/plane.key" --root-secret "file:$work/root.key" \
    --domain delong.demo --listen 127.0.0.1:0 --max-job-seconds 600 --allow-insecure-development-evidence \
    --create-root-secret --max-index-age 3600 >"$work/plane.out" 2>"$work/plane.err" &
plane_pid=$!
plane="$(ready_url plane "$plane_pid")"
echo "privacy plane $plane (TLS; clients check that its evidence binds the key it presents)"
# Outside a TEE the plane's evidence is the INSECURE development kind, which clients accept only when told to
# and only on the devnet; on real hardware they verify its TDX quote (--plane-measurement, --plane-collateral).
trust=(--allow-insecure-plane-evidence)

echo "-- the provider signs in and receives the dataset key to seal with"
"$delong" privacy login --plane "$plane" "${trust[@]}" --wallet-key "$work/provider.key" --domain delong.demo \
    --chain-id "$chain_id" --out "$work/provider.session"
"$delong" privacy provider-key --plane "$plane" "${trust[@]}" --session "$work/provider.session" --dataset "$dataset" \
    --out "$work/provider.dek"
mkdir -p "$work/plain/cohort"
printf 'id,age,admitted\nA-0001,34,2024-01-02\nA-0002,57,2024-01-09\n' > "$work/plain/admissions.csv"
# The provider's Output Gate policy, sealed with the data and hidden from jobs (docs/output-gate.md).
cat >"$work/plain/delong-policy.json" <<'JSON'
{"version": 1,
 "tables": {"admissions.csv": {"entity": "id",
   "columns": {"id": "key", "age": "quasi_identifier", "admitted": "date"}}}}
JSON
printf 'cohort,size\nA,2\n' > "$work/plain/cohort/summary.csv"
"$delong" dataset seal "$work/plain" "$work/sealed" --dataset-id "$dataset" --key-file "$work/provider.dek"

echo "-- the renter signs in and asks for a Secure Mode token for the published algorithm"
"$delong" privacy login --plane "$plane" "${trust[@]}" --wallet-key "$work/consumer.key" --domain delong.demo \
    --chain-id "$chain_id" --out "$work/consumer.session"
job="0x$(python3 -c 'import hashlib; print(hashlib.sha256(b"delong demo job").hexdigest())')"
# The token names the Computing Plane the job runs on (its audience): the demo's authorized operator.
operator="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accounts"]["computingOperator"])' "$work/deployment.json")"
"$delong" privacy token --plane "$plane" "${trust[@]}" --session "$work/consumer.session" --dataset "$dataset" \
    --mode secure --image "$image" --job "$job" --audience "$operator" --out "$work/token.json"

echo "-- a development sandbox claims the demo runner's measurements, whose development digest is trusted, and receives the key"
measurements="$(python3 -c 'import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s("demo MRTD")+s("demo RTMR0")+s("demo RTMR1")+s("demo RTMR2")).hex())')"
"$delong" privacy release-dev --plane "$plane" "${trust[@]}" --token "$work/token.json" --measurements "$measurements" \
    --out "$work/sandbox.dek"
"$delong" dataset verify "$work/sealed" --key-file "$work/sandbox.dek"
echo "-- the same token again is refused: each token releases a key once"
if "$delong" privacy release-dev --plane "$plane" "${trust[@]}" --token "$work/token.json" --measurements "$measurements" \
    --out "$work/again.dek" 2>"$work/again.err"; then
    echo "a used token released a key twice" >&2; exit 1
fi
cat "$work/again.err"

echo "== a Secure job end to end on the Computing Plane (local backend: bubblewrap sandbox, INSECURE development evidence)"
if [ "$(id -u)" -ne 0 ]; then
    echo "the Computing Plane's sandbox needs root (its own job uid, /out tmpfs, cgroups, FUSE): run the demo as root for this part" >&2
    exit 0
fi
"$delong" runtime build --lock contrib/runtime/requirements.lock >/dev/null   # a no-op when already built
echo "-- the provider seals the dataset where the plane keeps sealed data, and records its manifest digest on chain"
datasets="$work/datasets"
mkdir -p "$datasets"
"$delong" dataset seal "$work/plain" "$datasets/${dataset#0x}" --dataset-id "$dataset" --key-file "$work/provider.dek"
manifest="0x$(sha256sum "$datasets/${dataset#0x}/manifest.dlsealed" | cut -d' ' -f1)"
contrib/contracts/call --rpc "$rpc" --deployment "$work/deployment.json" --as demoProviders:0 \
    DataMarket updateDataset "$dataset" "$manifest" 1000000000 delong-demo://samples/admissions delong-demo://meta/admissions.json
echo "-- someone publishes an algorithm: the bundle goes to the DA store, its digests on chain"
mkdir -p "$work/algorithm"
cat >"$work/algorithm/main.py" <<'PY'
import csv
rows = list(csv.DictReader(open("/data/admissions.csv")))
mean = sum(int(r["age"]) for r in rows) / len(rows)
open("/out/mean-age.csv", "w").write(f"n,mean_age\n{len(rows)},{mean:.1f}\n")
print("read", len(rows), "rows")
PY
published="$("$delong" bundle publish "$work/algorithm" --da "$work/da" --rpc "$rpc" --contracts "$work/deployment.json" \
    --wallet-key "$work/consumer.key" --json)"
echo "$published"
block="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["block"])' "$published")"
# The devnet mines only on transactions; two empty blocks make the record final (tokens need a final one),
# then wait for the Privacy Plane's light client to see it final.
python3 - "$rpc" "$plane" "$work/plane/privacy/tls/cert.pem" "$block" <<'PY'
import json, ssl, sys, time, urllib.request as u
rpc, plane, cert, block = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u.urlopen(u.Request(rpc, data=b'{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":["0x2"]}',
                    headers={"Content-Type": "application/json"}))
context = ssl.create_default_context(cafile=cert)
for _ in range(300):
    if json.load(u.urlopen(plane + "/v1/status", context=context))["final"] >= block:
        break
    time.sleep(0.1)
else:
    sys.exit("the Privacy Plane did not see the algorithm's block final within 30 s")
PY
(umask 077; key_of computingOperator > "$work/operator.key")
"$delong" compute serve --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
    --data-dir "$work/compute" --finality 1 --listen 127.0.0.1:0 --operator-key "$work/operator.key" \
    --privacy-plane "$plane" --allow-insecure-plane-evidence --da "$work/da" --datasets "$datasets" \
    --insecure-dev-measurements "$measurements" >"$work/compute.out" 2>"$work/compute.err" &
compute_pid=$!
compute="$(ready_url compute "$compute_pid")"
echo "computing plane $compute"
export DELONG_HOME="$work/consumer-home"
echo "-- the consumer makes an age key and submits the job; the output will be sealed to that key"
"$delong" key new --out "$work/consumer-age.txt"
job="$("$delong" job submit --plane "$compute" "${trust[@]}" --session "$work/consumer.session" \
    --wallet-key "$work/consumer.key" --dataset "$dataset" --bundle "$work/algorithm" \
    --recipient "$("$delong" key recipient "$work/consumer-age.txt")" --timeout 120)"
for _ in $(seq 1 600); do
    phase="$("$delong" job status "$job" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s.get("phase") or s.get("outcome"))')"
    [ "$phase" = "inReview" ] && break
    case "$phase" in refused*|killed*|exited*|infraError*) "$delong" job status "$job"; exit 1;; esac
    sleep 0.2
done
"$delong" job status "$job"
echo "-- the Output Gate flagged the output (a mean over 2 people): it waits for two reviewers"
echo "-- the provider names a second reviewer in its signed list, then both read the output and approve it"
(umask 077; contrib/.venv/bin/python -c 'import secrets; print("0x" + secrets.token_hex(32))' >"$work/reviewer.key")
reviewer="$(contrib/.venv/bin/python -c 'import sys; from eth_account import Account; print(Account.from_key(open(sys.argv[1]).read().strip()).address)' "$work/reviewer.key")"
"$delong" review reviewers --dataset "$dataset" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" \
    --reviewer "$reviewer" --required 2
"$delong" review show "$job" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" -o "$work/review"
cat "$work/review/out/mean-age.csv"
"$delong" review approve "$job" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" \
    --reason "an aggregate over 2 rows is fine for the demo"
"$delong" review approve "$job" --plane "$compute" "${trust[@]}" --wallet-key "$work/reviewer.key" \
    --reason "agreed: demo data"
"$delong" job status "$job" --watch
echo "-- the consumer checks the output against its own light client and the agent's signed record, then decrypts"
"$delong" node sync --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
    --data-dir "$work/consumer-index" --finality 1 >/dev/null
"$delong" job fetch "$job" -i "$work/consumer-age.txt" -o "$work/output" --data-dir "$work/consumer-index"
cat "$work/output/out/mean-age.csv"

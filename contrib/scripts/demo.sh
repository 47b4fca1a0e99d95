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
cleanup() {
    if [ -n "$plane_pid" ] && kill -0 "$plane_pid" 2>/dev/null; then
        kill -TERM "$plane_pid" 2>/dev/null || true
        wait "$plane_pid" 2>/dev/null || true
    fi
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
for _ in $(seq 1 300); do
    grep -q '^READY ' "$work/plane.out" 2>/dev/null && break
    kill -0 "$plane_pid" 2>/dev/null || { echo "privacy serve failed:" >&2; cat "$work/plane.err" >&2; exit 1; }
    sleep 0.1
done
plane="$(awk '/^READY /{print $2; exit}' "$work/plane.out")"
[ -n "$plane" ] || { echo "privacy serve did not become ready within 30 s" >&2; cat "$work/plane.err" >&2; exit 1; }
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
printf 'id,age,admitted\n1,34,2024-01-02\n2,57,2024-01-09\n' > "$work/plain/admissions.csv"
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

#!/usr/bin/env bash
# DeLong's main job on its embedded default, the local devnet:
#   contrib/scripts/demo.sh
# The whole story, narrated step by step, on the local devnet (nothing the devnet says is trusted):
# 1. the chain: the devnet with DataMarket and AlgorithmRegistry and demo activity; the light-client node
#    (`delong node sync`) verifies every header from the genesis checkpoint and indexes the DeLong events into
#    LevelDB; `delong chain verify-rpc` re-verifies every block in full and proves both contract accounts.
# 2. keys: the Privacy Plane (`delong privacy serve`); the provider signs in (SIWE), receives its dataset key
#    and seals its dataset; a development sandbox (INSECURE evidence: there is no TDX here) receives the same
#    key once per token.
# 3. as root (the Computing Plane's sandbox needs it): the provider records the sealed dataset and publishes
#    a desensitized sample; the consumer explores the sample in JupyterLab (a notebook cell through the
#    Jupyter API, behind the plane's proxy); publishes an algorithm and submits a Secure job; the Output Gate
#    flags a small cell, two reviewers approve; the consumer fetches the output, checks it against its own
#    light client and decrypts it with Debian's `age`; JobRecorded is indexed and an auditor runs
#    `delong audit job` from public data. Then a job that dumps rows is blocked, and a rental revoked
#    mid-job kills its job. It ends with each job's outcome and the audit verdict, and checks that no
#    process, mount or cgroup is left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

contrib/scripts/install-deps.sh >/dev/null
echo "== building delong (release)"
swift build -c release --product delong 2>&1 | tail -n 1

work="$(mktemp -d)"
# Traversable (not listable) by others: Explore's sandbox, as its own uid, binds the sample from inside it.
chmod 711 "$work"
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
    --create-root-secret --max-index-age 3600 --lease-seconds 6 --da "$work/da" --receipt-head-every 1 \
    >"$work/plane.out" 2>"$work/plane.err" &
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
echo "-- the provider's dataset: 240 admissions (synthetic), and its Output Gate policy, sealed with the data"
mkdir -p "$work/plain"
python3 - "$work/plain/admissions.csv" <<'PY'
import csv, random, sys
r = random.Random(7)
wards = ["General"] * 120 + ["Surgery"] * 80 + ["Cardiology"] * 37 + ["ICU"] * 3   # the ICU is a small cell
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "name", "age", "sex", "ward", "admitted", "stay_days"])
    for i, ward in enumerate(wards, 1):
        w.writerow([f"A-{i:04d}", f"{r.choice(['Ada','Ben','Chen','Dana','Eli','Fatima','Goran','Hana'])} "
                    f"{r.choice(['Okafor','Silva','Nakamura','Novak','Haddad','Larsen','Moreau','Ivanova'])}",
                    r.randint(18, 90), r.choice("FM"), ward, f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                    r.randint(1, 30)])
PY
head -n 3 "$work/plain/admissions.csv"
# Roles for the gate and the sampler (docs/output-gate.md, docs/sampling.md); hidden from jobs.
cat >"$work/plain/delong-policy.json" <<'JSON'
{"version": 1,
 "tables": {"admissions.csv": {"entity": "id",
   "columns": {"id": "key", "name": "direct_identifier", "age": "quasi_identifier", "sex": "quasi_identifier",
               "ward": "other", "admitted": "date", "stay_days": "sensitive"}}},
 "thresholds": {"minCellCount": 5, "k": 5}}
JSON
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

if [ "$(id -u)" -ne 0 ]; then
    echo "the Computing Plane's sandbox needs root (its own job uid, /out tmpfs, cgroups, FUSE): run the demo as root for the rest" >&2
    exit 0
fi
echo "== the Computing Plane (local backend: bubblewrap sandboxes, INSECURE development evidence)"
"$delong" runtime build --lock contrib/runtime/requirements.lock >/dev/null            # no-ops when built
"$delong" runtime build --explore --lock contrib/runtime/explore-requirements.lock >/dev/null
# The job and session cgroups on the host (cgroup v2, or v1's memory controller), to check none is left.
delong_cgroups() { find /sys/fs/cgroup/delong /sys/fs/cgroup/memory/delong -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort || true; }
delong_mounts() { { grep -E " ($work|/run/delong)" /proc/self/mounts || true; } | cut -d' ' -f2 | sort; }
cgroups_before="$(delong_cgroups)"
mounts_before="$(delong_mounts)"
# final_at BLOCK: the devnet mines only on transactions; two empty blocks make BLOCK final at depth 1, then
# wait until both planes' light clients see it final (tokens and sessions need final records).
final_at() {
    python3 - "$rpc" "$1" "$plane" "$work/plane/privacy/tls/cert.pem" "${compute:-}" "$work/compute/compute/tls/cert.pem" <<'PY'
import json, ssl, sys, time, urllib.request as u
rpc, block = sys.argv[1], int(sys.argv[2])
planes = [(sys.argv[i], sys.argv[i + 1]) for i in (3, 5) if sys.argv[i]]
u.urlopen(u.Request(rpc, data=b'{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":["0x2"]}',
                    headers={"Content-Type": "application/json"}))
for url, cert in planes:
    context = ssl.create_default_context(cafile=cert)
    for _ in range(300):
        if json.load(u.urlopen(url + "/v1/status", context=context))["final"] >= block:
            break
        time.sleep(0.1)
    else:
        sys.exit(f"{url} did not see block {block} final within 30 s")
PY
}
block_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["block"])' "$1"; }

echo "-- the provider puts the sealed dataset where the plane keeps sealed data and records its manifest digest on chain"
datasets="$work/datasets"
mkdir -p "$datasets"
cp -r "$work/sealed" "$datasets/${dataset#0x}"
manifest="0x$(sha256sum "$datasets/${dataset#0x}/manifest.dlsealed" | cut -d' ' -f1)"
contrib/contracts/call --rpc "$rpc" --deployment "$work/deployment.json" --as demoProviders:0 \
    DataMarket updateDataset "$dataset" "$manifest" 1000000000 delong-demo://samples/admissions delong-demo://meta/admissions.json
(umask 077; key_of computingOperator > "$work/operator.key")
"$delong" compute serve --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
    --data-dir "$work/compute" --finality 1 --listen 127.0.0.1:0 --operator-key "$work/operator.key" \
    --privacy-plane "$plane" --allow-insecure-plane-evidence --da "$work/da" --datasets "$datasets" \
    --insecure-dev-measurements "$measurements" >"$work/compute.out" 2>"$work/compute.err" &
compute_pid=$!
compute="$(ready_url compute "$compute_pid")"
echo "computing plane $compute"

echo "== Explore Mode: a desensitized sample in JupyterLab"
echo "-- the provider draws a k-anonymous sample (names dropped, ids pseudonymized, ages generalized) and publishes it"
"$delong" dataset sample "$work/plain" --policy "$work/plain/delong-policy.json" --out "$work/sample" --rows 120 \
    --seed 1 >/dev/null
head -n 3 "$work/sample/admissions.csv"
sample="$("$delong" dataset publish-sample "$work/sample" --dataset "$dataset" --da "$work/da" --rpc "$rpc" \
    --contracts "$work/deployment.json" --wallet-key "$work/provider.key" --json)"
echo "$sample"
final_at "$(block_of "$sample")"
export DELONG_HOME="$work/consumer-home"
echo "-- the consumer starts a session (an explore token from the Privacy Plane, spent once) and runs a notebook cell"
session="$("$delong" explore start --plane "$compute" "${trust[@]}" --session "$work/consumer.session" \
    --dataset "$dataset" --json)"
contrib/.venv/bin/python - "$session" "$work/compute/compute/tls/cert.pem" <<'PY'
# A consumer's own client of the Jupyter API, as a browser would use it: the one-time URL becomes the plane's
# session cookie; every request carries the plane's Origin; the kernel runs in the network-less sandbox.
import http.client, json, ssl, sys, urllib.parse, uuid
import websocket  # websocket-client, in contrib/.venv
answer, cert = json.loads(sys.argv[1]), sys.argv[2]
url = urllib.parse.urlsplit(answer["url"])
origin = f"{url.scheme}://{url.netloc}"
base = f"/explore/{answer['session']}/"
context = ssl.create_default_context(cafile=cert)
def request(method, path, body=None, cookie=None):
    c = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=60)
    headers = {"Origin": origin, "Content-Type": "application/json"}
    if cookie: headers["Cookie"] = cookie
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    return r, r.read()
r, _ = request("GET", url.path + "?" + url.query)
assert r.status == 302, f"sign-in: {r.status}"
cookie = r.getheader("Set-Cookie").split(";")[0]
r, body = request("POST", base + "api/kernels", {"name": "python3"}, cookie)
assert r.status == 201, f"kernel: {r.status} {body[:200]!r}"
kernel = json.loads(body)["id"]
ws = websocket.create_connection(f"wss://{url.netloc}{base}api/kernels/{kernel}/channels", timeout=120,
                                 sslopt={"context": context}, cookie=cookie, origin=origin)
code = """import pandas as pd
df = pd.read_csv("/data/admissions.csv")
print(f"the sample: {len(df)} rows, columns {list(df.columns)}")
print(df.groupby("ward").size().to_string())
import socket
print("network interfaces in the sandbox:", [name for _, name in socket.if_nameindex()])"""
msg = str(uuid.uuid4())
ws.send(json.dumps({"header": {"msg_id": msg, "username": "consumer", "session": str(uuid.uuid4()),
                               "msg_type": "execute_request", "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell",
                    "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                                "allow_stdin": False}}))
while True:
    m = json.loads(ws.recv())
    if m.get("parent_header", {}).get("msg_id") != msg:
        continue
    if m["msg_type"] == "stream":
        sys.stdout.write("   | " + m["content"]["text"].replace("\n", "\n   | ").rstrip("| ").rstrip() + "\n")
    if m["msg_type"] == "error":
        sys.exit(f"the cell failed: {m['content']['ename']}: {m['content']['evalue']}")
    if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
        break
ws.close()
request("DELETE", base + f"api/kernels/{kernel}", cookie=cookie)
PY
"$delong" explore stop "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["session"])' "$session")"

echo "== Secure Mode: jobs on the full data"
# publish NAME: packs $work/NAME (main.py), stores the bundle in the DA store and publishes its digests on chain.
publish() {
    local out
    out="$("$delong" bundle publish "$work/$1" --da "$work/da" --rpc "$rpc" --contracts "$work/deployment.json" \
        --wallet-key "$work/consumer.key" --json)"
    echo "$1: $out"
    final_at "$(block_of "$out")"
}
# submit NAME: submits the published algorithm NAME, its output sealed to the consumer's age key; prints the id.
submit() {
    "$delong" job submit --plane "$compute" "${trust[@]}" --session "$work/consumer.session" \
        --wallet-key "$work/consumer.key" --dataset "$dataset" --bundle "$work/$1" --recipient "$recipient" --timeout 180
}
# wait_for JOB PHASE…: waits (up to 3 minutes) until the job is in one of the phases or has ended; prints it.
wait_for() {
    local id="$1" state; shift
    for _ in $(seq 1 900); do
        state="$("$delong" job status "$id" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s.get("outcome") or s.get("phase"))')"
        for want in "$@" released gateBlocked reviewRejected 'killed*' 'refused*' 'exited*' 'infraError*'; do
            # shellcheck disable=SC2254
            case "$state" in $want) echo "$state"; return;; esac
        done
        sleep 0.2
    done
    echo "timeout"
}
mkdir -p "$work/by-ward" "$work/dump" "$work/long"
cat >"$work/by-ward/main.py" <<'PY'
import csv, collections
rows = list(csv.DictReader(open("/data/admissions.csv")))
ages = collections.defaultdict(list)
for r in rows:
    ages[r["ward"]].append(int(r["age"]))
with open("/out/by-ward.csv", "w") as f:
    f.write("ward,n,mean_age\n")
    for ward, a in sorted(ages.items()):
        f.write(f"{ward},{len(a)},{sum(a) / len(a):.1f}\n")
print("read", len(rows), "rows")
PY
cat >"$work/dump/main.py" <<'PY'
import shutil
shutil.copy("/data/admissions.csv", "/out/rows.csv")   # every row, out of the sandbox: the gate must block it
PY
cat >"$work/long/main.py" <<'PY'
import time
for i in range(600):   # a long analysis, reading the data through the Decrypt FUSE as it goes
    open("/data/admissions.csv").read()
    time.sleep(0.5)
open("/out/done.txt", "w").write("finished\n")
PY
publish by-ward
publish dump
publish long
echo "-- the consumer makes an age key and submits the job; the output will be sealed to that key"
"$delong" key new --out "$work/consumer-age.txt"
recipient="$("$delong" key recipient "$work/consumer-age.txt")"
by_ward="$(submit by-ward)"
state="$(wait_for "$by_ward" inReview)"
"$delong" job status "$by_ward"
[ "$state" = inReview ] || { echo "expected the job to wait for review, found $state" >&2; exit 1; }
echo "-- the Output Gate flagged the output (the ICU's 3 patients are a small cell): it waits for two reviewers"
echo "-- the provider names a second reviewer in its signed list, then both read the output and approve it"
(umask 077; contrib/.venv/bin/python -c 'import secrets; print("0x" + secrets.token_hex(32))' >"$work/reviewer.key")
reviewer="$(contrib/.venv/bin/python -c 'import sys; from eth_account import Account; print(Account.from_key(open(sys.argv[1]).read().strip()).address)' "$work/reviewer.key")"
"$delong" review reviewers --dataset "$dataset" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" \
    --reviewer "$reviewer" --required 2
"$delong" review show "$by_ward" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" -o "$work/review"
cat "$work/review/out/by-ward.csv"
"$delong" review approve "$by_ward" --plane "$compute" "${trust[@]}" --wallet-key "$work/provider.key" \
    --reason "ward sizes are public; the ICU mean is coarse enough"
"$delong" review approve "$by_ward" --plane "$compute" "${trust[@]}" --wallet-key "$work/reviewer.key" \
    --reason "agreed"
"$delong" job status "$by_ward" --watch
echo "-- the consumer syncs its own light client, checks the output against it and the agent's signed record"
final_at "$(python3 - "$rpc" <<'PY'
import json, sys, urllib.request as u
r = u.Request(sys.argv[1], data=b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
              headers={"Content-Type": "application/json"})
print(int(json.load(u.urlopen(r))["result"], 16))
PY
)"
"$delong" node sync --rpc "$rpc" --contracts "$work/deployment.json" --checkpoint "0:$genesis" \
    --data-dir "$work/consumer-index" --finality 1 >/dev/null
"$delong" index job "$by_ward" --data-dir "$work/consumer-index"
"$delong" job fetch "$by_ward" -i "$work/consumer-age.txt" -o "$work/output" --data-dir "$work/consumer-index" \
    --sealed "$work/output.age"
echo "-- Debian's age opens the same ciphertext with the consumer's key; GNU tar lists it"
age -d -i "$work/consumer-age.txt" -o "$work/output.tar" "$work/output.age"
tar -tvf "$work/output.tar"
cat "$work/output/out/by-ward.csv"

echo "== an auditor, from public data only: the chain (its own light client), the DA store, the ciphertext"
set +e
"$delong" audit job "$by_ward" --data-dir "$work/consumer-index" --da "$work/da" --source "$work/by-ward" \
    --output "$work/output.age"
audit_status=$?
set -e
[ "$audit_status" -eq 0 ] || { echo "the audit failed (exit $audit_status)" >&2; exit 1; }

echo "== a job that dumps the rows"
dump="$(submit dump)"
wait_for "$dump" >/dev/null
"$delong" job status "$dump"

echo "== a rental revoked while its job runs"
long="$(submit long)"
state="$(wait_for "$long" executing)"
[ "$state" = executing ] || { echo "expected the long job to run, found $state" >&2; exit 1; }
consumer="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accounts"]["demoConsumers"][0])' "$work/deployment.json")"
echo "-- the provider revokes the consumer's rental on chain; the next lease renewal is refused and the job is killed"
contrib/contracts/call --rpc "$rpc" --deployment "$work/deployment.json" --as demoProviders:0 \
    DataMarket revokeRental "$dataset" "$consumer"
wait_for "$long" >/dev/null
"$delong" job status "$long"

outcome_of() { "$delong" job status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("outcome", "?"))'; }
outcomes=("by-ward (a small cell, reviewed)|$(outcome_of "$by_ward")|$by_ward"
          "dump (every row)|$(outcome_of "$dump")|$dump"
          "long (rental revoked)|$(outcome_of "$long")|$long")

echo "== stopping the planes and the devnet"
for pid in "$compute_pid" "$plane_pid" "$deploy_pid"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
compute_pid="" plane_pid="" deploy_pid=""
left_cgroups="$(comm -13 <(echo "$cgroups_before") <(delong_cgroups) | tr '\n' ' ')"
left_mounts="$(comm -13 <(echo "$mounts_before") <(delong_mounts) | tr '\n' ' ')"
left_processes="$(pgrep -f -- "$work" | tr '\n' ' ' || true)"

echo
echo "== the story's outcomes"
for row in "${outcomes[@]}"; do
    IFS='|' read -r name result id <<<"$row"
    printf '  %-32s %-18s %s\n' "$name" "$result" "$id"
done
echo "  audit of the reviewed job: every check passed (exit $audit_status)"
echo "  left behind: cgroups [${left_cgroups% }] mounts [${left_mounts% }] processes [${left_processes% }]"
expected=("released" "gateBlocked" "killed(revoked)")
for k in 0 1 2; do
    IFS='|' read -r name result _ <<<"${outcomes[$k]}"
    [ "$result" = "${expected[$k]}" ] || { echo "$name: expected ${expected[$k]}, found $result" >&2; exit 1; }
done
[ -z "${left_cgroups// }${left_mounts// }${left_processes// }" ] || { echo "something was left behind" >&2; exit 1; }

#!/usr/bin/env bash
# `delong dataset sample` benchmark: generates a synthetic dataset of ROWS people (accounts.csv, with name,
# email, birth date, postcode, balance, opened, memo, branch) plus about 2 × ROWS transactions keyed by
# account_id, then times the sample of DRAW entities (the default 1,000) and of every entity (a sample of
# ROWS rows). Prints wall seconds per run. Figures only: it never fails on a slow result; not run in CI.
#
# Usage (from any directory of a clone; builds the release `delong` it needs first):
#   contrib/benchmarks/sample-bench.sh
# Environment:
#   DELONG     path of a delong binary to use instead of building one (default: swift build -c release)
#   ROWS       people in accounts.csv (default: 1000000)
#   DRAW       entities of the first run (default: 1000)
#   BENCH_DIR  where to put the data (default: a new directory under $TMPDIR or /tmp, removed at the end)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ROWS="${ROWS:-1000000}"
DRAW="${DRAW:-1000}"
DELONG="${DELONG:-}"
if [ -z "$DELONG" ]; then
    (cd "$root" && swift build -c release --product delong >&2)
    DELONG="$root/.build/release/delong"
fi
own_dir=""
if [ -z "${BENCH_DIR:-}" ]; then
    BENCH_DIR="$(mktemp -d "${TMPDIR:-/tmp}/delong-sample-bench.XXXXXX")"
    own_dir="$BENCH_DIR"
fi
trap '[ -n "$own_dir" ] && rm -rf "$own_dir"' EXIT
data="$BENCH_DIR/data"
mkdir -p "$data"

python3 - "$data" "$ROWS" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
with open(f"{out}/accounts.csv", "w") as a, open(f"{out}/transactions.csv", "w") as t:
    a.write("account_id,name,email,birth_date,postcode,balance,opened,memo,branch\n")
    t.write("tx_id,account_id,amount,category,booked\n")
    tx = 0
    for i in range(n):
        acc = f"ACC{1000000 + i}"
        a.write(f'{acc},Person {i},p{i}@example.org,{rnd.randint(1940, 2004)}-{rnd.randint(1, 12):02d}-'
                f'{rnd.randint(1, 28):02d},{10000 + rnd.randrange(300) * 37},{rnd.randrange(200000)}.'
                f'{rnd.randrange(100):02d},{rnd.randint(2000, 2023)}-{rnd.randint(1, 12):02d}-15,'
                f'"note, ""{i}""",{rnd.choice("nsew")}\n')
        for _ in range(rnd.randint(1, 3)):
            tx += 1
            t.write(f"T{tx},{acc},{rnd.randint(-2500, 2500)},{rnd.choice(['food', 'rent', 'travel'])},"
                    f"20{rnd.randint(10, 23)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}\n")
policy = {"version": 1, "tables": {
    "accounts.csv": {"entity": "account_id", "columns": {"account_id": "key", "name": "direct_identifier",
        "email": "direct_identifier", "birth_date": "quasi_identifier", "postcode": "quasi_identifier",
        "balance": "sensitive", "opened": "date", "memo": "free_text", "branch": "other"}},
    "transactions.csv": {"entity": "account_id", "columns": {"tx_id": "key", "account_id": "key",
        "amount": "sensitive", "category": "quasi_identifier", "booked": "date"}}}}
json.dump(policy, open(f"{out}/delong-policy.json", "w"))
PY
echo "sample-bench: $ROWS people, $(($(wc -l < "$data/transactions.csv") - 1)) transactions, $(du -sh "$data" | cut -f1)"

run() {
    local label="$1"; shift
    rm -rf "$BENCH_DIR/out"
    local start end
    start=$(date +%s.%N)
    "$DELONG" dataset sample "$data" --policy "$data/delong-policy.json" --out "$BENCH_DIR/out" --seed 1 "$@" >/dev/null
    end=$(date +%s.%N)
    printf '%-28s %6.2f s  (rows out: %s)\n' "$label" "$(echo "$end - $start" | bc)" \
        "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(", ".join(t["name"] + " " + str(t["rowsOut"]) for t in r["tables"]))' "$BENCH_DIR/out/report.json")"
}
run "draw $DRAW entities" --rows "$DRAW"
run "draw all $ROWS entities" --rows "$ROWS"

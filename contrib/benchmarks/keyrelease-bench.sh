#!/usr/bin/env bash
# Key-release HTTP benchmark: one command from a clean clone. Builds the release `delong-bench` and runs its
# keyrelease-http mode: the Privacy Plane's own routes (the PrivacyPlaneHTTP library that `privacy serve`
# mounts) in a Hummingbird server on loopback inside the bench process, driven by keep-alive clients on raw
# SwiftNIO in the same process. Every release runs every check, including the full DCAP verification of a
# recorded TDX quote (the bench's TDX-costed evidence), and fsyncs its signed receipt before answering.
# Prints releases/s, p50 and p99 beside Hummingbird's hello route measured with the same client in the same
# run, the error count and the double-release count (released tokens replayed: each must be refused).
# Figures only: not run in CI; it exits non-zero only on errors or a double release, never on a slow figure.
#
# Usage: contrib/benchmarks/keyrelease-bench.sh
# Environment:
#   DURATION   seconds per timed run (default: 60)
#   CLIENTS    concurrent keep-alive connections (default: 64)
#   MAX_RATE   tokens minted per second of DURATION before the run (default: 8000); the run ends early,
#              and says so, if they run out
#   DELONG_TESTDATA  the shared test data (the recorded TDX quote and its collateral)
#   BENCH_LOG  where the plane's log (one info line per release, as served) goes (default: a temp file)
#   TLS        set to 1 to serve and drive both routes over TLS (as every listener serves by default; the
#              clients verify a fresh self-signed pair); the figures then include TLS record costs
#   PERF       set to 1 to record the run with `perf record -g` (perf.data in the current directory)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
DURATION="${DURATION:-60}"
CLIENTS="${CLIENTS:-64}"
MAX_RATE="${MAX_RATE:-8000}"

cd "$root"
swift build -c release --product delong-bench >&2
bench="$(swift build -c release --show-bin-path)/delong-bench"
log="${BENCH_LOG:-$(mktemp -t delong-keyrelease-bench.XXXXXX.log)}"
args=(keyrelease-http --duration "$DURATION" --clients "$CLIENTS" --max-rate "$MAX_RATE")
[ "${TLS:-0}" = 1 ] && args+=(--tls)
status=0
if [ "${PERF:-0}" = 1 ]; then
    perf record -g -o perf.data -- "$bench" "${args[@]}" 2>"$log" || status=$?
else
    "$bench" "${args[@]}" 2>"$log" || status=$?
fi
if [ "$status" -ne 0 ]; then
    echo "keyrelease-bench: the bench exited $status; the last lines of its log ($log):" >&2
    tail -5 "$log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# Object-storage read benchmark: one sealed file (default 64 MiB of random plaintext) read sequentially
#   (1) through the Decrypt FUSE over a read-only rclone mount of a local S3 store (moto),
#   (2) through the Decrypt FUSE over the same sealed tree on local disk,
#   (3) as ciphertext straight from the rclone mount (S3 transport alone, no decryption).
# Prints MB/s for each (median of ROUNDS, every mount fresh so the FUSE page cache is empty) and (1) as a
# fraction of (2). Figures only: it never fails on a slow result, and it is not run in CI.
#
# Usage (as root, from any directory of a clone, after contrib/references/venv.sh):
#   DELONG=/path/to/delong contrib/benchmarks/s3-read-bench.sh
# Without DELONG it builds the release delong first (swift build -c release --product delong).
# Needs rclone and fuse3 (contrib/scripts/install-deps.sh) and moto (contrib/references/.venv).
# Environment: DELONG, SIZE_MIB (default 64), ROUNDS (default 3), BENCH_DIR (default a new directory in /tmp).
#
# moto keeps objects in Python memory and serves them over one local HTTP connection per range read, so (3)
# is a floor for a real S3-compatible store, not an estimate of one; what carries over is the ratio of (1) to
# (3): the cost the Decrypt FUSE adds on top of whatever the store delivers.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SIZE_MIB="${SIZE_MIB:-64}"
ROUNDS="${ROUNDS:-3}"
DELONG="${DELONG:-}"
venv="$root/contrib/references/.venv"

need() { command -v "$1" >/dev/null 2>&1 || { echo "s3-read-bench: $1 is missing ($2)" >&2; exit 2; }; }
need rclone "apt-get install rclone (contrib/scripts/install-deps.sh)"
need fusermount3 "apt-get install fuse3"
[ -x "$venv/bin/moto_server" ] || { echo "s3-read-bench: run contrib/references/venv.sh first (moto)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "s3-read-bench: run as root (FUSE mounts)" >&2; exit 2; }
if [ -z "$DELONG" ]; then
    need swift "a Swift 6 toolchain"
    (cd "$root" && swift build -c release --product delong >&2)
    DELONG="$(cd "$root" && swift build -c release --show-bin-path)/delong"
fi

work="${BENCH_DIR:-$(mktemp -d /tmp/s3-read-bench.XXXXXX)}"
mkdir -p "$work"
moto_pid=""; rclone_pid=""
cleanup() {
    for m in "$work/clear-s3" "$work/clear-local" "$work/s3"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true; }
    done
    [ -n "$rclone_pid" ] && kill "$rclone_pid" 2>/dev/null || true
    [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null || true
    [ -z "${BENCH_DIR:-}" ] && rm -rf "$work"
}
trap cleanup EXIT

wait_mounted() {
    for _ in $(seq 1 300); do mountpoint -q "$1" && return 0; sleep 0.1; done
    echo "s3-read-bench: $1 did not mount" >&2; exit 3
}

mkdir -p "$work/plain" "$work/s3" "$work/clear-s3" "$work/clear-local"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$work/plain/data.bin"
head -c 32 /dev/urandom > "$work/key"; chmod 600 "$work/key"
"$DELONG" dataset seal "$work/plain" "$work/sealed" --dataset-id "0x$(printf '5e%.0s' $(seq 32))" \
    --key-file "$work/key" >/dev/null

"$venv/bin/moto_server" -H 127.0.0.1 -p 0 > "$work/moto.log" 2>&1 &
moto_pid=$!
port=""
for _ in $(seq 1 100); do
    port="$(grep -o 'Running on http://127.0.0.1:[0-9]*' "$work/moto.log" | grep -o '[0-9]*$' || true)"
    [ -n "$port" ] && break; sleep 0.1
done
[ -n "$port" ] || { echo "s3-read-bench: moto did not start" >&2; exit 3; }
endpoint="http://127.0.0.1:$port"
AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench "$venv/bin/python" - "$endpoint" "$work/sealed" <<'PY'
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
s3.create_bucket(Bucket="delong-bench")
for d, _, names in os.walk(sys.argv[2]):
    for n in names:
        p = os.path.join(d, n)
        s3.upload_file(p, "delong-bench", "ds/" + os.path.relpath(p, sys.argv[2]))
PY
printf '[moto]\ntype = s3\nprovider = Other\naccess_key_id = bench\nsecret_access_key = bench\nendpoint = %s\nregion = us-east-1\n' \
    "$endpoint" > "$work/rclone.conf"
chmod 600 "$work/rclone.conf"

mount_s3() {
    # Debian's rclone 1.60 fails on S3 with LoadCustomCABundleError when AWS_CA_BUNDLE is set.
    env -u AWS_CA_BUNDLE rclone --config "$work/rclone.conf" mount moto:delong-bench/ds "$work/s3" --read-only \
        > "$work/rclone.log" 2>&1 &
    rclone_pid=$!
    wait_mounted "$work/s3"
}
unmount_s3() { fusermount3 -u "$work/s3"; wait "$rclone_pid" 2>/dev/null || true; rclone_pid=""; }

seq_read() {  # $1: file → MB/s
    local start end
    start=$(date +%s.%N)
    dd if="$1" of=/dev/null bs=1M status=none
    end=$(date +%s.%N)
    python3 -c "print(f'{$SIZE_MIB*1048576/($end-$start)/1e6:.0f}')"
}
median() { python3 -c 'import sys,statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }

sealed_name="$(cd "$work/sealed" && find . -type f -size +$((SIZE_MIB / 2))M | head -1)"
cat "$work/sealed/$sealed_name" > /dev/null  # local ciphertext warm in the page cache, as in fuse-bench.sh
s3=(); local_=(); raw=()
for _ in $(seq 1 "$ROUNDS"); do
    mount_s3
    raw+=("$(seq_read "$work/s3/$sealed_name")")
    unmount_s3
    mount_s3
    "$DELONG" fs mount "$work/s3" "$work/clear-s3" --key-file "$work/key" >/dev/null 2>&1
    wait_mounted "$work/clear-s3"
    s3+=("$(seq_read "$work/clear-s3/data.bin")")
    cmp -s "$work/clear-s3/data.bin" "$work/plain/data.bin" || { echo "s3-read-bench: plaintext differs" >&2; exit 4; }
    fusermount3 -u "$work/clear-s3"
    unmount_s3
    "$DELONG" fs mount "$work/sealed" "$work/clear-local" --key-file "$work/key" >/dev/null 2>&1
    wait_mounted "$work/clear-local"
    local_+=("$(seq_read "$work/clear-local/data.bin")")
    fusermount3 -u "$work/clear-local"
done
m_s3="$(median "${s3[@]}")"; m_local="$(median "${local_[@]}")"; m_raw="$(median "${raw[@]}")"
echo "s3-read-bench: ${SIZE_MIB} MiB sealed file, sequential 1 MiB reads, median of $ROUNDS (MB/s; runs: s3 ${s3[*]} / local ${local_[*]} / raw ${raw[*]})"
printf '  %-52s %6s MB/s\n' "Decrypt FUSE over rclone mount of S3 (moto)" "$m_s3"
printf '  %-52s %6s MB/s\n' "Decrypt FUSE over local disk" "$m_local"
printf '  %-52s %6s MB/s\n' "ciphertext from the rclone mount (no decryption)" "$m_raw"
python3 -c "print(f'  S3 path / local path: {$m_s3/$m_local:.2f}; S3 path / raw S3: {$m_s3/$m_raw:.2f}')"

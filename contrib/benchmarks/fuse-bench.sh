#!/usr/bin/env bash
# Decrypt FUSE benchmark: one command, one run, the same 1 GiB plaintext read
#   (1) through `delong fs mount` (sealed format v1), (2) through gocryptfs, (3) from the raw file.
# Prints sequential MB/s and random 4 KiB reads/s for each, and each delong figure as a ratio of gocryptfs's
# figure from the same run (only same-run ratios mean anything on a shared VM). Figures only: it never fails
# on a slow result, and it is not run in CI.
#
# Usage (as root, from any directory of a clean clone; builds the release `delong` it needs first):
#   contrib/benchmarks/fuse-bench.sh
# Needs fio, gocryptfs and fuse3 (apt-get install fio gocryptfs fuse3) and a Swift toolchain.
# Environment:
#   DELONG       path of a delong binary to use instead of building one (default: swift build -c release)
#   BASELINE     path of another delong binary (say, an older build) measured on the same sealed tree in the
#                same run, as extra rows: before/after figures that share their noise
#   BENCH_DIR    where to put the 1 GiB files   (default: a new directory under $TMPDIR or /tmp)
#   CHUNK_SIZES  chunk sizes to seal and mount  (default: the format default; e.g. "4096 16384 65536")
#   RUNTIME      seconds per random-read test   (default: 8)
#   SIZE_MIB     plaintext size in MiB          (default: 1024)
#
#   ROUNDS       sequential runs per filesystem, reported as the median (default: 3)
#
# Method. Backing files (ciphertext, raw) are warm in the page cache for every test, so the figures compare
# the filesystems, not the disk. Each FUSE mount is freshly mounted before each test so the kernel's page
# cache for the mount is empty ("FUSE cold, backing warm"); this is the closest to a cache drop that works in a
# container (writing /proc/sys/vm/drop_caches is often refused). Sequential runs alternate between the
# filesystems and the median is reported, because on a VM filling fresh page-cache pages is noisy. Sequential: fio, one pass, 1 MiB buffered reads
# (the kernel turns them into 128 KiB FUSE requests). Random: fio, 4 KiB reads with O_DIRECT through the FUSE
# mounts (every read is a FUSE round trip; without it the kernel page cache answers repeats), buffered for
# the raw file (page-cache speed, the ceiling); 1 job and 4 jobs, queue depth 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
DELONG="${DELONG:-}"
RUNTIME="${RUNTIME:-8}"
SIZE_MIB="${SIZE_MIB:-1024}"
CHUNK_SIZES="${CHUNK_SIZES:-default}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "fuse-bench: $1 is missing ($2)" >&2; exit 2; }; }
need fio "apt-get install fio"
need gocryptfs "apt-get install gocryptfs (contrib/scripts/install-deps.sh)"
need fusermount3 "apt-get install fuse3"
need python3 "apt-get install python3"
[ "$(id -u)" -eq 0 ] || { echo "fuse-bench: run as root (mounts, allow_other)" >&2; exit 2; }
if [ -z "$DELONG" ]; then
    need swift "a Swift 6 toolchain"
    echo "fuse-bench: building the release delong (swift build -c release --product delong)" >&2
    (cd "$root" && swift build -c release --product delong >&2)
    DELONG="$(cd "$root" && swift build -c release --show-bin-path)/delong"
fi
[ -x "$DELONG" ] || { echo "fuse-bench: $DELONG is not an executable" >&2; exit 2; }

work="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fuse-bench.XXXXXX")}"
mkdir -p "$work"
mounts=()
cleanup() {
    for m in "${mounts[@]:-}"; do [ -n "$m" ] && mountpoint -q "$m" && fusermount3 -u "$m" 2>/dev/null || true; done
    [ -z "${BENCH_DIR:-}" ] && rm -rf "$work"
}
trap cleanup EXIT

plain="$work/plain"; mkdir -p "$plain"
echo "fuse-bench: creating ${SIZE_MIB} MiB of random plaintext in $work" >&2
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$plain/data.bin"
head -c 32 /dev/urandom > "$work/key"; chmod 600 "$work/key"
dataset_id="0x$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# fio result → number. $1: json file, $2: "iops" or "bw" (MB/s).
fio_value() {
    python3 - "$1" "$2" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"]
read_iops = sum(j["read"]["iops"] for j in job)
read_bw = sum(j["read"]["bw_bytes"] for j in job) / 1e6
print(f"{read_iops:.0f}" if sys.argv[2] == "iops" else f"{read_bw:.0f}")
PY
}

seq_read() {  # $1: file → MB/s
    fio --name=seq --filename="$1" --readonly --rw=read --bs=1M --ioengine=psync --size="${SIZE_MIB}M" \
        --invalidate=0 --output-format=json --output="$work/fio.json" >/dev/null
    fio_value "$work/fio.json" bw
}

rand_read() {  # $1: file, $2: direct (0/1), $3: jobs → reads/s
    fio --name=rand --filename="$1" --readonly --rw=randread --bs=4k --ioengine=psync --direct="$2" \
        --numjobs="$3" --group_reporting --size="${SIZE_MIB}M" --time_based --runtime="$RUNTIME" \
        --invalidate=0 --output-format=json --output="$work/fio.json" >/dev/null
    fio_value "$work/fio.json" iops
}

warm() { find "$1" -type f -exec cat {} + > /dev/null; }

wait_mounted() {
    for _ in $(seq 1 300); do mountpoint -q "$1" && return 0; sleep 0.1; done
    echo "fuse-bench: $1 did not mount" >&2; exit 3
}

ROUNDS="${ROUNDS:-3}"
median() { python3 -c 'import sys,statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }

# Every filesystem under test: a name, a mount command, an unmount command and the file to read.
names=(); mounters=(); files=()

for cs in $CHUNK_SIZES; do
    sealed="$work/sealed-$cs"; mnt="$work/mnt-delong-$cs"; mkdir -p "$mnt"; mounts+=("$mnt")
    cs_opt=(); [ "$cs" != default ] && cs_opt=(--chunk-size "$cs")
    start=$(date +%s.%N)
    "$DELONG" dataset seal "$plain" "$sealed" --dataset-id "$dataset_id" --key-file "$work/key" "${cs_opt[@]}" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "fuse-bench: delong seal, chunk $cs: $(python3 -c "print(f'{$SIZE_MIB*1048576/($end-$start)/1e6:.0f}')") MB/s (including writing and fsync)" >&2
    names+=("delong mount (chunk $cs)")
    mounters+=("\"$DELONG\" fs mount \"$sealed\" \"$mnt\" --key-file \"$work/key\" >/dev/null 2>&1; wait_mounted \"$mnt\"")
    files+=("$mnt/data.bin")
    if [ -n "${BASELINE:-}" ]; then
        bmnt="$work/mnt-baseline-$cs"; mkdir -p "$bmnt"; mounts+=("$bmnt")
        names+=("baseline delong (chunk $cs)")
        mounters+=("\"$BASELINE\" fs mount \"$sealed\" \"$bmnt\" --key-file \"$work/key\" >/dev/null 2>&1; wait_mounted \"$bmnt\"")
        files+=("$bmnt/data.bin")
    fi
done

cipher="$work/gocryptfs-cipher"; gmnt="$work/mnt-gocryptfs"; mkdir -p "$cipher" "$gmnt"; mounts+=("$gmnt")
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/password"
gocryptfs -q -init -passfile "$work/password" "$cipher" >/dev/null 2>&1
gmount="gocryptfs -q -nosyslog -passfile \"$work/password\" \"$cipher\" \"$gmnt\" >/dev/null 2>&1; wait_mounted \"$gmnt\""
eval "$gmount"; cp "$plain/data.bin" "$gmnt/data.bin"; fusermount3 -u "$gmnt"
names+=("gocryptfs $(gocryptfs -version 2>/dev/null | awk '{print $2}' | tr -d ';')")
mounters+=("$gmount"); files+=("$gmnt/data.bin")

names+=("raw file (page cache, buffered)"); mounters+=(":"); files+=("$plain/data.bin")

warm "$work"
declare -A seq r1 r4
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!names[@]}"; do
        mnt="$(dirname "${files[$i]}")"; is_fuse=1; [ "${mounters[$i]}" = ":" ] && is_fuse=0
        eval "${mounters[$i]}"; seq[$i]+="$(seq_read "${files[$i]}") "; [ $is_fuse = 1 ] && fusermount3 -u "$mnt"
        if [ "$round" = 1 ]; then
            eval "${mounters[$i]}"; r1[$i]=$(rand_read "${files[$i]}" $is_fuse 1); [ $is_fuse = 1 ] && fusermount3 -u "$mnt"
            eval "${mounters[$i]}"; r4[$i]=$(rand_read "${files[$i]}" $is_fuse 4); [ $is_fuse = 1 ] && fusermount3 -u "$mnt"
        fi
    done
    echo "fuse-bench: round $round of $ROUNDS done" >&2
done

# The gocryptfs row is the reference: every row also shows its figures as a multiple of gocryptfs's.
g=$(( ${#names[@]} - 2 ))
# shellcheck disable=SC2086
gseq=$(median ${seq[$g]})
ratio() { python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f"{a / b:.2f}x" if b > 0 else "n/a")' "$1" "$2"; }
results=()
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    s=$(median ${seq[$i]})
    results+=("$(printf '%-34s %10s %7s %12s %7s %12s %7s   (seq runs: %s)' "${names[$i]}" \
        "$s" "$(ratio "$s" "$gseq")" "${r1[$i]}" "$(ratio "${r1[$i]}" "${r1[$g]}")" \
        "${r4[$i]}" "$(ratio "${r4[$i]}" "${r4[$g]}")" "${seq[$i]% }")")
done

echo
printf '%-34s %10s %7s %12s %7s %12s %7s\n' "${SIZE_MIB} MiB file" "seq MB/s" "/gcfs" "4K rd/s x1" "/gcfs" "4K rd/s x4" "/gcfs"
printf '%s\n' "${results[@]}"

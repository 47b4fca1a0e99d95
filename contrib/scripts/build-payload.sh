#!/usr/bin/env bash
# Builds the runner payload reproducibly (docs/payload.md): a release delong with the Swift runtime linked in and
# this checkout's path mapped away, the pinned .debs of contrib/payload/debs.lock, and the job runtime, written by
# `delong payload build` as one canonical tar.
#
#   contrib/scripts/build-payload.sh OUT [RUNTIME]      # RUNTIME defaults to /opt/delong/runtime
#
# It builds the committed tree (git archive HEAD, with this checkout's Package.resolved) at one fixed path,
# $DELONG_PAYLOAD_DIR (default /var/tmp/delong-payload), so where the checkout lives cannot reach the binary:
# Swift 6.3.1 writes the length of the unmapped source path into a runtime call (2 bytes of .text), which the
# prefix map does not cover. It takes 10+ minutes of two cores from clean; hold the machine's build lock around
# it where builds are shared.
set -euo pipefail

out=${1:?usage: build-payload.sh OUT [RUNTIME]}
runtime=${2:-/opt/delong/runtime}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
checkout=$(cd "$(dirname "$0")/../.." && pwd -P)
work=${DELONG_PAYLOAD_DIR:-/var/tmp/delong-payload}
root="$work/src"
rm -rf "$root"
mkdir -p "$root"
git -C "$checkout" archive HEAD | tar -x -C "$root"
[ -f "$checkout/Package.resolved" ] && cp "$checkout/Package.resolved" "$root/"
cd "$root"

# Nothing of the build's time, place or user may reach the binary:
# - every path under this checkout (sources, the scratch path and its package checkouts) is written as /delong,
#   in Swift (-file-prefix-map, which takes its value as the next argument, covers debug info, #file/#filePath and
#   coverage) and in C (-ffile-prefix-map);
# - SOURCE_DATE_EPOCH=0 for any tool that stamps a time; LC_ALL=C, TZ=UTC and umask 022 for the rest;
# - the linker's build-id is a hash of the output (sha1), so it follows the content, never a random value;
# - no .swift_modhash section (-disable-incremental-llvm-codegen): it holds an MD5 of each LLVM module, which
#   names the unmapped source path, so it differed between two checkouts;
# - no debug sections (--strip-debug): their strings came out in a different order from two checkouts;
# - --static-swift-stdlib links the Swift runtime and Foundation in, so the payload does not depend on the
#   toolchain's shared libraries (the remaining shared libraries are Debian's: see debs.lock).
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
umask 022
scratch="$work/.build-payload"
swift build -c release --product delong --scratch-path "$scratch" --static-swift-stdlib \
    -Xswiftc -file-prefix-map -Xswiftc "$work=/delong" \
    -Xcc "-ffile-prefix-map=$work=/delong" \
    -Xswiftc -Xfrontend -Xswiftc -disable-incremental-llvm-codegen \
    -Xlinker --strip-debug \
    -Xlinker --build-id=sha1
delong="$scratch/release/delong"

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
pins=()
while read -r name version _; do
    pins+=("$name=$version")
done < <(grep -v '^[[:space:]]*\(#\|$\)' contrib/payload/debs.lock)
(cd "$debs" && apt-get download -q "${pins[@]}" >&2)

"$delong" payload build --delong "$delong" --runtime "$runtime" --debs "$debs" \
    --lock contrib/payload/debs.lock --out "$out"

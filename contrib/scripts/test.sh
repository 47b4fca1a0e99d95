#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh Debian 12 machine with Swift installed:
#   contrib/scripts/test.sh
# 1. system packages (contrib/scripts/install-deps.sh), 2. the shared test data checked against its
# manifests, 3. the contrib Python venv (devnet, web3.py, eth-account, py-evm as test references),
# 4. format lint, 5. a warnings-as-errors build, 6. the job runtime venv (/opt/delong/runtime, from
# contrib/runtime/requirements.lock), 7. swift test (the JupyterLab and Chromium suites last), 8. the Python suites of the devnet and contracts
# (web3.py as an independent client).
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n== %s\n' "$*"; }

step "system packages"
contrib/scripts/install-deps.sh

step "shared test data"
testdata="${DELONG_TESTDATA:-../shared/testdata}"
if [ ! -d "$testdata/chain" ]; then
    echo "DeLong test data not found at $testdata." >&2
    echo "Put it beside the package as ../shared/testdata, set DELONG_TESTDATA, or fetch it from its public" >&2
    echo "origins: contrib/scripts/fetch-testdata.py fetch MANIFEST_DIR DEST (see the script's help)." >&2
    exit 1
fi
python3 contrib/scripts/fetch-testdata.py verify "$testdata" | tail -n 1

step "Python venv for contrib tools and test references (contrib/.venv)"
contrib/python/venv.sh

step "reference venv (contrib/references/.venv: pycanon, pandas for the sample tests; moto, boto3 for the S3 tests)"
contrib/references/venv.sh

step "format (swift format lint --strict)"
swift format lint --strict -r Package.swift Node Chain Planes Tests contrib/benchmarks

step "build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error

step "job and explore runtimes (delong runtime build [--explore]: wheels fetched once, a no-op when built from this lock)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO .build/debug/delong runtime build --lock contrib/runtime/requirements.lock
$SUDO .build/debug/delong runtime build --explore --lock contrib/runtime/explore-requirements.lock

# The suites that start JupyterLab or Chromium run after the rest, when the machine is theirs: on two cores
# beside 120 parallel suites a Lab took minutes to start. Their names are one pattern for both runs
# (GuidesTests runs the guides' story, an Explore session included).
browser_suites='\.(ExploreTests|ExploreSandboxTests|ExploreProxyTests|ReviewUITests|GuidesTests)/'
step "swift test (all suites but those with JupyterLab or Chromium, in parallel)"
swift test --skip-build --skip "$browser_suites"

step "swift test (the JupyterLab and Chromium suites)"
swift test --skip-build --filter "$browser_suites"

step "devnet and contracts (pytest, web3.py)"
contrib/python/test.sh

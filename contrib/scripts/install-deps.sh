#!/usr/bin/env bash
# Installs the Debian 12 system packages DeLong builds, tests and benchmarks with.
# Idempotent: packages already present are left as they are; apt lists are refreshed once.
set -euo pipefail

packages=(
    libsecp256k1-dev   # wallets, tokens, Clique seals (ChainCore via CSecp256k1)
    libleveldb-dev     # the chain index (ChainIndex via CLevelDB)
    libfuse3-dev fuse3 # the Decrypt FUSE (CFuse3)
    libssl-dev openssl # AES-GCM, HKDF, X25519, digests (PlaneCrypto via COpenSSL); `openssl` for references
    bubblewrap         # Secure Mode sandbox
    libseccomp-dev     # the sandbox's seccomp filter (ComputingPlane via CSeccomp)
    python3-venv       # contrib tools (devnet, contracts, reference implementations in tests)
    python3-pip        # installs the job runtime's locked wheels (delong runtime build)
    gocryptfs          # reference in the FUSE benchmark
    time bc            # the sync benchmark (CPU time, arithmetic)
    fio                # random-read driver of the FUSE benchmark
    python3-cryptography # independent AES-GCM reader of the sealed format in tests
    python3-yaml       # reads contrib/dstack's docker-compose.yml in its test (an independent YAML parser)
    age                # reference age v1 (age, age-keygen): interoperability of released-output sealing
    zlib1g-dev libbz2-dev # the Output Gate's bounded decompressors (CCompression)
    libzstd-dev        # ZSTD pages of Parquet tables (CCompression)
    tesseract-ocr      # the Output Gate's OCR of images, run in a sandbox
    chromium chromium-driver # the review page's and Explore Mode's browser tests (selenium drives the system Chromium)
    libnss3-tools      # certutil: the browser tests' Chromium trusts a test CA through its NSS database
    rclone             # mounts an S3 bucket read-only under the Decrypt FUSE (object-storage tests)
    pkg-config
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all system packages present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env python3
"""Independent reader of DeLong sealed format v1 (differential check of the Swift/OpenSSL implementation).

Uses only Python's `cryptography` package (its own AES-GCM and HKDF) and hashlib; it shares no code with
the Swift implementation. Usage: reference_v1.py SEALED_DIR KEY_HEX
Prints JSON: {"manifest_digest": hex, "dataset_id": hex, "entries": [{"path", "kind", "size", "sha256"}]}.
Exits 1 with a message on any authentication or format failure.
"""
import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HEADER = 96
TAG = 16


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def open_sealed(path, dek, expected_kind):
    data = open(path, "rb").read()
    header = data[:HEADER]
    if len(header) != HEADER or header[:8] != b"DLSEALED":
        fail(f"{path}: bad magic")
    version, kind, reserved, chunk, length, key_version, reserved2 = struct.unpack(">HBBIQII", header[8:32])
    dataset_id, file_id = header[32:64], header[64:96]
    if version != 1 or kind != expected_kind or reserved or reserved2:
        fail(f"{path}: bad header")
    count = max(1, -(-length // chunk))
    if len(data) != HEADER + count * TAG + length:
        fail(f"{path}: wrong length")
    label = b"file" if kind == 0 else b"manifest"
    info = b"delong/sealed/v1/" + label + dataset_id + struct.pack(">I", key_version)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id, info=info).derive(dek)
    aead = AESGCM(key)
    out = bytearray()
    for i in range(count):
        plain_len = min(chunk, length - i * chunk)
        start = HEADER + i * (chunk + TAG)
        sealed = data[start:start + plain_len + TAG]
        nonce = b"\0\0\0\0" + struct.pack(">Q", i)
        aad = header + struct.pack(">QB", i, 1 if i == count - 1 else 0)
        try:
            out += aead.decrypt(nonce, sealed, aad)
        except Exception:
            fail(f"{path}: chunk {i} failed authentication")
    return header, bytes(out), hashlib.sha256(data).hexdigest()


def main():
    root, key_hex = sys.argv[1], sys.argv[2]
    dek = bytes.fromhex(key_hex.removeprefix("0x"))
    header, manifest, digest = open_sealed(os.path.join(root, "manifest.dlsealed"), dek, 1)
    if manifest[:8] != b"DLMANIF1":
        fail("manifest: bad magic")
    (count,) = struct.unpack(">I", manifest[8:12])
    pos, entries = 12, []
    for _ in range(count):
        kind = manifest[pos]
        (plen,) = struct.unpack(">H", manifest[pos + 1:pos + 3])
        path = manifest[pos + 3:pos + 3 + plen].decode()
        pos += 3 + plen
        if kind == 1:
            entries.append({"path": path, "kind": "directory"})
            continue
        file_id = manifest[pos:pos + 32]
        (size,) = struct.unpack(">Q", manifest[pos + 32:pos + 40])
        sha = manifest[pos + 40:pos + 72]
        pos += 72
        hexid = file_id.hex()
        fheader, plain, _ = open_sealed(os.path.join(root, "objects", hexid[:2], hexid), dek, 0)
        if fheader[64:96] != file_id or fheader[32:64] != header[32:64] or len(plain) != size:
            fail(f"{path}: header disagrees with the manifest")
        if hashlib.sha256(plain).digest() != sha:
            fail(f"{path}: digest disagrees with the manifest")
        entries.append({"path": path, "kind": "file", "size": size, "sha256": sha.hex()})
    print(json.dumps({"manifest_digest": digest, "dataset_id": header[32:64].hex(), "entries": entries}))


main()

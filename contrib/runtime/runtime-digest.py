#!/usr/bin/env python3
"""Reference implementation of the DeLong runtime digest (docs/runtime.md), for auditors and tests.

    runtime-digest.py VENV            prints sha256:<64 hex>
    runtime-digest.py VENV --listing  writes the canonical listing's bytes to stdout

Written from the format's description, independently of the Swift code (Planes/PlaneProtocol/Runtime).
Standard library only; the interpreter's Debian package comes from dpkg-query.
"""
import hashlib
import os
import stat
import subprocess
import sys


def debian_owner(path):
    try:
        found = subprocess.run(["dpkg-query", "-S", path], capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return "-", "-"
    for line in found.splitlines():
        if line.endswith(": " + path) and "," not in line.split(":")[0]:
            package = line.split(":")[0]
            try:
                version = subprocess.run(
                    ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, check=True
                ).stdout.decode().strip()
            except (OSError, subprocess.CalledProcessError):
                version = ""
            return package, version or "-"
    return "-", "-"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def listing(venv):
    venv = os.path.realpath(venv)
    interpreter = os.path.realpath(os.path.join(venv, "bin", "python3"))
    package, version = debian_owner(interpreter)
    out = [b"delong/runtime/v1", b"interpreter", sha256_file(interpreter).encode(), package.encode(), version.encode()]
    entries = []
    root = os.fsencode(venv)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            mode = b"%04o" % (st.st_mode & 0o7777)
            if stat.S_ISDIR(st.st_mode):
                entries.append([rel, b"d", mode, b"0", b""])
            elif stat.S_ISREG(st.st_mode):
                entries.append([rel, b"f", mode, b"%d" % st.st_size, sha256_file(full).encode()])
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                entries.append([rel, b"l", mode, b"%d" % len(target), target])
            else:
                sys.exit("%s: a device, FIFO or socket" % os.fsdecode(rel))
    for entry in sorted(entries, key=lambda e: e[0]):
        out.extend(entry)
    return b"".join(field + b"\0" for field in out)


if __name__ == "__main__":
    data = listing(sys.argv[1])
    if "--listing" in sys.argv[2:]:
        sys.stdout.buffer.write(data)
    else:
        print("sha256:" + hashlib.sha256(data).hexdigest())

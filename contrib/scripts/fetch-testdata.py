#!/usr/bin/env python3
"""Fetch DeLong's shared test data from its public origins, or check a copy against its manifests.

Every folder of the test data has a MANIFEST.md naming, for each file, the origin repository, commit and
path, and the file's sha256. This script reads those manifests (they are the only input it needs):

    fetch-testdata.py fetch MANIFEST_DIR DEST   # download every byte-for-byte file, check its sha256
    fetch-testdata.py verify DIR                # check every file under DIR against the manifests there

MANIFEST_DIR holds the MANIFEST.md files laid out as in the test data (chain/MANIFEST.md,
attestation/MANIFEST.md); DEST may be the same directory. Rows marked DERIVED were computed from their
origin (for example a TypeScript literal evaluated to JSON) and cannot be downloaded byte-for-byte: they are
listed at the end, with their origin, for you to reproduce or copy. Exit status: 0 all good, 1 a mismatch
or a failed download, 2 bad usage.
"""
import hashlib
import pathlib
import re
import sys
import urllib.request

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def parse_manifest(manifest: pathlib.Path):
    """Yields (relative_file, repo, commit, origin_path, sha256, derived) for each file row."""
    text = manifest.read_text()
    # chain/MANIFEST.md: a table `| dir/ | owner/repo | `commit` |`, then sections `## dir/`.
    origins = {}
    for m in re.finditer(r"^\| `?([\w./-]+/)`? \| ([\w.-]+/[\w.-]+|\(computed[^|]*\)) \| `?([0-9a-f]{40}|-)`? \|", text, re.M):
        origins[m.group(1)] = (m.group(2), m.group(3))
    section, repo, commit = "", None, None
    for line in text.splitlines():
        header = re.match(r"^## (.+?)\s*$", line)
        if header:
            title = header.group(1)
            # attestation/MANIFEST.md: `## dir — owner/repo @ commit`
            m = re.match(r"([\w.-]+) — ([\w.-]+/[\w.-]+) @ ([0-9a-f]{40})", title)
            if m:
                section, repo, commit = m.group(1) + "/", m.group(2), m.group(3)
            else:
                first = title.split()[0]
                section = first if first.endswith("/") else first + "/"
                repo, commit = origins.get(section, (None, None))
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.startswith("|"):
            continue
        name, origin, digest = cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`")
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            continue
        derived = "DERIVED" in origin or "derived" in origin or origin.startswith("(") or repo is None
        path = re.sub(r"\s*\(DERIVED\)\s*$", "", origin)
        yield section + name, repo, commit, path, digest, derived


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv):
    if len(argv) < 3 or argv[1] not in ("fetch", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, root = argv[1], pathlib.Path(argv[2])
    dest = pathlib.Path(argv[3]) if mode == "fetch" and len(argv) > 3 else root
    manifests = sorted(root.glob("*/MANIFEST.md"))
    if not manifests:
        print(f"no */MANIFEST.md under {root}", file=sys.stderr)
        return 2
    failures, checked, derived_rows = 0, 0, []
    for manifest in manifests:
        base = manifest.parent.name
        for rel, repo, commit, origin, digest, derived in parse_manifest(manifest):
            target = dest / base / rel
            if mode == "fetch" and not derived and not target.exists():
                url = RAW.format(repo=repo, commit=commit, path=origin)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with urllib.request.urlopen(url, timeout=60) as r, open(str(target) + ".part", "wb") as out:
                        out.write(r.read())
                    pathlib.Path(str(target) + ".part").rename(target)
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    print(f"FAIL fetch {base}/{rel} from {url}: {e}")
                    failures += 1
                    continue
            if not target.exists():
                if derived:
                    derived_rows.append(f"{base}/{rel} (from {repo or '-'} {origin})")
                else:
                    print(f"MISSING {base}/{rel}")
                    failures += 1
                continue
            actual = sha256(target)
            checked += 1
            if actual != digest:
                print(f"MISMATCH {base}/{rel}: expected sha256 {digest}, found {actual}")
                failures += 1
    if derived_rows:
        print("derived files to reproduce from their origin (not downloadable byte-for-byte):")
        for row in derived_rows:
            print("  " + row)
    print(f"{checked} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

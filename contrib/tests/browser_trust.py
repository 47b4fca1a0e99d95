"""Trust for the browser tests: Chromium trusts the plane's test CA through an NSS database in a private HOME
(certutil from libnss3-tools), exactly as a user's trust store would; no certificate error is ever ignored."""

import os
import subprocess


def trust_ca(home, ca):
    """Makes HOME/.pki/nssdb trust CA (PEM) for TLS servers, and points HOME at it for Chromium."""
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db, exist_ok=True)
    if not os.path.exists(os.path.join(db, "cert9.db")):
        subprocess.run(["certutil", "-N", "-d", "sql:" + db, "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", "sql:" + db, "-t", "C,,", "-n", "DeLong test CA", "-i", ca],
        check=True,
        capture_output=True,
    )
    os.environ["HOME"] = home

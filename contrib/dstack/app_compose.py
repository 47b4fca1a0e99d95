"""Writes contrib/dstack/app-compose.json from docker-compose.yml and prints its compose hash.

dstack measures an app by its app-compose.json: the compose hash is sha256 of that file's exact bytes
(dstack-util system_setup.rs sha256_file; not of re-normalized JSON), extended into RTMR3 at boot and checked by
the KMS against the app's DstackApp contract (allowedComposeHashes) before it derives the app's keys. The JSON is
written the way dstack's vmm-cli.py `compose` writes it (json.dumps indent=4, ensure_ascii=False), with the
compose file's text verbatim in docker_compose_file, so the bytes uploaded are the bytes hashed here.

Usage: python3 app_compose.py [--check]
  prints "compose_hash <64 hex>"; with --check, writes nothing and exits 1 when the committed
  app-compose.json is not what this script writes (docker-compose.yml or the fields changed).
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The names dstack lets the operator's encrypted environment carry: nothing that decides what the plane trusts.
ALLOWED_ENVS = ["DELONG_RPC", "DELONG_DOMAIN", "DELONG_SIGNING_KEY", "DELONG_LISTEN"]


def app_compose(compose_text):
    return {
        "manifest_version": 2,
        "name": "delong-privacy-plane",
        "runner": "docker-compose",
        "docker_compose_file": compose_text,
        "kms_enabled": True,
        "gateway_enabled": True,
        "local_key_provider_enabled": False,
        "key_provider": "kms",
        "key_provider_id": "",
        "public_logs": False,
        "public_sysinfo": True,
        "public_tcbinfo": True,
        "allowed_envs": ALLOWED_ENVS,
        "no_instance_id": False,
        "secure_time": True,
    }


def main():
    with open(os.path.join(HERE, "docker-compose.yml"), encoding="utf-8") as f:
        compose_text = f.read()
    data = json.dumps(app_compose(compose_text), indent=4, ensure_ascii=False).encode("utf-8")
    target = os.path.join(HERE, "app-compose.json")
    if "--check" in sys.argv[1:]:
        with open(target, "rb") as f:
            committed = f.read()
        if committed != data:
            print("app-compose.json is not what app_compose.py writes: run python3 contrib/dstack/app_compose.py",
                  file=sys.stderr)
            return 1
    else:
        with open(target, "wb") as f:
            f.write(data)
    print("compose_hash " + hashlib.sha256(data).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())

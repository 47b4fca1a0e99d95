"""Compile the Vyper contracts into artifacts/<Name>.json (ABI, bytecode, runtime, storage layout).

Used by ./build and by the staleness test, which compiles into a temp dir and compares.
Target EVM: london, the oldest fork the devnet runs, so one artifact deploys on every fork
(no PUSH0/MCOPY/transient storage).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import vyper
from vyper.compiler.settings import Settings

HERE = Path(__file__).resolve().parent
CONTRACTS = ("DataMarket", "AlgorithmRegistry")
EVM_VERSION = "london"


def compile_contract(name: str) -> dict:
    source = (HERE / f"{name}.vy").read_text()
    out = vyper.compile_code(source, contract_path=f"{name}.vy",
                             output_formats=["abi", "bytecode", "bytecode_runtime", "layout"],
                             settings=Settings(evm_version=EVM_VERSION))
    return {
        "contractName": name,
        "source": f"{name}.vy",
        "sourceSha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": f"vyper {vyper.__version__}",
        "evmVersion": EVM_VERSION,
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "runtimeBytecode": out["bytecode_runtime"],
        "storageLayout": out["layout"],
    }


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def build(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONTRACTS:
        path = out_dir / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(render(compile_contract(name)))
        tmp.replace(path)  # atomic: a reader never sees half an artifact
        written.append(path)
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description="Recompile DeLong's contracts into JSON artifacts.")
    ap.add_argument("--out", type=Path, default=HERE / "artifacts", help="output dir (default: artifacts/)")
    args = ap.parse_args()
    for path in build(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate gen/ from protos/: messages, gRPC stubs and .pyi type stubs.

Usage: python scripts/gen_protos.py [--check] [--image OUT [--root DIR]]

`--check` regenerates into a temporary folder and fails when gen/ differs from it (CI).
`--image OUT` writes a descriptor-set image of the protos under DIR (default protos/) for
buf lint and buf breaking, which cannot resolve the google/api imports themselves.
Imports of google/api/*.proto resolve from the installed googleapis-common-protos package
and google/protobuf/*.proto from grpcio-tools; no third-party proto is copied here.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"
PACKAGE_INITS = {
    "trademesh/__init__.py": '"""Generated code for the trademesh.v1 contracts (see protos/)."""\n',
    "trademesh/v1/__init__.py": (
        '"""Generated from protos/trademesh/v1; regenerate with scripts/gen_protos.py."""\n'
    ),
    "trademesh/py.typed": "",
}


def include_paths(root: Path = PROTOS) -> list[str]:
    import google.api
    import grpc_tools

    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(next(iter(grpc_tools.__path__))) / "_proto"
    return [str(root), str(googleapis), str(well_known)]


def plugin(name: str) -> str:
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install the dev extras (pip install -e '.[dev]')")
    return path


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        *(f"-I{p}" for p in include_paths()),
        f"--plugin=protoc-gen-mypy={plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    from grpc_tools import protoc

    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for rel, text in PACKAGE_INITS.items():
        (out / rel).write_text(text)


def build_image(out: Path, root: Path) -> None:
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(root)) for p in root.rglob("*.proto"))
    args = ["grpc_tools.protoc", *(f"-I{p}" for p in include_paths(root))]
    args += ["--include_imports", "--include_source_info", f"-o{out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def differences(a: Path, b: Path) -> list[str]:
    files_a, files_b = _files(a), _files(b)
    diff = sorted(files_a ^ files_b)
    diff += [f for f in sorted(files_a & files_b) if not filecmp.cmp(a / f, b / f, shallow=False)]
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when gen/ is stale")
    parser.add_argument("--image", type=Path, help="write a descriptor-set image here")
    parser.add_argument("--root", type=Path, default=PROTOS, help="proto root for --image")
    opts = parser.parse_args()
    if opts.image:
        build_image(opts.image.resolve(), opts.root.resolve())
        return
    check = opts.check
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        if check:
            stale = differences(GEN, fresh)
            if stale:
                print("gen/ is stale; run: python scripts/gen_protos.py", *stale, sep="\n  ")
                raise SystemExit(1)
            print("gen/ is up to date")
            return
        shutil.rmtree(GEN, ignore_errors=True)
        shutil.copytree(fresh, GEN)
        print(f"generated {sum(1 for _ in GEN.rglob('*.py*'))} files into gen/")


if __name__ == "__main__":
    main()

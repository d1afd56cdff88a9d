"""Benchmark against a peer: trademesh's core beside ``matching-engine`` and a bare book.

    trademesh bench peers [-n 200000] [--python python3.12] [--venv DIR] [--interpreted-only]

``matching-engine==0.1.1`` (PyPI) needs Python 3.12, so this makes a virtual environment
with a 3.12 interpreter in a temporary directory (or ``--venv DIR``, kept and reused),
installs the peer and this source tree into it with pip (the core compiled by mypyc when
a C compiler is here, as any install), and runs :mod:`bench.peer_race` there twice: on
the compiled core and on the interpreted one. Nothing of the peer is kept in the
repository; the temporary environment is deleted afterwards.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PEER = "matching-engine==0.1.1"
ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "engine_svc", "bench", "mesh_runtime", "gen"]


def find_python(given: str | None) -> str:
    """A Python 3.12 interpreter: ``--python``, pyenv's, or ``python3.12`` on PATH."""
    candidates = [given] if given else [
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")),
                reverse=True),
        shutil.which("python3.12"),
    ]
    for candidate in candidates:
        if candidate and subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                capture_output=True).returncode == 0:
            return candidate
    sys.exit("bench peers: matching-engine needs Python 3.12; none found (--python PATH)")


def _copy_tree(into: Path) -> Path:
    """What the install needs, without the work tree's virtual environments and builds."""
    skip = shutil.ignore_patterns("*.so", "__pycache__", "build")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=skip)
        else:
            shutil.copy2(source, into / name)
    return into


def prepare(venv: Path, python: str) -> Path:
    """The venv's interpreter, with the peer and this tree installed (skipped when done)."""
    py = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, PEER, "mypy-extensions"], check=True)
        print(f"installing this tree into {venv} (mypyc compiles the core for "
              f"{Path(python).name}: a minute or more)", flush=True)
        with tempfile.TemporaryDirectory(prefix="trademesh-src-") as src:
            subprocess.run([*pip, "--no-deps", str(_copy_tree(Path(src)))], check=True)
        (venv / ".ready").touch()
    return py


def race(py: Path, n: int, interpreted: bool) -> None:
    build = ["-m", "engine_svc.core_build", "--interpreted"] if interpreted else []
    # run from a directory without the source tree, so the installed build is imported
    subprocess.run([str(py), *build, "-m", "bench.peer_race", "-n", str(n)],
                   check=True, cwd=tempfile.gettempdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="commands of order_flow(42)")
    parser.add_argument("--python", help="a Python 3.12 interpreter")
    parser.add_argument("--venv", type=Path, help="keep the environment here and reuse it")
    parser.add_argument("--interpreted-only", action="store_true")
    args = parser.parse_args()
    python = find_python(args.python)
    with tempfile.TemporaryDirectory(prefix="trademesh-peers-") as tmp:
        py = prepare(args.venv or Path(tmp) / "venv", python)
        if not args.interpreted_only:
            race(py, args.n, interpreted=False)
        race(py, args.n, interpreted=True)


if __name__ == "__main__":
    main()

"""Which build of the engine core runs here: compiled by mypyc, or interpreted.

The install compiles the modules listed in :data:`COMPILED_SOURCES` (the engine core and
the hot edge modules every order crosses) when a C compiler is present; the extension
modules sit beside their ``.py`` sources and Python's import system prefers them. This
module reports which one was imported (:func:`core_build`), finds compiled modules older
than their source or left by an older build (:func:`stale_modules`: an editable install
not rebuilt after an edit or a checkout), and can make a process import the sources
instead (:func:`use_interpreted_core`), which is how the differential test and the
benchmarks run the interpreted build beside the compiled one::

    python -m engine_svc.core_build --interpreted -m bench.bench_core -n 200000

It is not compiled itself, and imports nothing from the core at module level.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import os
import runpy
import shutil
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Final, Literal

CoreBuild = Literal["compiled", "interpreted"]

COMPILED_SOURCES: Final = (
    "engine_svc/core",              # the matching core: commands in, events out
    "engine_svc/decimal_edge.py",   # decimal text <-> grid units
    "engine_svc/request_codec.py",  # requests validated into commands
    "engine_svc/codec.py",          # answers rendered
    "engine_svc/command_codec.py",  # commands and events to journal / outbox JSON
    "engine_svc/outbox_span.py",    # a command's outbox records
    "engine_svc/order_views.py",    # the orders' read model, folded per command
    "engine_svc/event_codec.py",    # outbox records to the event link's messages
    "engine_svc/order_wire.py",     # streamed placements' answers as wire bytes
    "engine_svc/batch_scan.py",     # what the batch listeners read of every event
)
"""What ``setup.py`` hands to mypyc, relative to the project root: the core, and the
pure, fully typed modules every order crosses on its way in and out (compiling them cut
the engine's CPU per streamed order by about a sixth)."""

COMPILED_MODULES: Final = tuple(
    source.removesuffix(".py").replace("/", ".") for source in COMPILED_SOURCES)
"""The module names (or package prefixes) of :data:`COMPILED_SOURCES`."""

_ENGINE_DIR: Final = Path(__file__).resolve().parent
_ROOT: Final = _ENGINE_DIR.parent


def why_interpreted(environ: Mapping[str, str] | None = None) -> str | None:
    """Why an install here would leave the core interpreted, or None when it compiles.

    ``setup.py`` asks this at build time: ``TRADEMESH_PURE_PYTHON=1``, no C compiler
    (``$CC`` or the one Python was built with), or no ``Python.h``.
    """
    env = os.environ if environ is None else environ
    if env.get("TRADEMESH_PURE_PYTHON", "") not in ("", "0"):
        return "TRADEMESH_PURE_PYTHON is set"
    cc = (env.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    include = sysconfig.get_paths().get("include")
    if not include or not (Path(include) / "Python.h").exists():
        return "no Python.h (install the python3-dev headers)"
    return None


def _compilable(name: str) -> bool:
    """``name`` is one of :data:`COMPILED_MODULES` or inside one (not ``core_build``)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in COMPILED_MODULES)


def _is_compiled(module: ModuleType) -> bool:
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def core_build() -> CoreBuild:
    """"compiled" when the core's modules were imported from mypyc extension modules."""
    from engine_svc.core import engine

    return "compiled" if _is_compiled(engine) else "interpreted"


def compiled_available() -> bool:
    """True when extension modules of the core are installed (imported or not)."""
    return any((_ENGINE_DIR / "core").glob("engine.*" + ext)
               for ext in importlib.machinery.EXTENSION_SUFFIXES)


def stale_modules(root: Path = _ROOT) -> list[str]:
    """Sources (relative to ``root``) that an extension module shadows wrongly: compiled
    ones newer than their extension module, and ones no longer compiled that still have an
    extension module beside them (an older build's, which Python would import instead)."""
    sources = {path for entry in COMPILED_SOURCES for path in
               ([root / entry] if entry.endswith(".py") else (root / entry).glob("*.py"))}
    stale: set[Path] = set()
    for directory in {source.parent for source in sources}:
        for ext in importlib.machinery.EXTENSION_SUFFIXES:
            for built in directory.glob("*" + ext):
                source = built.with_name(built.name.removesuffix(ext) + ".py")
                if source in sources:
                    if built.stat().st_mtime < source.stat().st_mtime:
                        stale.add(source)
                elif source.exists():
                    stale.add(source)
    return sorted(str(source.relative_to(root)) for source in stale)


class _SourceFinder(importlib.machinery.PathFinder):
    """Finds the compiled modules' ``.py`` sources, ignoring extension modules."""

    @classmethod
    def find_spec(cls, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if not _compilable(fullname):
            return None
        for entry in path or sys.path:
            finder = importlib.machinery.FileFinder(
                entry, (importlib.machinery.SourceFileLoader,
                        importlib.machinery.SOURCE_SUFFIXES))
            spec = finder.find_spec(fullname, target)
            if spec is not None:
                return spec
        return None


def use_interpreted_core() -> None:
    """Make this process import the core from its ``.py`` sources.

    Must run before anything imports the core; raises RuntimeError otherwise.
    """
    loaded = [name for name in sys.modules if _compilable(name)]
    if loaded:
        raise RuntimeError(f"the core is already imported ({loaded[0]})")
    if _SourceFinder not in sys.meta_path:
        sys.meta_path.insert(0, _SourceFinder)
    importlib.invalidate_caches()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine_svc.core_build",
        description="Print which core build imports here, or run a module on one build.")
    parser.add_argument("--interpreted", action="store_true",
                        help="import the core from its .py sources")
    parser.add_argument("-m", dest="module", help="run this module (its arguments follow)")
    args, rest = parser.parse_known_args(argv)
    if args.interpreted:
        use_interpreted_core()
    if args.module is None:
        stale = stale_modules()
        print(core_build() + (f" (stale: {', '.join(stale)})" if stale else ""))
        return 0
    sys.argv = [args.module, *rest]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

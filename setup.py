"""Build hook: compile the engine core with mypyc when a C compiler is present.

Everything else about the package is declared in ``pyproject.toml``; this file only adds
the extension modules. ``pip install .``, ``pip install -e .`` and ``pip wheel .`` all come
through here:

* a C compiler (``$CC`` or the one Python was built with) and ``Python.h`` present:
  the modules in ``engine_svc.core_build.COMPILED_SOURCES`` (the engine core and the hot
  edge modules) are compiled by mypyc from their ordinary typed source
  (the ``.py`` files still ship beside the extension modules);
* no compiler, no headers, or ``TRADEMESH_PURE_PYTHON=1`` in the environment: no
  extension modules, the same package installs interpreted.

An editable install puts the compiled modules next to their sources, where they take
precedence over the ``.py`` files: after editing a compiled module, run ``pip install -e .``
again (``engine_svc.core_build`` reports a stale build, and the tests refuse to run on one).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from setuptools import setup

BUILDS = {"bdist_wheel", "editable_wheel", "build", "build_ext", "install", "develop"}
"""setup.py commands that build code; metadata-only runs (egg_info, dist_info) skip mypyc."""


def _core_build() -> ModuleType:
    """``engine_svc.core_build``, loaded by path (nothing is installed yet)."""
    spec = importlib.util.spec_from_file_location(
        "_trademesh_core_build", Path(__file__).parent / "engine_svc" / "core_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ext_modules() -> list[object]:
    if not BUILDS.intersection(sys.argv[1:]):
        return []
    core_build = _core_build()
    why_not: str | None = core_build.why_interpreted()
    if why_not is not None:
        print(f"trademesh: engine core installs interpreted: {why_not}")
        return []
    from mypyc.build import mypycify

    print("trademesh: compiling the engine core with mypyc")
    return list(mypycify(list(core_build.COMPILED_SOURCES), opt_level="3", debug_level="1"))


setup(ext_modules=_ext_modules())

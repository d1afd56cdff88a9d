"""Build hook: compile the engine core with mypyc when a C compiler is present.

Everything else about the package is declared in ``pyproject.toml``; this file only adds
the extension modules. ``pip install .``, ``pip install -e .`` and ``pip wheel .`` all come
through here:

* a C compiler (``$CC`` or the one Python was built with) and ``Python.h`` present:
  the modules in :data:`COMPILED` are compiled by mypyc from their ordinary typed source
  (the ``.py`` files still ship beside the extension modules);
* no compiler, no headers, or ``TRADEMESH_PURE_PYTHON=1`` in the environment: no
  extension modules, the same package installs interpreted.

An editable install puts the compiled modules next to their sources, where they take
precedence over the ``.py`` files: after editing a compiled module, run ``pip install -e .``
again (``engine_svc.core_build`` reports a stale build, and the tests refuse to run on one).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

COMPILED = ["engine_svc/core", "engine_svc/decimal_edge.py"]
"""The hot, fully typed modules: the pure engine core and the decimal edge."""

BUILDS = {"bdist_wheel", "editable_wheel", "build", "build_ext", "install", "develop"}
"""setup.py commands that build code; metadata-only runs (egg_info, dist_info) skip mypyc."""


def _compiler() -> str | None:
    """Why the build is interpreted, or None when it can compile."""
    if os.environ.get("TRADEMESH_PURE_PYTHON", "") not in ("", "0"):
        return "TRADEMESH_PURE_PYTHON is set"
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    include = sysconfig.get_paths().get("include")
    if not include or not (Path(include) / "Python.h").exists():
        return "no Python.h (install the python3-dev headers)"
    return None


def _ext_modules() -> list[object]:
    if not BUILDS.intersection(sys.argv[1:]):
        return []
    why_not = _compiler()
    if why_not is not None:
        print(f"trademesh: engine core installs interpreted: {why_not}")
        return []
    from mypyc.build import mypycify

    print("trademesh: compiling the engine core with mypyc")
    return list(mypycify(COMPILED, opt_level="3", debug_level="1"))


setup(ext_modules=_ext_modules())

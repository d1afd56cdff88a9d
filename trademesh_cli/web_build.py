"""The web terminal's build, as ``trademesh up`` needs it: built when missing or stale.

The terminal's sources live in ``web/`` beside the packages (an editable install or a
checkout). A build is fresh when ``<web dir>/.source-hash`` holds the hash of the sources
that went into it (``package.json``, the lock file, configs, ``index.html``, ``src/``,
``public/``); otherwise, when Node.js and npm are here, ``npm ci`` (only when the installed
packages do not match the lock file) and ``npm run build`` run with their output shown.
Nothing here stops the mesh: without Node.js, or when the build fails, the API is served
and one line says how to get the terminal.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from mesh_runtime.config import Settings
from mesh_runtime.probes import probe_host

SOURCE_DIR = Path(__file__).resolve().parent.parent / "web"
STAMP = ".source-hash"
SOURCE_FILES = ("package.json", "package-lock.json", "index.html", "tsconfig.json",
                "vite.config.ts")
SOURCE_TREES = ("src", "public")
BUILD_TIMEOUT_SECONDS = 600.0
HOW_TO = ("install Node.js 20.19+ and npm and run `trademesh up` again "
          "(or: npm --prefix web ci && npm --prefix web run build)")


def source_hash(source: Path) -> str:
    """A hash of every file the build reads from ``source`` (names and contents)."""
    digest = hashlib.sha256()
    for file in _source_files(source):
        digest.update(file.relative_to(source).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _source_files(source: Path) -> Iterator[Path]:
    for name in SOURCE_FILES:
        if (source / name).is_file():
            yield source / name
    for tree in SOURCE_TREES:
        if (source / tree).is_dir():
            yield from sorted(p for p in (source / tree).rglob("*") if p.is_file())


def is_fresh(source: Path, built: Path) -> bool:
    """True when ``built`` holds a build of ``source`` as it is now."""
    stamp = built / STAMP
    return ((built / "index.html").is_file() and stamp.is_file()
            and stamp.read_text().strip() == source_hash(source))


def prepare(settings: Settings, source: Path = SOURCE_DIR) -> bool:
    """Makes sure the terminal is built (building it when it is missing or stale and it
    can); prints one line on what it did. True when a build is there to serve."""
    built = Path(settings.web_dir)
    host = probe_host(settings.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.gateway_port}/"
    if not (source / "package.json").is_file() or built.resolve() != (source / "dist").resolve():
        present = (built / "index.html").is_file()
        print(f"web terminal: {url} (from {built})" if present else
              f"web terminal: no build in {built}; serving the API only", flush=True)
        return present
    if is_fresh(source, built):
        print(f"web terminal: {url}", flush=True)
        return True
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        stale = (built / "index.html").is_file()
        print(f"web terminal: {'the build is stale' if stale else 'not built'} and there is "
              f"no Node.js here; to get it, {HOW_TO}", flush=True)
        return stale
    return _build(npm, source, built, url)


def _build(npm: str, source: Path, built: Path, url: str) -> bool:
    """``npm ci`` (when needed) and ``npm run build`` in ``source``, their output shown;
    on failure one line says what is served instead. True when a fresh build is there."""
    steps = [] if _packages_match(source) else [[npm, "ci", "--no-audit", "--no-fund"]]
    steps.append([npm, "run", "build"])
    first = " (installing its npm packages first: a minute)" if len(steps) > 1 else ""
    print(f"web terminal: building {source}{first}", flush=True)
    for step in steps:
        print(f"web terminal: $ {' '.join(['npm', *step[1:]])}", flush=True)
        try:
            done = subprocess.run(step, cwd=source, timeout=BUILD_TIMEOUT_SECONDS, check=False)
            failure = f"`npm {step[1]}` exited {done.returncode}" if done.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            failure = f"`npm {step[1]}` failed ({exc})"
        if failure:
            left = "the previous build" if (built / "index.html").is_file() else "the API only"
            print(f"web terminal: {failure}; serving {left} (npm's output is above)", flush=True)
            return False
    (built / STAMP).write_text(source_hash(source) + "\n")
    print(f"web terminal: built; {url}", flush=True)
    return True


def _packages_match(source: Path) -> bool:
    """True when ``node_modules`` was installed from the current lock file (npm keeps a copy
    of what it installed in ``node_modules/.package-lock.json``)."""
    installed = source / "node_modules" / ".package-lock.json"
    lock = source / "package-lock.json"
    return installed.is_file() and lock.is_file() and \
        installed.stat().st_mtime >= lock.stat().st_mtime



if __name__ == "__main__":  # scripts/test.sh: build when stale, as `trademesh up` would
    raise SystemExit(0 if prepare(Settings.from_env()) else 1)

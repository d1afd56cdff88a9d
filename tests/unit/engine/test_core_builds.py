"""The compiled and the interpreted core, differentially, on 200,000 seeded commands.

The commands (every kind: spot and perp orders, cancels, cancel-all, replaces, transfers,
index ticks with liquidations, funding, triggers, the open-order limit) are generated once
and written as a journal; two processes replay it, one importing the mypyc-compiled core,
the other the ``.py`` sources (``python -m engine_svc.core_build --interpreted``). Their
events must be byte-identical (as journaled/outbox JSON), their state hashes equal, and a
snapshot written by either build must restore in the other and lead to the same end.

When the install could compile (a C compiler is here and TRADEMESH_PURE_PYTHON is unset)
but no compiled core is installed, or it is older than its source, this test fails: a
build that silently fell back to the interpreter is not a passing build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mixed_commands import generate

from engine_svc import command_codec
from engine_svc.core import Engine, default_markets
from engine_svc.core_build import compiled_available, stale_modules, why_interpreted

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = 200_000
DRIVER = "tests.unit.engine.core_diff_driver"


def _start(build: str, journal: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    prefix = ["-m", "engine_svc.core_build", "--interpreted"] if build == "interpreted" else []
    cmd = [sys.executable, *prefix, "-m", DRIVER, str(journal), str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _both(*runs: tuple[str, Path, Path, tuple[str, ...]]) -> list[dict[str, object]]:
    """Runs the drivers side by side; each one's result, checked to be of its build."""
    started = [(build, out, _start(build, journal, out, *extra))
               for build, journal, out, extra in runs]
    results = []
    for build, out, process in started:
        assert process.wait(timeout=600) == 0, f"the {build} driver failed"
        result: dict[str, object] = json.loads(out.read_text())
        assert result["build"] == build
        results.append(result)
    return results


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("builds") / "journal.jsonl"
    commands = generate(Engine(default_markets()), seed=2026, n=COMMANDS)
    path.write_bytes(b"\n".join(command_codec.encode(c) for c in commands) + b"\n")
    return path


def test_the_compiled_core_is_installed_where_it_can_be() -> None:
    reason = why_interpreted()
    if reason is not None:
        pytest.skip(f"this install is interpreted by design: {reason}")
    assert compiled_available(), \
        "a C compiler is here but the engine core is not compiled: run pip install -e ."
    assert not stale_modules(), \
        f"the compiled core is older than {stale_modules()}: run pip install -e . again"


def test_compiled_and_interpreted_builds_agree(journal: Path, tmp_path: Path) -> None:
    if why_interpreted() is not None and not compiled_available():
        pytest.skip("no compiled core to compare (installed interpreted by design)")
    assert not stale_modules(), "the compiled core is stale: run pip install -e . again"
    compiled, interpreted = _both(
        ("compiled", journal, tmp_path / "c.json", ("--snapshot-out", str(tmp_path / "c.snap"))),
        ("interpreted", journal, tmp_path / "i.json",
         ("--snapshot-out", str(tmp_path / "i.snap"))))
    for key in ("first_events", "mid_hash", "second_events", "final_hash", "kinds"):
        assert compiled[key] == interpreted[key], key
    kinds = compiled["kinds"]
    assert isinstance(kinds, dict)
    for kind in ("OrderFilled", "OrderReplaced", "PositionLiquidated", "FundingPaid",
                 "TriggerFired", "TriggerCanceled", "WithdrawalApplied", "OpenOrderLimitSet"):
        assert kinds.get(kind, 0) > 0, f"the stream never produced {kind}: {kinds}"

    # a snapshot written by one build restores in the other and ends in the same state
    for resumed in _both(
            ("compiled", journal, tmp_path / "cr.json",
             ("--resume-from", str(tmp_path / "i.snap"))),
            ("interpreted", journal, tmp_path / "ir.json",
             ("--resume-from", str(tmp_path / "c.snap")))):
        assert resumed["mid_hash"] == compiled["mid_hash"]
        assert resumed["second_events"] == compiled["second_events"]
        assert resumed["final_hash"] == compiled["final_hash"]


def test_the_install_says_why_it_would_stay_interpreted() -> None:
    assert why_interpreted({"TRADEMESH_PURE_PYTHON": "1"}) == "TRADEMESH_PURE_PYTHON is set"
    assert why_interpreted({"CC": "/nonexistent/cc -O2"}) == "no C compiler (/nonexistent/cc)"


def test_a_process_can_switch_itself_to_the_interpreted_core() -> None:
    code = ("from engine_svc.core_build import core_build, use_interpreted_core\n"
            "use_interpreted_core()\nprint(core_build())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "interpreted"

"""The engine's collector policy: young survivors frozen, cycles found by the full pass.

Each case runs in a fresh interpreter: freezing moves every object of the process, which
must not leak into the other tests' process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = """
import gc, weakref
from mesh_runtime.gc_tuning import collect_cycles, freeze_survivors, tune_gc

class Node:
    def __init__(self):
        self.other = None

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

tune_gc()
undo = freeze_survivors()
"""


def _run(body: str) -> str:
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_young_survivor_is_frozen_and_walked_by_no_later_pass() -> None:
    assert _run("""
        node = Node()
        frozen = gc.get_freeze_count()
        gc.collect(0)  # the young pass it survives
        assert gc.get_freeze_count() > frozen
        assert not any(o is node for o in gc.get_objects())  # no generation holds it
        print("ok")
    """) == "ok"


def test_a_frozen_object_without_cycles_is_still_freed_when_dropped() -> None:
    assert _run("""
        node = Node()
        gone = weakref.ref(node)
        gc.collect(0)
        del node  # reference counting frees it, frozen or not
        assert gone() is None
        print("ok")
    """) == "ok"


def test_a_frozen_cycle_waits_for_the_full_collection() -> None:
    assert _run("""
        head = cycle()
        gone = weakref.ref(head)
        gc.collect(0)  # frozen
        del head
        gc.collect()  # an ordinary full pass skips frozen objects
        assert gone() is not None
        found, took = collect_cycles()
        assert gone() is None and found >= 2 and took >= 0
        later = Node()
        gc.collect(0)
        assert not any(o is later for o in gc.get_objects())  # frozen again after it
        print("ok")
    """) == "ok"


def test_the_undo_stops_freezing() -> None:
    assert _run("""
        undo()
        node = Node()
        gc.collect(0)
        assert any(o is node for o in gc.get_objects())
        print("ok")
    """) == "ok"

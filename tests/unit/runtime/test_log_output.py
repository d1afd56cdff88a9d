"""mesh_runtime.log_output: a loop turn's log lines leave in one write, in order; nothing
waits past the turn, a warning, a thread without a loop or ``flush``; the cached time text
is logging's own."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_runtime.log_output import SecondCachedFormatter, TurnFlushedHandler


class Stream:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def logger_to(stream: Stream, name: str) -> logging.Logger:
    handler = TurnFlushedHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.log_output.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_a_turns_lines_leave_together_at_the_end_of_the_turn() -> None:
    stream = Stream()
    log = logger_to(stream, "turn")

    async def main() -> list[str]:
        for i in range(5):
            log.info("line %d", i)
        during = list(stream.writes)
        await asyncio.sleep(0)  # the turn ends
        return during

    assert asyncio.run(main()) == []
    assert stream.writes == ["".join(f"INFO line {i}\n" for i in range(5))]


def test_a_warning_is_written_at_once_after_what_waits() -> None:
    stream = Stream()
    log = logger_to(stream, "warning")

    async def main() -> None:
        log.info("first")
        log.warning("second")
        assert stream.writes == ["INFO first\nWARNING second\n"]
        log.info("third")

    asyncio.run(main())
    assert "".join(stream.writes) == "INFO first\nWARNING second\nINFO third\n"


def test_without_a_loop_a_line_is_written_at_once() -> None:
    stream = Stream()
    logger_to(stream, "plain").info("now")
    assert stream.writes == ["INFO now\n"]


def test_flush_writes_what_waits() -> None:
    stream = Stream()
    log = logger_to(stream, "flush")

    async def main() -> None:
        log.info("pending")
        log.handlers[0].flush()
        assert stream.writes == ["INFO pending\n"]

    asyncio.run(main())
    assert stream.writes == ["INFO pending\n"]


def test_a_line_left_by_a_stopped_loop_leaves_with_the_next_loops_turn() -> None:
    stream = Stream()
    log = logger_to(stream, "two-loops")
    first = asyncio.new_event_loop()

    async def emit(text: str) -> None:
        log.info(text)

    first.run_until_complete(emit("from the first loop"))  # stops before its flush runs
    first.close()
    asyncio.run(emit("from the second"))
    assert "".join(stream.writes) == "INFO from the first loop\nINFO from the second\n"


@settings(max_examples=300, deadline=None)
@given(created=st.floats(0, 4_000_000_000, allow_nan=False))
def test_the_cached_time_text_is_loggings_own(created: float) -> None:
    record = logging.makeLogRecord({"msg": "x"})
    record.created = created
    record.msecs = (created - int(created)) * 1000
    fmt = "%(asctime)s %(message)s"
    cached = SecondCachedFormatter(fmt)
    assert cached.format(record) == logging.Formatter(fmt).format(record)
    assert cached.format(record) == logging.Formatter(fmt).format(record)  # from the cache


@pytest.mark.parametrize("datefmt", ["%H:%M", "%Y"])
def test_an_explicit_date_format_is_loggings(datefmt: str) -> None:
    record = logging.makeLogRecord({"msg": "x"})
    assert SecondCachedFormatter("%(message)s").formatTime(record, datefmt) == \
        logging.Formatter().formatTime(record, datefmt)


def test_a_forked_child_does_not_write_its_parents_pending_lines(tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    with out.open("w") as stream:
        handler = TurnFlushedHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log = logging.getLogger("test.log_output.fork")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)

        async def main() -> None:
            log.info("pending in the parent")
            with warnings.catch_warnings():  # (3.12 warns of fork() beside threads)
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: a warning writes what is pending, then leaves
                log.warning("from the child")
                os._exit(0)
            await asyncio.to_thread(os.waitpid, pid, 0)

        asyncio.run(main())
        handler.flush()
    # each line once, in whichever order the two processes wrote (the parent's leaves at the
    # end of its turn, which may come before or after the child's write)
    assert sorted(out.read_text().splitlines()) == ["from the child", "pending in the parent"]

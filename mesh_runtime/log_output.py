"""Where a process's log lines go: standard error, a loop turn's lines in one write.

The gateway logs a line per request. :class:`TurnFlushedHandler` writes the records that an
event loop's thread emits in one turn of the loop together, at the end of that turn (as
:class:`mesh_runtime.http_serving.TurnCoalescingTransport` does for a connection's
writes): one system call per turn, not one per line. Warnings and errors, and records
from a thread without a running loop, are written at once (after anything pending, so the
order holds). At most one turn's lines wait; ``flush`` (called by ``logging.shutdown`` at
exit) writes them; a forked child drops its copy of them (its parent writes them).

:class:`SecondCachedFormatter` renders a record's time once per second, not per record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from typing import TextIO


class TurnFlushedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` whose INFO/DEBUG lines on an event loop leave once per turn."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop to flush them
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        loop = _running_loop()
        if loop is None or record.levelno >= logging.WARNING:
            self._pending.append(line)
            self._write_pending()
            return
        if self._flush_on is not loop:  # (another loop's flush may never come: this one's will)
            loop.call_soon(self.flush)
            self._flush_on = loop
        self._pending.append(line)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        """Writes the pending lines (the caller holds the handler's lock)."""
        self._flush_on = None
        if not self._pending:
            if self.stream is not None and hasattr(self.stream, "flush"):
                self.stream.flush()
            return
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # as StreamHandler: a broken stream must not break the caller
            self.handleError(logging.makeLogRecord({"msg": text.rstrip("\n")}))


class SecondCachedFormatter(logging.Formatter):
    """``logging.Formatter``'s default time text, rendered once per second."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord,
                   datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


_HANDLERS: weakref.WeakSet[TurnFlushedHandler] = weakref.WeakSet()


def _forget_in_child() -> None:
    """A forked child (the engine's snapshot writer) does not write its parent's pending
    lines: the parent will."""
    for handler in list(_HANDLERS):
        handler._pending.clear()
        handler._flush_on = None


os.register_at_fork(after_in_child=_forget_in_child)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


__all__ = ["SecondCachedFormatter", "TurnFlushedHandler"]

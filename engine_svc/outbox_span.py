"""Outbox records of a command's events: one record per event, except that each run of
consecutive ``BalanceChanged`` / ``PositionChanged`` events of one command (what the core's
``flush_accounts`` emits at the end of a command) is ONE span record covering their
sequence numbers, first..last (issue #12: fewer, smaller records per fill).

A span record is the JSON object
``{"@type":"AccountsChanged","seq":<first>,"cmd_seq":<command>,"b":[...],"p":[...]}``:
``b`` holds the balances as ``[user_id, asset, available, locked]`` and ``p`` the
positions as ``[user_id, market, size, cost, margin, realized_pnl, position_id]``, in
sequence order, balances first (a balance after a position starts a new span, so the
order is kept). Expanded it is exactly the events it replaced: the same sequence numbers
and fields; :func:`expand_raw` gives their one-record-per-event JSON byte for byte.
Readers expand spans (the event link, :meth:`Journal.events_after`); records written
before spans existed are plain records and read as they always were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from engine_svc.command_codec import KIND, body_of, compact
from engine_svc.core.events import BalanceChanged, Event, PositionChanged

Body = dict[str, Any]
Record = tuple[int, int, bytes]
"""An outbox record: (first sequence, last sequence, JSON)."""

SPAN = "AccountsChanged"
SPAN_PREFIX = b'{"@type":"' + SPAN.encode() + b'",'


def records(emitted: Sequence[Event]) -> list[Record]:
    """The outbox records of ``emitted`` (the events of one command, in order)."""
    out: list[Record] = []
    balances: list[list[Any]] = []
    positions: list[list[Any]] = []
    first = cmd = last = 0
    for e in emitted:
        is_balance = isinstance(e, BalanceChanged)
        if is_balance or isinstance(e, PositionChanged):
            if positions and is_balance:  # keep the order: a new span
                out.append(_span(first, last, cmd, balances, positions))
                balances, positions = [], []
            if not balances and not positions:
                first, cmd = e.seq, e.cmd_seq
            last = e.seq
            if isinstance(e, BalanceChanged):  # typed: the compiled build reads it natively
                balances.append([e.user_id, e.asset, e.available, e.locked])
            elif isinstance(e, PositionChanged):
                positions.append([e.user_id, e.market, e.size, e.cost, e.margin,
                                  e.realized_pnl, e.position_id])
            continue
        if balances or positions:
            out.append(_span(first, last, cmd, balances, positions))
            balances, positions = [], []
        out.append((e.seq, e.seq, compact(e)))
    if balances or positions:
        out.append(_span(first, last, cmd, balances, positions))
    return out


def _span(first: int, last: int, cmd: int, balances: list[list[Any]],
          positions: list[list[Any]]) -> Record:
    return first, last, orjson.dumps(
        {KIND: SPAN, "seq": first, "cmd_seq": cmd, "b": balances, "p": positions})


def is_span(raw: bytes) -> bool:
    return raw.startswith(SPAN_PREFIX)


def expand(body: Body) -> list[Body]:
    """A decoded span record → the decoded records of the events it covers (a row of the
    wrong length raises ValueError)."""
    seq, cmd = body["seq"], body["cmd_seq"]
    out: list[Body] = []
    for user_id, asset, available, locked in body["b"]:
        out.append({"@type": "BalanceChanged", "seq": seq, "cmd_seq": cmd, "user_id": user_id,
                    "asset": asset, "available": available, "locked": locked})
        seq += 1
    for user_id, market, size, cost, margin, realized_pnl, position_id in body["p"]:
        out.append({"@type": "PositionChanged", "seq": seq, "cmd_seq": cmd, "user_id": user_id,
                    "market": market, "size": size, "cost": cost, "margin": margin,
                    "realized_pnl": realized_pnl, "position_id": position_id})
        seq += 1
    return out


def expand_raw(first: int, raw: bytes) -> list[tuple[int, bytes]]:
    """The outbox record ``raw`` starting at sequence ``first`` → (sequence, one-event
    JSON in the object form) per event it covers: an object as it is, a compact record as
    its object, a span as the records it replaced, byte for byte."""
    if raw.startswith(b"["):
        return [(first, orjson.dumps(body_of(orjson.loads(raw))))]
    if not is_span(raw):
        return [(first, raw)]
    return [(body["seq"], orjson.dumps(body)) for body in expand(orjson.loads(raw))]


_COUNTS: list[bytes] = [b"%d" % n for n in range(256)]


def joined(records: Sequence[Record]) -> tuple[bytes, bytes | None]:
    """An outbox entry's fields from ``records`` (consecutive): their bodies
    newline-joined, and how many sequence numbers each covers, space-separated (None when
    each covers one: an entry without spans)."""
    bodies: list[bytes] = []
    counts: list[bytes] = []
    spans = False
    for first, last, body in records:
        bodies.append(body)
        count = last - first + 1
        spans = spans or count != 1
        counts.append(_COUNTS[count] if count < 256 else b"%d" % count)
    return b"\n".join(bodies), b" ".join(counts) if spans else None


def joined_commands(commands: Sequence[tuple[int, bytes]]) -> bytes:
    """A journal entry's records: the commands' bodies, newline-joined."""
    return b"\n".join([body for _, body in commands])

"""CSV for ``COPY … (FORMAT csv)``: the text of fields and lines, fast and exact.

The big append-only tables (fills, trades, ledger entries) and created orders are written
as lines built with f-strings from memoized fields (:class:`Fields`, :class:`Numbers`): a
batch repeats few distinct users, markets, assets, prices and quantities, so each distinct
value is checked, quoted or parsed once. The rare tables go through the :mod:`csv` module.

Field rules (PostgreSQL's CSV format, default quote and escape ``"``): a text value is
written bare unless it is empty or holds a delimiter, quote, line break or backslash, then
quoted with inner quotes doubled; an empty string is therefore ``""`` (an empty string) and
``None`` an empty unquoted field (``NULL``). Numbers are ``int`` or the canonical text of a
``Decimal`` (``str()``, which PostgreSQL's ``NUMERIC`` input reads, exponent included); the
engine's decimal text is parsed with ``Decimal`` first, so nothing else reaches a line.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any, NamedTuple

Row = tuple[Any, ...]
_UNSAFE = re.compile(r'[",\r\n\\]')


def field(text: str) -> str:
    """One text value as a CSV field (quoted only when it must be)."""
    if text and _UNSAFE.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def optional(value: object) -> str:
    """``None`` → NULL (an empty field); a string → :func:`field`; anything else → ``str``."""
    if value is None:
        return ""
    return field(value) if isinstance(value, str) else str(value)


class Fields(dict[str, str]):
    """Text → CSV field, each distinct text checked once."""

    def __missing__(self, text: str) -> str:
        value = self[text] = field(text)
        return value


class Accounts(dict[str, str]):
    """User id → the CSV field of its ledger account ``user:<id>``."""

    def __missing__(self, user_id: str) -> str:
        value = self[user_id] = field(f"user:{user_id}")
        return value


class Number(NamedTuple):
    value: Decimal
    text: str  # canonical: str(value)
    negated: str  # str(-value)


def number(value: Decimal) -> Number:
    return Number(value, str(value), str(-value))


class Numbers(dict[str, Number]):
    """Decimal text (as the engine sends it) → :class:`Number`, each parsed once."""

    def __missing__(self, text: str) -> Number:
        value = self[text] = number(Decimal(text))
        return value


def csv_bytes(records: list[Row]) -> bytes:
    """Rows via the :mod:`csv` module: quoted as needed, ``None`` as NULL."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(records)
    return text.getvalue().encode()


def lines_bytes(lines: list[str]) -> bytes:
    return "".join(lines).encode()


def order_lines(records: list[Row]) -> list[str]:
    """Order rows (``event_writer.ORDER_COLS`` order) as lines."""
    return [f"{a},{field(b)},{field(c)},{optional(d)},{e},{f},{g},{h},{optional(i)},{j},{k},"
            f"{m},{n},{optional(o)},{p},{q},{r},{optional(s)},{optional(u)},"
            f"{','.join(map(optional, terms))}\n"
            for a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, *terms in records]

"""CSV for ``COPY … (FORMAT csv)``: fast f-string rows for the big append-only tables,
the :mod:`csv` module for everything else and as the fallback.

The fast rows are written without quoting, which is exact only when no text value holds
a delimiter, quote, line break or backslash; each batch's distinct text values are checked
first and the :mod:`csv` module takes the table otherwise. ``None`` is written as an empty
unquoted field (``NULL``), as the :mod:`csv` module does. Numbers are ``int``, ``Decimal``
(``str()``, which PostgreSQL's ``NUMERIC`` input reads, exponent included) or the engine's
plain decimal text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

Row = tuple[Any, ...]
_UNSAFE = re.compile(r'[",\r\n\\]')


def csv_bytes(records: list[Row]) -> io.BytesIO:
    """Rows via the :mod:`csv` module: quoted as needed, ``None`` as NULL."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(records)
    return io.BytesIO(text.getvalue().encode())


def _safe(rows: list[Row], columns: Iterable[int]) -> bool:
    """No text value in ``columns`` of ``rows`` needs quoting (set and regex work in C)."""
    values: set[str | None] = set()
    for i in columns:
        values.update(map(itemgetter(i), rows))
    values.discard(None)
    return _UNSAFE.search("\x1f".join(values)) is None  # type: ignore[arg-type]


def _fills(rows: list[Row]) -> str | None:
    if not _safe(rows, (1, 3, 4, 5, 9)):
        return None
    return "".join([f"{a},{b},{c},{d},{e},{f},{g},{h},{i},{j},{k},{m}\n"
                    for a, b, c, d, e, f, g, h, i, j, k, m in rows])


def _trades(rows: list[Row]) -> str | None:
    if not _safe(rows, (1, 4)):
        return None
    return "".join([f"{a},{b},{c},{d},{e},{f}\n" for a, b, c, d, e, f in rows])


def _ledger(rows: list[Row]) -> str | None:
    if not _safe(rows, (1, 2, 3, 5, 6, 7)):
        return None
    return "".join([f"{a},{b},{'' if c is None else c},{d},{e},{f},{g},"
                    f"{'' if h is None else h},{i}\n" for a, b, c, d, e, f, g, h, i in rows])


FAST: dict[str, Callable[[list[Row]], str | None]] = {
    "fills": _fills, "trades": _trades, "ledger_entries": _ledger}


def copy_source(table: str, records: list[Row]) -> io.BytesIO:
    """``records`` of ``table`` as a COPY source."""
    fast = FAST.get(table)
    text = fast(records) if fast is not None else None
    return csv_bytes(records) if text is None else io.BytesIO(text.encode())

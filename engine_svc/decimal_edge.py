"""Fast, exact decimal text at the edge: parse "141.39" to grid units and format units back.

The engine core owns the rules (:func:`engine_svc.core.units.decimal_to_units`); this module
only speeds up the common case. A plain decimal string (digits, optionally a point and
more digits) that lands exactly on the grid, positive and below the cap, is converted
with integer arithmetic; anything else is handed to the core's converter, which either
accepts it or raises the same :class:`~engine_svc.core.units.ValidationError` it always
would. Formatting is exact and matches ``format(Decimal(units) * step).normalize()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache

from engine_svc.core.units import MAX_UNITS

_PLAIN = re.compile(r"([0-9]{1,30})(?:\.([0-9]{1,30}))?", re.ASCII)
_POW10: list[int] = [10**n for n in range(80)]


@cache
def _step_parts(step: Decimal) -> tuple[int, int]:
    """``step`` as (coefficient, exponent): 0.25 -> (25, -2)."""
    _, digits, exponent = step.normalize().as_tuple()
    assert isinstance(exponent, int)
    return int("".join(map(str, digits))), exponent


def parse_units(text: str, step: Decimal, slow: Callable[[str], int]) -> int:
    """``text`` in units of ``step``; ``slow(text)`` decides every case but the plain one."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        return slow(text)
    whole, fraction = match.group(1), match.group(2) or ""
    coefficient, exponent = _step_parts(step)
    value = int(whole + fraction)
    power = -len(fraction) - exponent
    if power >= 0:
        units, rest = divmod(value * _POW10[power], coefficient)
    else:
        units, rest = divmod(value, coefficient * _POW10[-power])
    if rest or units <= 0 or units >= MAX_UNITS:
        return slow(text)
    return units


@cache
def formatter(step: Decimal) -> Callable[[int], str]:
    """Exact decimal text of ``units * step`` with no exponent and no trailing zeros."""
    coefficient, exponent = _step_parts(step)
    scale = max(0, -exponent)
    multiplier = coefficient * _POW10[max(0, exponent)]

    def text(units: int) -> str:
        value = units * multiplier
        digits = str(abs(value))
        if scale:
            digits = digits.rjust(scale + 1, "0")
            fraction = digits[-scale:].rstrip("0")
            digits = digits[:-scale] + ("." + fraction if fraction else "")
        return "-" + digits if value < 0 else digits

    return text

"""Fast, exact decimal text at the edge: parse "141.39" to grid units and format units back.

The engine core owns the rules (:func:`engine_svc.core.units.decimal_to_units`); this module
only speeds up the common case. A plain decimal string (digits, optionally a point and
more digits) that lands exactly on the grid, positive and below the cap, is converted
with integer arithmetic; anything else is handed to the core's converter, which either
accepts it or raises the same :class:`~engine_svc.core.units.ValidationError` it always
would. Formatting is exact and matches ``format(Decimal(units) * step).normalize()``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache

from engine_svc.core.units import MAX_UNITS

_MAX_DIGITS = 30
"""Longest run of digits on either side of the point the fast path takes."""
_POW10: list[int] = [10**n for n in range(80)]


@cache
def _step_parts(step: Decimal) -> tuple[int, int]:
    """``step`` as (coefficient, exponent): 0.25 -> (25, -2)."""
    _, digits, exponent = step.normalize().as_tuple()
    assert isinstance(exponent, int)
    return int("".join(map(str, digits))), exponent


def _digits(text: str) -> bool:
    """1 to :data:`_MAX_DIGITS` ASCII digits (``"²"`` and ``"٣"`` are digits to
    ``str.isdigit``, not here)."""
    return 0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()


def plain_units(text: str, step: Decimal) -> int:
    """``text`` in units of ``step`` when it is the plain case (ASCII digits, at most one
    point with digits on both sides, exactly on the grid, positive and below the cap);
    0 otherwise (no plain text is worth 0 units), for the core's converter to decide."""
    whole, point, fraction = text.partition(".")
    if not _digits(whole) or (point and not _digits(fraction)):
        return 0
    coefficient, exponent = _step_parts(step)
    value = int(whole + fraction)
    power = -len(fraction) - exponent
    if power >= 0:
        units, rest = divmod(value * _POW10[power], coefficient)
    else:
        units, rest = divmod(value, coefficient * _POW10[-power])
    if rest or units <= 0 or units >= MAX_UNITS:
        return 0
    return units


@cache
def minor_formatter(scale: int) -> Callable[[int], str]:
    """:func:`formatter` of an asset's minor unit (``10**-scale``), keyed by the int: a
    Decimal made per call hashes by modular exponentiation, once per call."""
    return formatter(Decimal(1).scaleb(-scale))


@cache
def ppm_formatter(step: Decimal) -> Callable[[int], str]:
    """:func:`formatter` of a millionth of ``step`` (a stored step's hash is cached)."""
    return formatter(step / 10**6)


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) to the nearest int, ties to even."""
    quotient, rest = divmod(numerator, denominator)
    twice = 2 * rest
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return quotient


def parse_units(text: str, step: Decimal, slow: Callable[[str], int]) -> int:
    """``text`` in units of ``step``; ``slow(text)`` decides every case but the plain one."""
    return plain_units(text, step) or slow(text)


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

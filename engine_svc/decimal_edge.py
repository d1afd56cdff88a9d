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


_PARTS: dict[Decimal, tuple[int, int]] = {}
""":func:`_step_parts` of the steps seen: a dict read from compiled code is a C call, a
``functools.cache`` is a Python call per order field."""


def _step_parts(step: Decimal) -> tuple[int, int]:
    """``step`` as (coefficient, exponent): 0.25 -> (25, -2)."""
    parts = _PARTS.get(step)
    if parts is None:
        _, digits, exponent = step.normalize().as_tuple()
        assert isinstance(exponent, int)
        parts = _PARTS[step] = int("".join(map(str, digits))), exponent
    return parts


def plain_units(text: str, step: Decimal) -> int:
    """``text`` in units of ``step`` when it is the plain case (1 to :data:`_MAX_DIGITS`
    ASCII digits, optionally a point and 1 to :data:`_MAX_DIGITS` more, exactly on the
    grid, positive and below the cap); 0 otherwise (no plain text is worth 0 units), for
    the core's converter to decide. (``"²"`` and ``"٣"`` are digits to ``str.isdigit``,
    not here: the text must be ASCII.)"""
    size = len(text)
    if size == 0 or size > 2 * _MAX_DIGITS + 1 or not text.isascii():
        return 0
    point = text.find(".")
    if point < 0:
        if size > _MAX_DIGITS or not text.isdigit():
            return 0
        value, places = int(text), 0
    else:
        places = size - point - 1
        if point == 0 or places == 0 or point > _MAX_DIGITS or places > _MAX_DIGITS:
            return 0
        digits = text[:point] + text[point + 1:]
        if not digits.isdigit():  # a second point, a sign, a space, ...
            return 0
        value = int(digits)
    coefficient, exponent = _step_parts(step)
    power = -places - exponent
    divisor = coefficient
    if power >= 0:
        value *= _POW10[power]
    else:
        divisor = coefficient * _POW10[-power]
    units = value // divisor
    if units * divisor != value or units <= 0 or units >= MAX_UNITS:
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

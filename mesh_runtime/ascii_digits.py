"""Integers from wire text: ASCII digits only, one shared reading for every service.

``str.isdigit()`` says yes to ``"²"`` and ``"٣"``, and ``int()`` reads ``"٣"`` as 3, ``" 7"`` as
7 and ``"1_0"`` as 10 (while ``int("²")`` raises): neither is a parser for ids and counts
that arrive from a client. :func:`parse_ascii_uint` accepts exactly ``[0-9]{1,max_digits}``
and nothing else; every other text is a :class:`NotAsciiDigits` (a ``ValueError``) that says
why, for the caller to answer as a 400 / INVALID_ARGUMENT naming its field.
"""

from __future__ import annotations

import re
from decimal import Decimal

# re.ASCII: without it ``[0-9]`` is still ASCII, but ``\d`` would not be; spelled out anyway.
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# API.md's decimal text; ``Decimal()`` also takes "٣", "1_0", " 5", "1e9", "NaN", "Infinity"
_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?", re.ASCII)
ID_MAX_DIGITS = 19  # a signed 64-bit id: at most 9223372036854775807
ASCII_ID_PATTERN = f"^[0-9]{{1,{ID_MAX_DIGITS}}}$"
PERCENT_PATTERN = (r"^(?:100(?:\.0{1,18})?|[1-9][0-9]?(?:\.[0-9]{1,18})?"
                   r"|0\.0{0,17}[1-9][0-9]{0,17})$")
"""A percentage in (0, 100] as a plain ASCII decimal of at most 18 places (no sign,
exponent, spaces or leading zeros)."""


class NotAsciiDigits(ValueError):
    """Text that is not an unsigned decimal integer in ASCII digits within its bounds."""


def is_ascii_digits(text: str, max_digits: int = ID_MAX_DIGITS) -> bool:
    """True for 1 to ``max_digits`` ASCII digits ``0``-``9`` and nothing else."""
    return 0 < len(text) <= max_digits and _DIGITS.fullmatch(text) is not None


def parse_ascii_uint(text: str, *, max_digits: int = ID_MAX_DIGITS,
                     maximum: int | None = None) -> int:
    """``text`` as an unsigned integer; raises :class:`NotAsciiDigits` unless ``text`` is 1
    to ``max_digits`` ASCII digits whose value is at most ``maximum`` (when given)."""
    if not is_ascii_digits(text, max_digits):
        raise NotAsciiDigits(f"must be 1 to {max_digits} ASCII digits 0-9")
    value = int(text, 10)
    if maximum is not None and value > maximum:
        raise NotAsciiDigits(f"must be at most {maximum}")
    return value


def parse_ascii_int(text: str, *, minimum: int, maximum: int) -> int:
    """``text`` as a signed integer (an optional ASCII ``-`` or ``+``, then ASCII digits)
    within ``[minimum, maximum]``; raises :class:`NotAsciiDigits` otherwise."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+"
                                                           else text)
    width = max(len(str(abs(minimum))), len(str(abs(maximum))))
    if not is_ascii_digits(digits, width):
        raise NotAsciiDigits("must be an integer in ASCII digits 0-9")
    value = sign * int(digits, 10)
    if not minimum <= value <= maximum:
        raise NotAsciiDigits(f"{value} is out of range [{minimum}, {maximum}]")
    return value


def parse_ascii_decimal(text: str) -> Decimal:
    """``text`` as a non-negative Decimal: 1-30 ASCII digits, optionally a point and 1-30
    more; raises :class:`NotAsciiDigits` for anything else."""
    if _DECIMAL.fullmatch(text) is None:
        raise NotAsciiDigits("must be a decimal in ASCII digits like 141.39 (at most 30 "
                             "digits each side of the point)")
    return Decimal(text)

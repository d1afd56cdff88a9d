"""Integers from wire text: ASCII digits only (issue #15: ``"²"`` crashed GetOrder, ``"٣"``
was read as order 3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mesh_runtime.ascii_digits import (
    ASCII_ID_PATTERN,
    NotAsciiDigits,
    is_ascii_digits,
    parse_ascii_decimal,
    parse_ascii_int,
    parse_ascii_uint,
)

NOT_ASCII_DIGITS = ["", "²", "٣", "\uff13", "1²", "\U0001d7d9", " 7", "7 ", "7\n", "+7",
                    "-7", "1_0", "0x1f", "1e3", "1.0", "\x00", "12345678901234567890"]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_anything_but_ascii_digits_is_refused(text: str) -> None:
    assert not is_ascii_digits(text)
    with pytest.raises(NotAsciiDigits, match="ASCII digits"):
        parse_ascii_uint(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("007", 7),
                                             ("9223372036854775807", 2**63 - 1),
                                             ("9999999999999999999", 10**19 - 1)])
def test_ascii_digits_are_read(text: str, value: int) -> None:
    assert is_ascii_digits(text)
    assert parse_ascii_uint(text) == value


def test_the_documented_pattern_says_the_same() -> None:
    assert ASCII_ID_PATTERN == "^[0-9]{1,19}$"


def test_width_and_maximum_bound_the_value() -> None:
    assert parse_ascii_uint("123", max_digits=3) == 123
    with pytest.raises(NotAsciiDigits):
        parse_ascii_uint("1234", max_digits=3)
    with pytest.raises(NotAsciiDigits, match="at most 100"):
        parse_ascii_uint("101", maximum=100)


@pytest.mark.parametrize(("text", "value"), [("-5", -5), ("+5", 5), ("0", 0),
                                             ("-2147483648", -(2**31))])
def test_signed_integers_take_an_ascii_sign(text: str, value: int) -> None:
    assert parse_ascii_int(text, minimum=-(2**31), maximum=2**31 - 1) == value


@pytest.mark.parametrize("text", ["-", "+", "--5", "-٣", "²", " 5", "2147483648", "1_0"])
def test_signed_integers_refuse_the_rest(text: str) -> None:
    with pytest.raises(NotAsciiDigits):
        parse_ascii_int(text, minimum=-(2**31), maximum=2**31 - 1)


@pytest.mark.parametrize("text", ["٣", "1_0", " 5", "5 ", "NaN", "Infinity", "1e3", "-1",
                                  "+1", ".5", "5.", "", "1" * 31])
def test_decimals_are_ascii_digits_and_one_point(text: str) -> None:
    with pytest.raises(NotAsciiDigits):
        parse_ascii_decimal(text)


def test_decimals_are_read_exactly() -> None:
    assert parse_ascii_decimal("141.39") == Decimal("141.39")
    assert parse_ascii_decimal("0") == 0

"""The fast edge conversions agree exactly with the core's Decimal path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine_svc.core.units import ValidationError, decimal_to_units, units_to_decimal
from engine_svc.decimal_edge import formatter, parse_units, plain_units

STEPS = [Decimal(s) for s in ("0.1", "0.0001", "0.001", "0.01", "1", "0.25", "5", "10",
                              "0.000001", "0.00000001")]


def _slow(step: Decimal) -> object:
    return lambda text: decimal_to_units(text, step, "price")


def _reference_text(units: int, step: Decimal) -> str:
    text = format(units_to_decimal(units, step).normalize(), "f")
    return "0" if text == "-0" else text


@given(st.sampled_from(STEPS), st.integers(min_value=-(10**18), max_value=10**18))
def test_format_matches_decimal(step: Decimal, units: int) -> None:
    assert formatter(step)(units) == _reference_text(units, step)


@given(st.sampled_from(STEPS), st.integers(min_value=1, max_value=10**18 - 1))
def test_parse_round_trips(step: Decimal, units: int) -> None:
    text = formatter(step)(units)
    assert parse_units(text, step, _slow(step)) == units  # type: ignore[arg-type]


@given(st.sampled_from(STEPS), st.text(alphabet="0123456789.-eE+ naNIf_\u0661\uff15", max_size=25)
       | st.text(alphabet="0123456789.", min_size=26, max_size=66))
def test_parse_agrees_with_the_core_on_anything(step: Decimal, text: str) -> None:
    try:
        expected: object = decimal_to_units(text, step, "price")
    except ValidationError as err:
        expected = err.reason
    try:
        got: object = parse_units(text, step, _slow(step))  # type: ignore[arg-type]
    except ValidationError as err:
        got = err.reason
    assert got == expected


@pytest.mark.parametrize(("text", "step", "units"), [
    ("141.39", Decimal("0.01"), 14139), ("100", Decimal("0.001"), 100_000),
    ("0.0001", Decimal("0.0001"), 1), ("2.50", Decimal("0.25"), 10), ("15", Decimal("5"), 3),
    ("007.5", Decimal("0.1"), 75), ("0." + "0" * 29 + "5", Decimal("1E-30"), 5),
    ("1" * 15 + ".5", Decimal("0.1"), int("1" * 15 + "5")),
])
def test_known_values(text: str, step: Decimal, units: int) -> None:
    assert parse_units(text, step, _slow(step)) == units  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["100.0001", "0", "0.000", "-1", "1e-9", "NaN", "", "1.2.3",
                                  "1" * 19])
def test_anything_unusual_gets_the_cores_answer(text: str) -> None:
    step = Decimal("0.001")
    with pytest.raises(ValidationError):
        parse_units(text, step, _slow(step))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1.", ".5", "١٢", "²", "1" * 31, "1." + "0" * 31, " 1", "+1",
                                  "1_0", "0.0"])
def test_plain_units_leaves_anything_but_plain_digits_to_the_core(text: str) -> None:
    assert plain_units(text, Decimal("0.001")) == 0

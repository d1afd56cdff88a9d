"""Candle buckets: UTC-aligned, whole last bucket, empty intervals flat at the close."""

from __future__ import annotations

from decimal import Decimal

import pytest

from persistence_svc.candles import bucket_range, fill_gaps
from persistence_svc.history import InvalidQuery, Page
from persistence_svc.users import normalise_email

D = Decimal


def test_buckets_align_to_utc_and_cover_the_last_interval() -> None:
    assert bucket_range("5m", 301_000, 601_000, 10**9) == (300_000, 300_000, 900_000)
    assert bucket_range("1d", 86_400_000 + 5, 86_400_000 + 6, 10**12)[1:] == (
        86_400_000, 172_800_000)
    with pytest.raises(InvalidQuery):
        bucket_range("2m", None, None, 10**9)
    with pytest.raises(InvalidQuery):
        bucket_range("1m", 0, 60_000 * 2000, 10**12)


def test_empty_intervals_are_flat_at_the_previous_close() -> None:
    buckets = {60_000: (D(1), D(3), D(1), D(2), D(5))}
    rows = fill_gaps(buckets, None, 60_000, 0, 240_000, 180_000)
    assert [(r.open_ms, r.open, r.close, r.volume, r.closed) for r in rows] == [
        (60_000, D(1), D(2), D(5), True), (120_000, D(2), D(2), D(0), True),
        (180_000, D(2), D(2), D(0), False)]
    with_previous = fill_gaps({}, D(7), 60_000, 0, 60_000, 10**9)
    assert [(r.open, r.volume) for r in with_previous] == [(D(7), D(0))]


def test_pages_and_emails_are_validated() -> None:
    assert Page.of("", 0, "") == Page("", 100, None)
    assert Page.of("SOL-USD", 5, "42") == Page("SOL-USD", 5, 42)
    for limit, before in ((1001, ""), (5, "x"), (5, "-1")):
        with pytest.raises(InvalidQuery):
            Page.of("", limit, before)
    assert normalise_email("  Bob@Example.ORG ") == "bob@example.org"
    for bad in ("bob", "@x", "a@", "a b@c", "a@b@c"):
        with pytest.raises(InvalidQuery):
            normalise_email(bad)


def test_fifteen_minute_and_four_hour_buckets_align_to_utc() -> None:
    assert bucket_range("15m", 901_000, 1_801_000, 10**9) == (900_000, 900_000, 2_700_000)
    four = 14_400_000
    assert bucket_range("4h", four + 5, 2 * four, 10**12) == (four, four, 2 * four)
    assert bucket_range("4h", 86_400_000 - 1, 86_400_000, 10**12)[1] == 86_400_000 - four

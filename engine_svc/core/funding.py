"""Funding: one ``SettleFunding`` per market per interval moves USD between longs and shorts.

Formula (integers; ``mark`` and ``index`` as they stand, ticks)::

    premium_ppm = trunc((mark - index) * 1_000_000 / index)        (toward zero)
    rate_ppm    = clamp(premium_ppm, -100 * funding_cap_bps, +100 * funding_cap_bps)
    exact_i     = |size_i| * mark * u * |rate_ppm|                 (millionths of a minor unit)

``rate_ppm > 0``: longs pay shorts; ``< 0``: shorts pay longs. A payer pays
``ceil(exact_i / 1e6)``, a receiver gets ``floor(exact_i / 1e6)``. Sizes are zero-sum
(the insurance fund's positions included), so payers' exact total equals receivers';
the rounding remainder (>= 0) goes to :data:`INSURANCE_FUND`. Conservation is exact.

Payments come out of ``available``; a payer left negative is topped up from the margin of
their positions (by market) after the liquidation sweep that follows every round. An
isolated position pays from and is paid into its own account (its margin, then the
owner's cross balance: :mod:`engine_svc.core.isolated`).
A market that is not a perp answers UNKNOWN_MARKET; one without an index INVALID_PRICE.
"""

from __future__ import annotations

from typing import Final

from engine_svc.core import liquidation
from engine_svc.core.commands import SettleFunding
from engine_svc.core.enums import RejectReason
from engine_svc.core.events import FundingPaid, FundingSettled, PerpCommandRejected
from engine_svc.core.ledger import INSURANCE_FUND, USD
from engine_svc.core.state import State
from engine_svc.core.units import ceil_div

PPM: Final = 1_000_000


def rate_ppm(mark: int, index: int, cap_bps: int) -> int:
    """The clamped premium rate in parts per million (module formula)."""
    diff = mark - index
    premium = diff * PPM // index if diff >= 0 else -(-diff * PPM // index)
    cap = cap_bps * 100
    return max(-cap, min(cap, premium))


def settle(st: State, cmd: SettleFunding) -> None:
    spec = st.markets.get(cmd.market)
    stats = st.stats.get(cmd.market)
    if spec is None or stats is None or not spec.is_perp:
        return _reject(st, cmd.market, RejectReason.UNKNOWN_MARKET)
    mark, index = stats.mark_price, stats.index_price
    if mark is None or index is None:
        return _reject(st, cmd.market, RejectReason.INVALID_PRICE)
    rate = rate_ppm(mark, index, spec.funding_cap_bps)
    payers: list[str] = []
    remainder = 0
    if rate:
        unit = spec.notional_unit
        refs = st.ledger.pos_refs
        for (user, market), pos in sorted(st.ledger.positions.items()):
            if market != cmd.market or not pos.size:
                continue
            pref = refs[user][market]
            exact = abs(pos.size) * mark * unit * abs(rate)
            if (pos.size > 0) == (rate > 0):
                amount = ceil_div(exact, PPM)
                amount = -amount
                payers.append(user)
            else:
                amount = exact // PPM
            remainder -= amount
            st.ledger.balance(user, USD).available += amount
            st.out.append(FundingPaid(st.seq(), st.last_seq, pref.owner, cmd.market,
                                      pos.size, rate, amount, cmd.ts, pref.pid))
        st.ledger.balance(INSURANCE_FUND, USD).available += remainder
    st.out.append(FundingSettled(st.seq(), st.last_seq, cmd.market, mark, index, rate,
                                 remainder, cmd.ts))
    liquidation.sweep(st, cmd.market, cmd.ts)
    for user in payers:
        _cover_from_margin(st, user)
    return None


def _cover_from_margin(st: State, user: str) -> None:
    bal = st.ledger.balance(user, USD)
    for market, pos in st.ledger.user_positions(user):
        if bal.available >= 0:
            return
        take = min(pos.margin, -bal.available)
        if take > 0:
            st.ledger.position(user, market)
            pos.margin -= take
            bal.available += take


def _reject(st: State, market: str, reason: RejectReason) -> None:
    st.out.append(PerpCommandRejected(st.seq(), st.last_seq, market, reason))

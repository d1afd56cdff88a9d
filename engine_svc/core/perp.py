"""Perp risk: index and mark prices, cross-margin equity, maintenance margin, liquidation price.

All amounts are USD minor units, prices ticks, sizes signed lots; ``u`` is the market's
``notional_unit``.

Mark price, sampled only when a ``SetIndexPrice`` is applied (it does not move between
index ticks, so orders never trigger liquidations and the order path stays cheap)::

    mid   = (best_bid + best_ask) // 2        when both sides rest, else index
    last  = last trade price                  when there was one, else index
    band  = index * mark_band_bps // 10_000
    mark  = clamp(median(index, mid, last), index - band, index + band)   (at least 1)

Cross margin, per user, over every perp position (all perps settle in USD)::

    collateral C  = USD available + USD locked + sum(position margin)
    unrealised U  = sum(size * mark * u - cost)       (0 for a market with no mark yet)
    equity     E  = C + U
    initial    IM = sum(position margin) + USD locked by open orders
    maintenance MM = sum(ceil(|size| * ref * u * mmr)),  ref = mark (entry price, i.e.
                     |cost| / (|size| * u), for a market with no mark yet)

* An order (not reduce-only) or a USD withdrawal is admitted only if
  ``available + min(U, 0) >= hold`` (resp. amount): i.e. ``E - max(U, 0) >= IM + hold``.
  Unrealised losses reduce what can be committed; unrealised profit is not lent against
  (it must be realised first), which keeps every ``available`` non-negative.
* A user is liquidated when ``E < MM`` (strictly: ``E == MM`` is safe); see
  :mod:`engine_svc.core.liquidation`.
* Liquidation price of one position, other positions' marks held fixed, is the exact root
  of ``E(m) = MM(m)`` (MM without its per-position ceil): for a long rounded up, for a
  short rounded down, i.e. the last mark tick that is still safe up to that rounding; None
  when no positive mark liquidates it.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import NamedTuple

from engine_svc.core.ledger import USD
from engine_svc.core.markets import MarketSpec
from engine_svc.core.state import State
from engine_svc.core.units import ceil_div


class AccountRisk(NamedTuple):
    """A user's cross-margin account in USD minor units (see module formulas)."""

    collateral: int
    unrealized_pnl: int
    equity: int
    initial_margin: int
    maintenance_margin: int


class PositionRisk(NamedTuple):
    """One position as a trader sees it. Prices in ticks (``entry_price`` is exact,
    possibly fractional); amounts in USD minor units; ``leverage`` = notional at mark
    (or entry) / margin, None without margin."""

    market: str
    size: int
    entry_price: Decimal
    mark_price: int | None
    unrealized_pnl: int
    margin: int
    leverage: Decimal | None
    liquidation_price: int | None
    realized_pnl: int
    cost: int  # signed cost basis in quote minor units (negative for a short)


def sample_mark(st: State, spec: MarketSpec, index: int) -> int:
    """The mark price for ``index`` and the book/last trade now (module formula)."""
    book = st.books[spec.symbol]
    bid, ask = book.best_bid(), book.best_ask()
    mid = (bid + ask) // 2 if bid is not None and ask is not None else index
    last = st.stats[spec.symbol].last_price
    if last is None:
        last = index
    median = sorted((index, mid, last))[1]
    band = index * spec.mark_band_bps // 10_000
    return max(1, min(max(median, index - band), index + band))


def unrealized(st: State, user: str) -> int:
    """U: unrealised PnL at mark over the user's perp positions."""
    refs = st.ledger.pos_refs.get(user)
    if not refs:
        return 0
    total = 0
    stats, markets = st.stats, st.markets
    for market, ref in refs.items():
        pos = ref.pos
        if pos.size:
            mark = stats[market].mark_price
            if mark is not None:
                total += pos.size * mark * markets[market].notional_unit - pos.cost
    return total


def unrealized_loss(st: State, user: str) -> int:
    """min(U, 0): what cross margin takes off ``available`` for new commitments."""
    u = unrealized(st, user)
    return u if u < 0 else 0


def _mm(spec: MarketSpec, size: int, cost: int, mark: int | None) -> int:
    notional = abs(size) * mark * spec.notional_unit if mark is not None else abs(cost)
    num, den = spec.mm_ratio
    return ceil_div(notional * num, den)


def account(st: State, user: str) -> AccountRisk:
    """The user's collateral, U, equity, IM and MM (see module formulas)."""
    usd = st.ledger.find(user, USD)
    avail, locked = (usd.available, usd.locked) if usd is not None else (0, 0)
    margin = mm = 0
    for market, pos in st.ledger.user_positions(user):
        margin += pos.margin
        if pos.size:
            mm += _mm(st.markets[market], pos.size, pos.cost, st.stats[market].mark_price)
    collateral = avail + locked + margin
    upnl = unrealized(st, user)
    return AccountRisk(collateral, upnl, collateral + upnl, margin + locked, mm)


def below_maintenance(st: State, user: str) -> bool:
    risk = account(st, user)
    return risk.equity < risk.maintenance_margin


def liquidation_price(st: State, user: str, market: str, risk: AccountRisk | None = None
                      ) -> int | None:
    """The mark of ``market`` at which ``user``'s equity meets maintenance (module doc)."""
    pos = st.ledger.positions.get((user, market))
    if pos is None or not pos.size:
        return None
    spec = st.markets[market]
    risk = risk or account(st, user)
    mark = st.stats[market].mark_price
    unit, size, cost = spec.notional_unit, pos.size, pos.cost
    upnl_i = size * mark * unit - cost if mark is not None else 0
    e_rest = risk.equity - upnl_i  # equity with this position valued at its cost
    mm_rest = risk.maintenance_margin - _mm(spec, size, cost, mark)
    num, den = spec.mm_ratio
    # e_rest - cost + m*u*size = mm_rest + m*u*|size|*num/den  ->  m = top / bottom
    top = (mm_rest + cost - e_rest) * den
    bottom = unit * (size * den - abs(size) * num)
    if size > 0:
        root = ceil_div(top, bottom)
        return root if root > 0 else None
    return top // bottom  # bottom < 0: a short is liquidated above this


def position_risks(st: State, user: str) -> dict[str, PositionRisk]:
    """market -> :class:`PositionRisk` for each open (or realised) position."""
    risk = account(st, user)
    out: dict[str, PositionRisk] = {}
    for market, pos in st.ledger.user_positions(user):
        if not pos.size and not pos.realized:
            continue
        spec = st.markets[market]
        mark = st.stats[market].mark_price
        unit = spec.notional_unit
        with localcontext() as ctx:
            ctx.prec = 34
            entry = Decimal(abs(pos.cost)) / (abs(pos.size) * unit) if pos.size else Decimal(0)
            notional = abs(pos.size) * mark * unit if mark is not None else abs(pos.cost)
            lev = (Decimal(notional) / pos.margin).quantize(Decimal("0.01")) \
                if pos.margin else None
        upnl = pos.size * mark * unit - pos.cost if mark is not None and pos.size else 0
        out[market] = PositionRisk(market, pos.size, entry, mark, upnl, pos.margin, lev,
                                   liquidation_price(st, user, market, risk), pos.realized,
                                   pos.cost)
    return out


def isolated_risks(st: State, owner: str) -> dict[int, PositionRisk]:
    """position id -> :class:`PositionRisk` of each of ``owner``'s open isolated positions,
    each valued as the only position of its own account."""
    out: dict[int, PositionRisk] = {}
    for pid, ref in sorted(st.ledger.isolated.get(owner, {}).items()):
        risks = position_risks(st, ref.key[0])
        risk = risks.get(ref.key[1])
        if risk is not None:
            out[pid] = risk
    return out

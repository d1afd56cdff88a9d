"""The ``AccountSummary`` of one user from the engine's live state (the core's cross-margin
figures, :func:`engine_svc.core.perp.account`), as exact decimal strings.

``available_margin = USD available + min(U, 0)`` is what the core's risk stage lets a new
order or a withdrawal commit; ``margin_ratio = MM / E`` rounded up (towards liquidation)
to :data:`RATIO_PLACES`, "0" without maintenance margin, empty when equity is not
positive. Each open position's share: its margin, unrealised PnL and maintenance margin
``ceil(|size| * mark * u * mmr)`` (``|cost|`` for ``|size| * mark * u`` before the market
has a mark), which sum to the account's. Isolated positions follow, each with its own
figures and ``margin_ratio = MM / (margin + U)`` (same rounding): they are not part of
the account's (cross) figures above, which they never draw on.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal, localcontext

from trademesh.v1 import account_pb2, order_pb2

from engine_svc.core.engine import Engine
from engine_svc.core.ledger import USD, Position
from engine_svc.core.markets import MarketConfig, MarketSpec
from engine_svc.core.units import ceil_div
from engine_svc.decimal_edge import formatter

RATIO_PLACES = Decimal("0.000001")


def summary(engine: Engine, config: MarketConfig, user: str) -> account_pb2.AccountSummary:
    risk = engine.account_risk(user)
    available = engine.balances(user).get(USD, (0, 0))[0]
    money = formatter(config.assets[USD].minor)
    out = account_pb2.AccountSummary(
        asset=USD, equity=money(risk.equity), collateral=money(risk.collateral),
        unrealized_pnl=money(risk.unrealized_pnl), initial_margin=money(risk.initial_margin),
        maintenance_margin=money(risk.maintenance_margin),
        available_margin=money(available + min(risk.unrealized_pnl, 0)),
        margin_ratio=margin_ratio(risk.maintenance_margin, risk.equity))
    for market, pos in engine.positions(user).items():
        if pos.size:
            spec = config.markets[market]
            out.positions.append(_position(spec, pos, engine.mark_price(market), money))
    for pid, (market, pos) in engine.isolated_positions(user).items():
        if pos.size:
            spec = config.markets[market]
            row = _position(spec, pos, engine.mark_price(market), money, pid)
            out.positions.append(row)
    return out


def margin_ratio(maintenance: int, equity: int) -> str:
    if not maintenance:
        return "0"
    if equity <= 0:
        return ""
    with localcontext() as ctx:
        ctx.prec = 60
        ratio = (Decimal(maintenance) / Decimal(equity)).quantize(RATIO_PLACES, ROUND_CEILING)
    return format(ratio.normalize(), "f")


def maintenance(spec: MarketSpec, pos: Position, mark: int | None) -> int:
    notional = abs(pos.size) * mark * spec.notional_unit if mark is not None else abs(pos.cost)
    num, den = spec.mm_ratio
    return ceil_div(notional * num, den)


def _position(spec: MarketSpec, pos: Position, mark: int | None,
              money: Callable[[int], str], pid: int = 0) -> account_pb2.PositionMargin:
    upnl = pos.size * mark * spec.notional_unit - pos.cost if mark is not None else 0
    mm = maintenance(spec, pos, mark)
    row = account_pb2.PositionMargin(
        market=spec.symbol, margin_mode=order_pb2.ISOLATED if pid else order_pb2.CROSS,
        side=order_pb2.BUY if pos.size > 0 else order_pb2.SELL,
        size=formatter(spec.lot_size)(abs(pos.size)), margin=money(pos.margin),
        unrealized_pnl=money(upnl), maintenance_margin=money(mm))
    if pid:
        row.position_id = str(pid)
        row.margin_ratio = margin_ratio(mm, pos.margin + upnl)
    return row

"""``ClosePosition`` requests: which position, how much of it, as a core command.

* ``position_id`` empty: the caller's cross position in the market; else one of the
  caller's open isolated positions there (another user's, a closed one or one in another
  market is POSITION_NOT_FOUND, like a missing one).
* ``quantity`` (base units on the lot grid) or ``percent`` (an exact decimal in (0, 100],
  rounded down to whole lots, at least one lot) close part of it; neither closes all;
  both is a conflict. A quantity beyond the position is clamped by the core (reduce-only).
* The close is a reduce-only MARKET IOC order bounded at ``slippage_bps`` (default 500).
"""

from __future__ import annotations

import re
from decimal import Decimal

from engine_svc import request_codec
from engine_svc.core.commands import PlaceOrder
from engine_svc.core.engine import Engine
from engine_svc.core.enums import OrderType, RejectReason, Side
from engine_svc.core.markets import MarketSpec
from engine_svc.core.units import ValidationError
from mesh_runtime.ascii_digits import PERCENT_PATTERN

CLOSE_SLIPPAGE_BPS = 500
PERCENT = re.compile(PERCENT_PATTERN, re.ASCII)


class NothingToClose(Exception):
    """The named position is not open (the core's reason to answer with)."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def close_command(engine: Engine, spec: MarketSpec, user: str, pid_text: str,
                  quantity: str, percent: str, slippage_bps: int, ts: int) -> PlaceOrder:
    """The order that closes what the request asks (module rules)."""
    pid = request_codec.position_id(pid_text)
    size = _size(engine, spec, user, pid)
    slippage = slippage_bps or CLOSE_SLIPPAGE_BPS
    if slippage >= 10_000:
        raise ValidationError("slippageBps", "TOO_LARGE", "must be below 10000")
    lots = _lots(spec, abs(size), quantity, percent)
    return PlaceOrder(
        user_id=user, market=spec.symbol, side=Side.SELL if size > 0 else Side.BUY,
        quantity=lots, type=OrderType.MARKET, reduce_only=not pid, position_id=pid,
        slippage_bps=slippage, ts=ts)


def _size(engine: Engine, spec: MarketSpec, user: str, pid: int) -> int:
    size = engine.position_size(user, spec.symbol, pid)
    if not size:
        raise NothingToClose(RejectReason.POSITION_NOT_FOUND if pid
                             else RejectReason.REDUCE_ONLY_WOULD_INCREASE)
    return size


def _lots(spec: MarketSpec, held: int, quantity: str, percent: str) -> int:
    if quantity and percent:
        raise ValidationError("percent", "CONFLICT", "give quantity or percent, not both")
    if quantity:
        return request_codec.lots(spec, quantity)
    if not percent:
        return held
    if PERCENT.fullmatch(percent) is None:
        raise ValidationError("percent", "INVALID", "must be a decimal in (0, 100]")
    num, den = Decimal(percent).as_integer_ratio()
    lots = held * num // (den * 100)  # exact, rounded down to whole lots
    if lots < max(1, spec.min_lots):
        raise ValidationError("percent", "TOO_SMALL", "closes less than the minimum quantity")
    return lots

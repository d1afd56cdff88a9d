"""A hand-built engine event stream with isolated positions (the engine's side of issue #15
is built in parallel; these are the events its contract promises).

SOL-PERP, no fees. ``u`` holds, at once, a cross long of 10 at 100 and two isolated longs
opened by orders 3 (4 at 100, margin 40) and 4 (6 at 100, margin 60); ``mm`` is the cross
counterparty of every fill and ``__insurance__`` the fund. Then:

* funding: ``u`` pays on the cross position and on each isolated one, ``mm`` receives;
* position 3 is closed by half (2 sold at 110, +20) then fully (2 sold at 120, +40):
  exit price 115, realized 60, 10x, CLOSED;
* position 4 is liquidated at 85, all 6 lots taken over by the insurance fund: exit price
  85, realized -90, LIQUIDATED.

The cross position never moves after it opens. Each command is one batch (as the event
link sends whole commands); :func:`batches` numbers the events 1, 2, ….
"""

from __future__ import annotations

from decimal import Decimal

from trademesh.v1 import account_pb2, event_pb2, market_pb2, order_pb2

SOL = "SOL-PERP"
T0 = 1_700_000_000_000
FUND = "__insurance__"
LIQUIDATED = account_pb2.ClosedPosition.LIQUIDATED
Event = event_pb2.EngineEvent
Side = order_pb2.Side.ValueType
Mode = order_pb2.MarginMode.ValueType


def order(oid: int, user: str, side: Side, qty: str, price: str = "",
          mode: Mode = order_pb2.CROSS, position: str = "") -> Event:
    """An order accepted (NEW); ``mode`` ISOLATED with ``position`` its own id opens an
    isolated position, with another id reduces that one."""
    return Event(user_id=user, order=order_pb2.Order(
        order_id=str(oid), user_id=user, market=SOL, side=side,
        type=order_pb2.LIMIT if price else order_pb2.MARKET,
        time_in_force=order_pb2.GTC if price else order_pb2.IOC,
        status=order_pb2.NEW, price=price, quantity=qty, margin_mode=mode,
        position_id=position))


def execution(trade: int, price: str, qty: str, taker: tuple[int, str, Side, str],
              maker: tuple[int, str, str], remaining: tuple[str, str]) -> Event:
    """``taker`` (order, user, side, realized PnL) takes ``qty`` from ``maker`` (order,
    user, realized PnL); ``remaining`` is what is left of each order."""
    t_oid, t_user, side, t_pnl = taker
    m_oid, m_user, m_pnl = maker
    other = order_pb2.SELL if side == order_pb2.BUY else order_pb2.BUY

    def fill(oid: int, user: str, fill_side: Side, pnl: str) -> order_pb2.Fill:
        return order_pb2.Fill(order_id=str(oid), user_id=user, market=SOL, side=fill_side,
                              price=price, quantity=qty, fee="0", fee_asset="USD",
                              realized_pnl=pnl)

    return Event(execution=event_pb2.Execution(
        taker=fill(t_oid, t_user, side, t_pnl), maker=fill(m_oid, m_user, other, m_pnl),
        trade=market_pb2.Trade(trade_id=str(trade), market=SOL, price=price, quantity=qty,
                               taker_side=order_pb2.Side.Name(side)),
        taker_remaining=remaining[0], maker_remaining=remaining[1], base_asset="SOL",
        quote_asset="USD", perp=True))


def position(user: str, size: str, entry: str, margin: str, realized: str,
             position_id: str = "",
             reason: account_pb2.ClosedPosition.CloseReason.ValueType = 0) -> Event:
    """A position's state after a command (``size`` signed)."""
    signed = Decimal(size)
    side: Side = order_pb2.BUY if signed > 0 else order_pb2.SELL if signed < 0 else \
        order_pb2.SIDE_UNSPECIFIED
    mode: Mode = order_pb2.ISOLATED if position_id else order_pb2.CROSS
    return Event(user_id=user, close_reason=reason, position=account_pb2.Position(
        user_id=user, market=SOL, side=side, size=str(abs(signed)), entry_price=entry,
        cost=str(signed * Decimal(entry)), margin=margin, realized_pnl=realized,
        position_id=position_id, margin_mode=mode))


def funding(user: str, size: str, amount: str, position_id: str = "") -> Event:
    return Event(user_id=user, funding=account_pb2.FundingPayment(
        user_id=user, market=SOL, rate="0.0001", position_size=size, amount=amount,
        position_id=position_id))


def liquidation(lid: str, user: str, size: str, price: str, position_id: str) -> Event:
    """A long of ``size`` liquidated at ``price``, every lot taken by the insurance fund."""
    return Event(user_id=user, liquidation=account_pb2.Liquidation(
        liquidation_id=lid, user_id=user, market=SOL, side=order_pb2.BUY, size=size,
        price=price, fee="0", insurance_fund_delta="0", closed_on_book="0",
        taken_by_fund=size, position_id=position_id))


BUY, SELL, ISO = order_pb2.BUY, order_pb2.SELL, order_pb2.ISOLATED
OPEN = [  # mm rests 30 at 100; u buys 10 cross, 4 and 6 isolated
    [order(1, "mm", SELL, "30", "100")],
    [order(2, "u", BUY, "10"),
     execution(1, "100", "10", (2, "u", BUY, "0"), (1, "mm", "0"), ("0", "20")),
     position("u", "10", "100", "100", "0"), position("mm", "-10", "100", "500", "0")],
    [order(3, "u", BUY, "4", mode=ISO, position="3"),
     execution(2, "100", "4", (3, "u", BUY, "0"), (1, "mm", "0"), ("0", "16")),
     position("u", "4", "100", "40", "0", "3"), position("mm", "-14", "100", "700", "0")],
    [order(4, "u", BUY, "6", mode=ISO, position="4"),
     execution(3, "100", "6", (4, "u", BUY, "0"), (1, "mm", "0"), ("0", "10")),
     position("u", "6", "100", "60", "0", "4"), position("mm", "-20", "100", "1000", "0")],
]
FUNDING = [[funding("u", "10", "-0.1"), funding("u", "4", "-0.04", "3"),
            funding("u", "6", "-0.06", "4"), funding("mm", "-20", "0.2")]]
HALF = [  # mm bids 20 at 110; u sells 2 of position 3 (reduce-only on it)
    [order(5, "mm", BUY, "20", "110")],
    [order(6, "u", SELL, "2", mode=ISO, position="3"),
     execution(4, "110", "2", (6, "u", SELL, "20"), (5, "mm", "-20"), ("0", "18")),
     position("u", "2", "100", "20", "20", "3"), position("mm", "-18", "100", "900", "-20")],
]
FULL = [  # mm bids 2 at 120 (the best bid); u sells the last 2 of position 3
    [order(7, "mm", BUY, "2", "120")],
    [order(8, "u", SELL, "2", mode=ISO, position="3"),
     execution(5, "120", "2", (8, "u", SELL, "40"), (7, "mm", "-40"), ("0", "0")),
     position("u", "0", "0", "0", "60", "3"), position("mm", "-16", "100", "800", "-60")],
]
LIQUIDATE = [  # position 4 liquidated at 85, the fund takes all 6 lots
    [liquidation("99", "u", "6", "85", "4"),
     position("u", "0", "0", "0", "-90", "4", LIQUIDATED),
     position(FUND, "6", "85", "0", "0")],
]
COMMANDS = [*OPEN, *FUNDING, *HALF, *FULL, *LIQUIDATE]


def batches(commands: list[list[Event]] | None = None, t0: int = T0) -> list[list[Event]]:
    """``commands`` (default: all of them), each a batch, numbered from 1, a second apart."""
    out: list[list[Event]] = []
    seq = 0
    for command in COMMANDS if commands is None else commands:
        batch = []
        for ev in command:
            seq += 1
            copy = Event()
            copy.CopyFrom(ev)
            copy.sequence, copy.command_sequence = seq, len(out) + 1
            copy.time.FromMilliseconds(t0 + seq * 1000)
            batch.append(copy)
        out.append(batch)
    return out

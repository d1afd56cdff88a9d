"""Outbox entries (canonical core-event JSON) → ``EngineEvent`` protos for the event link.

One core event becomes exactly one ``EngineEvent`` with the same sequence number, so the
stream persistence sees stays gap-free. Integers (ticks, lots, minor units) become decimal
strings with the market's and asset's specs. Mapping:

* ``OrderAccepted`` → ``order`` (status NEW) with the order's terms: post-only,
  reduce-only, leverage, self-trade prevention, slippage bound and bracket prices; a MARKET
  order has no ``price`` (its bound is ``slippage_bps``). Entries written before the core
  event carried those terms leave them unset (``self_trade_prevention`` UNSPECIFIED says
  so) and keep the price they were sent with then; ``OrderCanceled`` → ``order`` (CANCELED,
  ``reason``); ``OrderReplaced`` → ``order`` with status UNSPECIFIED (an amendment: new
  price and remaining quantity); ``OrderRejected`` → ``order`` (REJECTED; changes nothing).
* ``OrderFilled`` → ``execution``: the taker's and the maker's fill (with the PnL each
  realized, perps only) and the public trade.
* ``BalanceChanged`` → ``balance`` (the after-state); ``PositionChanged`` → ``position``
  (after-state with signed ``cost``); ``DepositApplied``/``WithdrawalApplied`` →
  ``transfer`` (withdrawals negative); ``TransferRejected`` → an event without a body.
* ``TriggerPlaced`` / ``TriggerUpdated`` / ``TriggerFired`` / ``TriggerCanceled`` →
  ``trigger`` (action ARMED / UPDATED / FIRED / CANCELED; for the user channel).

Isolated positions: events of one carry its ``position_id`` (orders, positions,
liquidations, funding, triggers) and ``margin_mode`` ISOLATED; perp orders and positions
without one are CROSS.

Close reasons: a ``position`` event carries ``close_reason`` LIQUIDATED when a
``PositionLiquidated`` of the same command named its user, market and position, STOP_LOSS /
TAKE_PROFIT when a ``TriggerFired`` did (the later one wins: a sweep runs after the
triggers); the encoder remembers only the command being encoded (forgotten at the next
one, or when the events do not continue: a resent batch).

Events without a timestamp of their own carry the newest one seen before them (the
command's time for a fill's balance changes), or the encoder's clock for the first one.

Compact on the link (:meth:`EventEncoder.encode_batch`): persistence keeps only a batch's
last state per balance, so a ``BalanceChanged`` followed in the same batch by another of the
same user and asset is sent as the envelope only (sequence, command sequence and user).
Nested copies persistence does not read are left out: a fill's ``fill_id``, ``trade_id``,
``market``, ``price``, ``quantity`` and ``time`` are the execution's ``trade``'s, and nested
times are the envelope's. Outbox JSON is parsed with orjson; a body with a float (an integer
beyond 64 bits) is parsed again with :mod:`json`, which keeps integers exact. A span
record (a command's account changes, :mod:`engine_svc.outbox_span`) is expanded to the
events it covers first; only orjson writes spans, so their integers fit 64 bits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeAlias

import orjson
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from trademesh.v1 import account_pb2, event_pb2, market_pb2, order_pb2, trigger_pb2

from engine_svc.command_codec import body_of
from engine_svc.core.enums import MarketKind
from engine_svc.core.markets import AssetSpec, MarketConfig, MarketSpec
from engine_svc.outbox_span import expand, is_span

Body = dict[str, Any]
Events = RepeatedCompositeFieldContainer[event_pb2.EngineEvent]
SIDES = {"BUY": order_pb2.BUY, "SELL": order_pb2.SELL}
TYPES = {name: order_pb2.OrderType.Value(name) for name in ("LIMIT", "MARKET")}
TIFS = {name: order_pb2.TimeInForce.Value(name) for name in ("GTC", "IOC", "FOK")}
STPS = {name: order_pb2.SelfTradePrevention.Value(name)
        for name in ("CANCEL_TAKER", "CANCEL_MAKER", "CANCEL_BOTH")}
Reason: TypeAlias = account_pb2.ClosedPosition.CloseReason.ValueType
CLOSED_BY: dict[str, Reason] = {"LIQUIDATED": account_pb2.ClosedPosition.LIQUIDATED,
             "STOP_LOSS": account_pb2.ClosedPosition.STOP_LOSS,
             "TAKE_PROFIT": account_pb2.ClosedPosition.TAKE_PROFIT}
KINDS = {name: trigger_pb2.TriggerKind.Value(name)
         for name in ("STOP_LOSS", "TAKE_PROFIT", "STOP_MARKET", "STOP_LIMIT")}


class Scale:
    """Integer units of ``step`` (``mult * 10**-exp``) → exact decimal text, no Decimal."""

    __slots__ = ("exp", "memo", "mult")

    def __init__(self, step: Decimal) -> None:
        sign, digits, exponent = step.normalize().as_tuple()
        assert isinstance(exponent, int) and not sign
        self.mult = int("".join(map(str, digits))) * 10 ** max(exponent, 0)
        self.exp = max(-exponent, 0)
        self.memo: dict[int, str] = {}

    def text(self, units: int) -> str:
        """Memoized: prices, lots and fees repeat a lot (bounded to 65,536 entries)."""
        found = self.memo.get(units)
        if found is None:
            if len(self.memo) >= 65_536:
                self.memo.clear()
            found = self.memo[units] = self._text(units)
        return found

    def _text(self, units: int) -> str:
        value = units * self.mult
        if not self.exp:
            return str(value)
        digits = str(abs(value)).rjust(self.exp + 1, "0")
        whole, frac = digits[:-self.exp], digits[-self.exp:].rstrip("0")
        sign = "-" if value < 0 else ""
        return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


class EventEncoder:
    """Stateful only in the carried-forward timestamp; otherwise a pure translation."""

    def __init__(self, config: MarketConfig, clock_ms: Callable[[], int]) -> None:
        self._clock = clock_ms
        self._last_ts = 0
        self._asset = {a.symbol: Scale(a.minor) for a in config.assets.values()}
        self._price = {m.symbol: Scale(m.tick_size) for m in config.markets.values()}
        self._qty = {m.symbol: Scale(m.lot_size) for m in config.markets.values()}
        self._markets = dict(config.markets)
        self._assets = dict(config.assets)
        self._command = -1  # the command whose close reasons are remembered
        self._seq = -1  # the last event encoded
        # (user, market) -> close reason
        self._reasons: dict[tuple[str, str, int], Reason] = {}
        """(user, market, position id) -> why the position closes in this command."""
        self._handlers: dict[str, Callable[[event_pb2.EngineEvent, Body], None]] = {
            "OrderAccepted": self._accepted, "OrderRejected": self._rejected,
            "OrderFilled": self._filled, "OrderCanceled": self._canceled,
            "OrderReplaced": self._replaced, "BalanceChanged": self._balance,
            "PositionChanged": self._position, "DepositApplied": self._transfer,
            "WithdrawalApplied": self._transfer, "TransferRejected": _nothing,
            "OpenOrderLimitSet": _nothing,
            # Perpetuals: balance and position effects arrive as BalanceChanged and
            # PositionChanged; liquidations and funding payments also become history rows.
            "PositionLiquidated": self._liquidated, "FundingPaid": self._funding,
            "IndexPriceSet": _nothing, "FundingSettled": _nothing,
            "PerpCommandRejected": _nothing,
            # Triggers: for the user channel (persistence keeps no trigger rows); a fired
            # stop-loss / take-profit also names the close reason of its position.
            "TriggerPlaced": self._trigger_placed, "TriggerUpdated": self._trigger_updated,
            "TriggerFired": self._trigger_fired, "TriggerCanceled": self._trigger_canceled,
            "TriggerLimitSet": _nothing,
            # The registry: new markets and assets are learnt here, in outbox order, so
            # every later event on them finds its scales.
            "AssetAdded": self._asset_added, "MarketChanged": self._market_changed,
            "RegistryCommandRejected": _nothing,
        }

    def encode(self, raw: bytes) -> event_pb2.EngineEvent:
        """One one-event outbox record (not a span), in full."""
        return self.encode_fields(decode(raw))

    def encode_fields(self, body: Body) -> event_pb2.EngineEvent:
        """:meth:`encode` of a record already decoded (``command_codec.fields``)."""
        event = event_pb2.EngineEvent(sequence=body["seq"], command_sequence=body["cmd_seq"],
                                      user_id=body.get("user_id") or "")
        self._body(event, body, True)
        return event

    def encode_batch(self, raws: Sequence[bytes], into: Events, after: int = 0) -> None:
        """The events of consecutive outbox records (spans expanded) with sequence above
        ``after``, appended to ``into`` (built in place, not copied); superseded balance
        changes as envelopes only."""
        bodies: list[Body] = []
        for raw in raws:
            if is_span(raw):
                bodies.extend(expand(orjson.loads(raw)))
            else:
                bodies.append(decode(raw))
        if bodies and bodies[0]["seq"] <= after:
            bodies = [body for body in bodies if body["seq"] > after]
        last: dict[tuple[str, str], int] = {}
        for i, body in enumerate(bodies):
            if body["@type"] == "BalanceChanged":
                last[body["user_id"], body["asset"]] = i
        final = set(last.values())
        add = into.add
        for i, body in enumerate(bodies):
            event = add(sequence=body["seq"], command_sequence=body["cmd_seq"],
                        user_id=body.get("user_id") or "")
            self._body(event, body, body["@type"] != "BalanceChanged" or i in final)

    def _body(self, event: event_pb2.EngineEvent, body: Body, full: bool) -> None:
        ts = body.get("ts")
        if ts:
            self._last_ts = int(ts)
        elif not self._last_ts:
            self._last_ts = self._clock()
        seq = body["seq"]
        if body["cmd_seq"] != self._command or seq != self._seq + 1:  # a new command, or a
            self._command = body["cmd_seq"]  # resent one: its reasons are found again
            self._reasons.clear()
        self._seq = seq
        if full:
            seconds, millis = divmod(self._last_ts, 1000)
            event.time.seconds, event.time.nanos = seconds, millis * 1_000_000
            self._handlers[body["@type"]](event, body)

    def learn(self, config: MarketConfig) -> None:
        """Takes the assets and markets of ``config`` it does not know yet (for a user of
        the encoder that does not feed it the registry events themselves)."""
        for asset in config.assets.values():
            if asset.symbol not in self._assets:
                self._assets[asset.symbol] = asset
                self._asset[asset.symbol] = Scale(asset.minor)
        for spec in config.markets.values():
            if spec.symbol not in self._markets:
                self._markets[spec.symbol] = spec
                self._price[spec.symbol] = Scale(spec.tick_size)
                self._qty[spec.symbol] = Scale(spec.lot_size)

    def _asset_added(self, event: event_pb2.EngineEvent, b: Body) -> None:
        decimals = int(b["decimals"])
        self._assets.setdefault(b["symbol"], AssetSpec(b["symbol"], decimals))
        self._asset.setdefault(b["symbol"], Scale(self._assets[b["symbol"]].minor))
        event.asset.symbol, event.asset.decimals = b["symbol"], decimals

    def _market_changed(self, event: event_pb2.EngineEvent, b: Body) -> None:
        symbol = b["symbol"]
        if symbol not in self._markets:  # grid and assets never change: learnt once
            self._markets[symbol] = MarketSpec(
                symbol, MarketKind(b["kind"]), self._assets[b["base_asset"]],
                self._assets[b["quote_asset"]], Decimal(b["tick_size"]), Decimal(b["lot_size"]),
                Decimal(b["min_quantity"]), b["max_leverage"])
            self._price[symbol] = Scale(Decimal(b["tick_size"]))
            self._qty[symbol] = Scale(Decimal(b["lot_size"]))
        perp = b["kind"] == "PERP"
        m = event.market
        m.symbol, m.kind = symbol, market_pb2.MarketKind.Value(b["kind"])
        m.base_asset, m.quote_asset = b["base_asset"], b["quote_asset"]
        m.tick_size = _plain(Decimal(b["tick_size"]))
        m.lot_size = _plain(Decimal(b["lot_size"]))
        m.min_quantity = _plain(Decimal(b["min_quantity"]))
        m.max_leverage, m.maker_fee_bps = b["max_leverage"], b["maker_fee_bps"]
        m.taker_fee_bps = b["taker_fee_bps"]
        m.maintenance_margin_rate = _plain(Decimal(b["maintenance_margin_rate"])) if perp \
            else ""
        m.status = market_pb2.MarketStatus.Value(b["status"])

    def _accepted(self, event: event_pb2.EngineEvent, b: Body) -> None:
        o, market = event.order, b["market"]
        o.order_id, o.client_order_id = str(b["order_id"]), b["client_order_id"] or ""
        o.user_id, o.market, o.side = b["user_id"], market, SIDES[b["side"]]
        o.type, o.time_in_force, o.status = TYPES[b["type"]], TIFS[b["tif"]], order_pb2.NEW
        o.quantity = self._qty[market].text(b["quantity"])
        if "stp" in b:  # the order's terms; absent from entries older than them
            self._terms(o, b)
        elif b["price"]:  # such an entry went out with a MARKET order's bound as its price
            o.price = self._price[market].text(b["price"])
        pid = b.get("position_id") or 0  # absent from entries older than isolated positions
        if pid:
            o.position_id, o.margin_mode = str(pid), order_pb2.ISOLATED
        elif self._markets[market].is_perp:
            o.margin_mode = order_pb2.CROSS

    def _terms(self, o: order_pb2.Order, b: Body) -> None:
        """What the order asked for: its limit price (none for MARKET: the bound it stops
        at is ``slippage_bps``), flags, leverage, self-trade prevention and brackets."""
        price = self._price[b["market"]]
        o.price = price.text(b["price"]) if b["type"] == "LIMIT" else ""
        o.post_only, o.reduce_only = b["post_only"], b["reduce_only"]
        o.leverage, o.self_trade_prevention = b["leverage"], STPS[b["stp"]]
        o.slippage_bps = b["slippage_bps"]
        stop_loss, take_profit = b["stop_loss"], b["take_profit"]
        o.stop_loss = price.text(stop_loss) if stop_loss is not None else ""
        o.take_profit = price.text(take_profit) if take_profit is not None else ""

    def _rejected(self, event: event_pb2.EngineEvent, b: Body) -> None:
        o = event.order
        o.order_id = str(b["order_id"]) if b["order_id"] else ""
        o.client_order_id, o.user_id = b["client_order_id"] or "", b["user_id"]
        o.market, o.status, o.reason = b["market"], order_pb2.REJECTED, b["reason"]

    def _canceled(self, event: event_pb2.EngineEvent, b: Body) -> None:
        o = event.order
        o.order_id, o.user_id, o.market = str(b["order_id"]), b["user_id"], b["market"]
        o.status, o.reason = order_pb2.CANCELED, b["reason"]

    def _replaced(self, event: event_pb2.EngineEvent, b: Body) -> None:
        o, market = event.order, b["market"]
        o.order_id, o.user_id, o.market = str(b["order_id"]), b["user_id"], market
        o.price = self._price[market].text(b["price"])
        o.quantity = self._qty[market].text(b["quantity"])

    def _filled(self, event: event_pb2.EngineEvent, b: Body) -> None:
        spec = self._markets[b["market"]]
        quote, qty = self._asset[spec.quote.symbol], self._qty[spec.symbol]
        buy = b["taker_side"] == "BUY"
        ex = event.execution
        taker, maker = ex.taker, ex.maker
        taker.order_id, taker.user_id = str(b["taker_order_id"]), b["taker_user_id"]
        taker.fee_asset, taker.fee = spec.quote.symbol, quote.text(b["taker_fee"])
        taker.side, taker.liquidity = SIDES[b["taker_side"]], order_pb2.TAKER
        maker.order_id, maker.user_id = str(b["maker_order_id"]), b["maker_user_id"]
        maker.fee_asset, maker.fee = spec.quote.symbol, quote.text(b["maker_fee"])
        maker.side = order_pb2.SELL if buy else order_pb2.BUY
        maker.liquidity = order_pb2.MAKER
        t = ex.trade
        t.trade_id, t.market, t.taker_side = str(b["fill_id"]), spec.symbol, b["taker_side"]
        t.price, t.quantity = self._price[spec.symbol].text(b["price"]), qty.text(b["quantity"])
        if spec.is_perp and "taker_realized" in b:  # outbox entries of older releases lack it
            taker.realized_pnl = quote.text(b["taker_realized"])
            maker.realized_pnl = quote.text(b["maker_realized"])
        ex.taker_remaining = qty.text(b["taker_remaining"])
        ex.maker_remaining = qty.text(b["maker_remaining"])
        ex.base_asset, ex.quote_asset, ex.perp = spec.base.symbol, spec.quote.symbol, \
            spec.is_perp

    def _balance(self, event: event_pb2.EngineEvent, b: Body) -> None:
        scale = self._asset[b["asset"]]
        event.balance.user_id = b["user_id"]
        bal = event.balance.balance
        bal.asset, bal.available, bal.locked = b["asset"], scale.text(b["available"]), \
            scale.text(b["locked"])

    def _position(self, event: event_pb2.EngineEvent, b: Body) -> None:
        spec = self._markets[b["market"]]
        quote = self._asset[spec.quote.symbol]
        size, cost = int(b["size"]), int(b["cost"])
        p = event.position
        p.market, p.user_id = spec.symbol, b["user_id"]
        p.side = order_pb2.BUY if size > 0 else order_pb2.SELL if size < 0 \
            else order_pb2.SIDE_UNSPECIFIED
        p.size = self._qty[spec.symbol].text(abs(size))
        if size:
            entry = Decimal(cost) / Decimal(size * spec.notional_unit) * spec.tick_size
            p.entry_price = _plain(entry.quantize(spec.tick_size / 10**6))
        else:
            p.entry_price = "0"
        p.margin, p.realized_pnl = quote.text(b["margin"]), quote.text(b["realized_pnl"])
        p.cost = quote.text(cost)
        pid = b.get("position_id") or 0
        if pid:
            p.position_id, p.margin_mode = str(pid), order_pb2.ISOLATED
        else:
            p.margin_mode = order_pb2.CROSS
        reason = self._reasons.get((p.user_id, spec.symbol, pid))
        if reason is not None:
            event.close_reason = reason

    def _liquidated(self, event: event_pb2.EngineEvent, b: Body) -> None:
        spec = self._markets[b["market"]]
        quote, size = self._asset[spec.quote.symbol], int(b["size"])
        liq = event.liquidation
        liq.liquidation_id, liq.user_id, liq.market = str(b["seq"]), b["user_id"], spec.symbol
        liq.side = order_pb2.BUY if size > 0 else order_pb2.SELL  # the position's side
        liq.size = self._qty[spec.symbol].text(abs(size))
        liq.price = self._price[spec.symbol].text(int(b["mark_price"]))
        liq.fee = quote.text(int(b["fee"]))
        liq.insurance_fund_delta = quote.text(int(b["fund_covered"]))
        liq.closed_on_book = self._qty[spec.symbol].text(int(b["closed_on_book"]))
        liq.taken_by_fund = self._qty[spec.symbol].text(int(b["taken_by_fund"]))
        liq.time.CopyFrom(event.time)
        pid = b.get("position_id") or 0
        liq.position_id = str(pid) if pid else ""
        self._reasons[b["user_id"], spec.symbol, pid] = CLOSED_BY["LIQUIDATED"]

    def _funding(self, event: event_pb2.EngineEvent, b: Body) -> None:
        spec = self._markets[b["market"]]
        pay = event.funding
        pay.payment_id, pay.user_id, pay.market = str(b["seq"]), b["user_id"], spec.symbol
        pay.rate = _RATE.text(int(b["rate_ppm"]))
        size = int(b["size"])
        pay.position_size = self._qty[spec.symbol].text(size)
        pay.amount = self._asset[spec.quote.symbol].text(int(b["amount"]))
        pay.time.CopyFrom(event.time)
        pid = b.get("position_id") or 0
        pay.position_id = str(pid) if pid else ""

    def _trigger(self, event: event_pb2.EngineEvent, b: Body,
                 action: trigger_pb2.TriggerAction.ValueType) -> trigger_pb2.Trigger:
        event.trigger.action = action
        t = event.trigger.trigger
        t.trigger_id, t.market, t.user_id = str(b["trigger_id"]), b["market"], b["user_id"]
        return t

    def _trigger_prices(self, t: trigger_pb2.Trigger, b: Body) -> None:
        price, market = self._price[b["market"]], b["market"]
        t.trigger_price = price.text(b["trigger_price"])
        limit = b.get("limit_price")  # absent from outbox entries older than stop orders
        t.limit_price = price.text(limit) if limit else ""
        t.quantity = self._qty[market].text(b["quantity"]) if b["quantity"] else ""

    def _trigger_placed(self, event: event_pb2.EngineEvent, b: Body) -> None:
        t = self._trigger(event, b, trigger_pb2.TRIGGER_ARMED)
        self._trigger_prices(t, b)
        order_id = b.get("order_id") or 0
        if not b["quantity"] and order_id:
            t.quantity = "0"  # an order's: grows with its fills
        t.kind, t.side = KINDS[b["kind"]], SIDES[b["side"]]
        t.order_id, t.pending = str(order_id) if order_id else "", bool(order_id)
        t.create_time.CopyFrom(event.time)
        pid = b.get("position_id") or 0
        t.position_id = str(pid) if pid else ""

    def _trigger_updated(self, event: event_pb2.EngineEvent, b: Body) -> None:
        self._trigger_prices(self._trigger(event, b, trigger_pb2.TRIGGER_UPDATED), b)

    def _trigger_fired(self, event: event_pb2.EngineEvent, b: Body) -> None:
        """The ``trigger`` body; a stop-loss / take-profit also gives the close reason of
        the position its order closes (see the module's note on close reasons)."""
        t = self._trigger(event, b, trigger_pb2.TRIGGER_FIRED)
        t.quantity = self._qty[b["market"]].text(b["quantity"])
        kind = b.get("kind")  # absent from outbox entries older than stop orders
        if kind is not None:
            t.kind = KINDS[kind]
        if kind in CLOSED_BY:
            pid = b.get("position_id") or 0
            self._reasons[b["user_id"], b["market"], pid] = CLOSED_BY[kind]
        event.trigger.mark_price = self._price[b["market"]].text(b["mark_price"])

    def _trigger_canceled(self, event: event_pb2.EngineEvent, b: Body) -> None:
        self._trigger(event, b, trigger_pb2.TRIGGER_CANCELED)
        event.trigger.reason = b["reason"]

    def _transfer(self, event: event_pb2.EngineEvent, b: Body) -> None:
        units = b["amount"] if b["@type"] == "DepositApplied" else -b["amount"]
        tr = event.transfer
        tr.asset, tr.amount = b["asset"], self._asset[b["asset"]].text(units)
        tr.transaction_id = b["tx_id"] or ""


_RATE = Scale(Decimal("0.000001"))  # funding rates travel in parts per million


def decode(raw: bytes) -> Body:
    """Outbox JSON (either form: :mod:`engine_svc.command_codec`) → the object form's dict,
    integers exact (orjson turns those beyond 64 bits into floats)."""
    parsed: Any = orjson.loads(raw)
    if float in map(type, parsed.values() if isinstance(parsed, dict) else parsed):
        parsed = json.loads(raw)
    return body_of(parsed)


def _plain(value: Decimal) -> str:
    """A decimal without exponent or needless trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def _nothing(event: event_pb2.EngineEvent, body: Body) -> None:
    """An event that changed nothing durable (a refused transfer): the envelope only."""

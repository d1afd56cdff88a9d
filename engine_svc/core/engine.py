"""The engine: ``Engine.apply(command) -> list[Event]`` over all markets.

Invariants:

* ``apply`` never raises for a well-typed command: every outcome, rejections included,
  is a list of events. Each call consumes exactly one command sequence number
  (``last_seq``) and the events carry gap-free event sequence numbers.
* Nothing here reads a clock, a random source or does I/O; replaying the same commands
  into ``Engine(config)`` (or into ``Engine.restore`` of a snapshot taken at command N,
  with commands N+1.. after it) yields the same events and the same ``state_hash()``.
* Another user's order is indistinguishable from a missing one (ORDER_NOT_FOUND).
* Assets and markets are data (:mod:`registry`): ``AddAsset`` / ``AddMarket`` /
  ``UpdateMarket`` change the registry this engine was built with; a halted market's
  triggers do not fire.
* Perps: ``SetIndexPrice`` sets the index, samples the mark (:mod:`perp`) and runs the
  liquidation sweep (:mod:`liquidation`); ``SettleFunding`` pays funding
  (:mod:`funding`) then sweeps. No other command moves a mark or liquidates. Triggers
  (:mod:`triggers`: stop-loss / take-profit, stop orders) fire inside ``SetIndexPrice``
  before the sweep; at the end of every command an order's attached triggers follow its
  fills and a stop-loss / take-profit whose position closed is canceled.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, NamedTuple

from engine_svc.core import (
    amend,
    funding,
    isolated,
    liquidation,
    matching,
    perp,
    registry,
    snapshot,
    triggers,
)
from engine_svc.core.book import Order
from engine_svc.core.commands import (
    AddAsset,
    AddMarket,
    CancelAll,
    CancelByClientId,
    CancelOrder,
    CancelTrigger,
    Command,
    Deposit,
    MoveTrigger,
    PlaceOrder,
    PlaceTrigger,
    ReplaceOrder,
    SetIndexPrice,
    SetOpenOrderLimit,
    SettleFunding,
    SetTriggerLimit,
    UpdateMarket,
    Withdraw,
)
from engine_svc.core.enums import (
    CancelReason,
    OrderStatus,
    RejectReason,
    Side,
    TriggerKind,
)
from engine_svc.core.events import (
    DepositApplied,
    Event,
    IndexPriceSet,
    OpenOrderLimitSet,
    PerpCommandRejected,
    TransferRejected,
    TriggerLimitSet,
    WithdrawalApplied,
)
from engine_svc.core.ledger import FEE_ACCOUNT, ISO_PREFIX, USD, Position
from engine_svc.core.markets import MarketConfig
from engine_svc.core.perp import AccountRisk, PositionRisk
from engine_svc.core.state import State, Trade, Trigger
from engine_svc.core.units import MAX_UNITS


class Quote(NamedTuple):
    """What a market order of ``requested`` lots would get now (no slippage bound)."""

    avg_price: Decimal | None
    worst_price: int | None
    fillable: int
    notional: int


class TriggerView(NamedTuple):
    """An armed trigger. ``quantity`` 0 means the whole position when it fires, unless
    ``order_id`` names the order it came with (it holds that order's filled lots, and
    ``pending`` says the order may still fill); ``limit_price`` 0: none."""

    trigger_id: int
    market: str
    side: Side
    kind: TriggerKind
    trigger_price: int
    quantity: int
    ts: int
    limit_price: int
    order_id: int
    pending: bool
    leverage: int
    reduce_only: bool
    position_id: int = 0


class OrderView(NamedTuple):
    order_id: int
    user_id: str
    market: str
    side: Side
    price: int
    quantity: int
    remaining: int
    filled: int
    status: OrderStatus
    client_order_id: str | None
    ts: int
    position_id: int = 0


def _view(o: Order) -> OrderView:
    return OrderView(o.id, o.user_id, o.market, o.side, o.price, o.quantity, o.remaining,
                     o.filled, o.status, o.client_order_id, o.ts, o.position_id)


def _trigger_view(t: Trigger) -> TriggerView:
    return TriggerView(t.id, t.market, t.side, t.kind, t.price, t.quantity, t.ts,
                       t.limit_price, t.order_id, t.parent is not None, t.leverage,
                       t.reduce_only, t.position_id)


class Engine:
    """All markets' books, balances and positions behind one sequencer."""

    def __init__(self, config: MarketConfig) -> None:
        self._st = State(config)

    @property
    def config(self) -> MarketConfig:
        """The live registry (the defaults given, plus runtime assets and markets)."""
        return self._st.config

    # ---------------------------------------------------------------- commands
    def apply(self, command: Command) -> list[Event]:
        """Apply one command; returns its events (possibly a single rejection)."""
        st = self._st
        st.last_seq += 1
        out: list[Event] = []
        st.out = out
        self._dispatch(command)
        ledger = st.ledger
        if ledger.iso_dirty:
            isolated.settle(st)
        if st.trigger_keys:
            triggers.settle(st, command.ts)
        st.flush_accounts()
        if ledger.iso_closed:
            isolated.prune(st)
        return out

    def _dispatch(self, command: Command) -> None:
        st = self._st
        if isinstance(command, PlaceOrder):
            matching.place(st, command)
        elif isinstance(command, CancelOrder):
            self._cancel(command)
        elif isinstance(command, CancelByClientId):
            self._cancel_by_client_id(command)
        elif isinstance(command, CancelAll):
            self._cancel_all(command)
        elif isinstance(command, ReplaceOrder):
            self._replace(command)
        elif isinstance(command, Deposit):
            self._deposit(command)
        elif isinstance(command, Withdraw):
            self._withdraw(command)
        elif isinstance(command, SetIndexPrice):
            self._set_index(command)
        elif isinstance(command, SettleFunding):
            funding.settle(st, command)
        elif isinstance(command, SetOpenOrderLimit | AddAsset | AddMarket | UpdateMarket):
            self._configure(command)
        else:
            self._dispatch_triggers(command)

    def _dispatch_triggers(
        self, command: PlaceTrigger | CancelTrigger | MoveTrigger | SetTriggerLimit
    ) -> None:
        st = self._st
        if isinstance(command, PlaceTrigger):
            triggers.arm(st, command)
        elif isinstance(command, CancelTrigger):
            triggers.disarm(st, command)
        elif isinstance(command, MoveTrigger):
            triggers.move(st, command)
        else:
            self._set_trigger_limit(command)

    @property
    def last_seq(self) -> int:
        return self._st.last_seq

    @property
    def event_seq(self) -> int:
        return self._st.event_seq

    def _owned(self, user: str, order_id: int, market: str = "") -> Order | None:
        """The user's live order, or None after emitting the right rejection."""
        st = self._st
        order = st.live.get(order_id)
        if order is not None and order.user_id == user:
            return order
        final = st.final.get(order_id)
        reason = RejectReason.ORDER_NOT_FOUND
        if final is not None and final[0] == user:
            reason = RejectReason.ORDER_ALREADY_FINAL
        matching.reject(st, user, market, reason, order_id)
        return None

    def _cancel(self, cmd: CancelOrder) -> None:
        st = self._st
        order = st.live.get(cmd.order_id)
        if order is None or order.user_id != cmd.user_id:
            order = self._owned(cmd.user_id, cmd.order_id)  # emits the rejection
        if order is not None:
            matching.cancel(st, order, CancelReason.USER)

    def _cancel_by_client_id(self, cmd: CancelByClientId) -> None:
        order = self._st.client_ids.get((cmd.user_id, cmd.client_order_id))
        if order is None:
            matching.reject(self._st, cmd.user_id, "", RejectReason.ORDER_NOT_FOUND, 0,
                            cmd.client_order_id)
            return
        matching.cancel(self._st, order, CancelReason.USER)

    def _cancel_all(self, cmd: CancelAll) -> None:
        st = self._st
        if cmd.market is not None and cmd.market not in self.config.markets:
            matching.reject(st, cmd.user_id, cmd.market, RejectReason.UNKNOWN_MARKET)
            return
        # sorted by id: dict order differs after a restore, events must not
        victims = sorted((o for o in st.live.values() if o.user_id == cmd.user_id
                          and (cmd.market is None or o.market == cmd.market)),
                         key=lambda o: o.id)
        for order in victims:
            matching.cancel(st, order, CancelReason.CANCEL_ALL)

    def _replace(self, cmd: ReplaceOrder) -> None:
        order = self._owned(cmd.user_id, cmd.order_id)
        if order is not None:
            amend.replace(self._st, self.config.markets[order.market], order, cmd)

    def _transfer_reason(self, cmd: Deposit | Withdraw) -> RejectReason | None:
        if cmd.asset not in self.config.assets:
            return RejectReason.UNKNOWN_ASSET
        if not 0 < cmd.amount < MAX_UNITS or not cmd.user_id or cmd.user_id == FEE_ACCOUNT \
                or cmd.user_id.startswith(ISO_PREFIX):
            return RejectReason.INVALID_AMOUNT
        return None

    def _transfer_reject(self, cmd: Deposit | Withdraw, reason: RejectReason) -> None:
        st = self._st
        st.out.append(TransferRejected(
            st.seq(), st.last_seq, cmd.user_id, cmd.asset, cmd.amount, cmd.tx_id, reason
        ))

    def _deposit(self, cmd: Deposit) -> None:
        st = self._st
        reason = self._transfer_reason(cmd)
        if reason is None and cmd.tx_id in st.deposit_ids:
            reason = RejectReason.DUPLICATE_TRANSACTION
        if reason is not None:
            return self._transfer_reject(cmd, reason)
        st.deposit_ids.add(cmd.tx_id)
        st.ledger.balance(cmd.user_id, cmd.asset).available += cmd.amount
        st.deposited[cmd.asset] = st.deposited.get(cmd.asset, 0) + cmd.amount
        st.out.append(DepositApplied(
            st.seq(), st.last_seq, cmd.user_id, cmd.asset, cmd.amount, cmd.tx_id
        ))
        return None

    def _withdraw(self, cmd: Withdraw) -> None:
        st = self._st
        reason = self._transfer_reason(cmd)
        if reason is None and cmd.tx_id is not None and cmd.tx_id in st.withdraw_ids:
            reason = RejectReason.DUPLICATE_TRANSACTION
        if reason is None and st.ledger.available(cmd.user_id, cmd.asset) < cmd.amount:
            reason = RejectReason.INSUFFICIENT_BALANCE
        if reason is None and st.marked and cmd.asset == USD and st.ledger.available(
                cmd.user_id, cmd.asset) + perp.unrealized_loss(st, cmd.user_id) < cmd.amount:
            reason = RejectReason.INSUFFICIENT_MARGIN
        if reason is not None:
            return self._transfer_reject(cmd, reason)
        if cmd.tx_id is not None:
            st.withdraw_ids.add(cmd.tx_id)
        st.ledger.balance(cmd.user_id, cmd.asset).available -= cmd.amount
        st.withdrawn[cmd.asset] = st.withdrawn.get(cmd.asset, 0) + cmd.amount
        st.out.append(WithdrawalApplied(
            st.seq(), st.last_seq, cmd.user_id, cmd.asset, cmd.amount, cmd.tx_id
        ))
        return None

    def _configure(self, cmd: SetOpenOrderLimit | AddAsset | AddMarket | UpdateMarket) -> None:
        """Engine configuration: the open-order limit and the registry."""
        if isinstance(cmd, SetOpenOrderLimit):
            self._set_open_order_limit(cmd)
        else:
            registry.apply(self._st, cmd)

    def _set_open_order_limit(self, cmd: SetOpenOrderLimit) -> None:
        st = self._st
        if cmd.limit >= 1:
            st.max_open_orders = cmd.limit
        st.out.append(OpenOrderLimitSet(st.seq(), st.last_seq, st.max_open_orders, cmd.ts))

    def _set_trigger_limit(self, cmd: SetTriggerLimit) -> None:
        st = self._st
        if cmd.limit >= 1:
            st.max_triggers = cmd.limit
        st.out.append(TriggerLimitSet(st.seq(), st.last_seq, st.max_triggers, cmd.ts))

    @property
    def max_triggers(self) -> int:
        """Armed triggers one user may have (see ``SetTriggerLimit``)."""
        return self._st.max_triggers

    @property
    def max_open_orders(self) -> int:
        """Live orders one user may have in one market (see ``SetOpenOrderLimit``)."""
        return self._st.max_open_orders

    def _set_index(self, cmd: SetIndexPrice) -> None:
        st = self._st
        spec = st.markets.get(cmd.market)
        if spec is None or not spec.is_perp or not 0 < cmd.price < MAX_UNITS:
            reason = RejectReason.UNKNOWN_MARKET if spec is None or not spec.is_perp \
                else RejectReason.INVALID_PRICE
            st.out.append(PerpCommandRejected(st.seq(), st.last_seq, cmd.market, reason))
            return
        stats = st.stats[cmd.market]
        stats.index_price = cmd.price
        stats.mark_price = mark = perp.sample_mark(st, spec, cmd.price)
        st.marked = True
        st.out.append(IndexPriceSet(st.seq(), st.last_seq, cmd.market, cmd.price, mark, cmd.ts))
        if st.triggers:
            triggers.fire(st, cmd.market, mark, cmd.ts)  # not in a halted market
        liquidation.sweep(st, cmd.market, cmd.ts)

    # ----------------------------------------------------------------- queries
    def mark_price(self, market: str) -> int | None:
        """The market's mark price in ticks (None before its first index tick)."""
        stats = self._st.stats.get(market)
        return stats.mark_price if stats is not None else None

    def index_price(self, market: str) -> int | None:
        stats = self._st.stats.get(market)
        return stats.index_price if stats is not None else None

    def account_risk(self, user_id: str) -> AccountRisk:
        """Cross-margin collateral, unrealised PnL, equity, IM and MM (USD minor units)."""
        return perp.account(self._st, user_id)

    def triggers(self, user_id: str) -> list[TriggerView]:
        """The user's armed triggers, oldest id first."""
        if user_id not in self._st.trigger_counts:
            return []
        return [_trigger_view(t) for _, t in sorted(self._st.triggers.items())
                if t.user_id == user_id]

    def trigger(self, user_id: str, trigger_id: int) -> TriggerView | None:
        """One of the user's armed triggers (None for missing or foreign ids)."""
        t = self._st.triggers.get(trigger_id)
        if t is None or t.user_id != user_id:
            return None
        return _trigger_view(t)

    def position_risks(self, user_id: str) -> dict[str, PositionRisk]:
        """market -> entry/mark price, unrealised PnL, margin, leverage, liquidation price."""
        return perp.position_risks(self._st, user_id)

    def isolated_risks(self, user_id: str) -> dict[int, PositionRisk]:
        """position id -> the user's open isolated positions' figures, as
        :meth:`position_risks` (its liquidation price is its own)."""
        return perp.isolated_risks(self._st, user_id)

    def position_size(self, user_id: str, market: str, position_id: int = 0) -> int:
        """Signed lots of the user's cross position in ``market`` (``position_id`` 0) or of
        their open isolated position ``position_id`` there; 0 when there is none."""
        st = self._st
        if position_id:
            ref = isolated.find(st, user_id, market, position_id)
            return ref.pos.size if ref is not None else 0
        pos = st.ledger.positions.get((user_id, market))
        return pos.size if pos is not None else 0

    def isolated_positions(self, user_id: str) -> dict[int, tuple[str, Position]]:
        """position id -> (market, a copy of the isolated position)."""
        refs = self._st.ledger.isolated.get(user_id, {})
        return {pid: (ref.key[1], Position(*ref.pos.as_list()))
                for pid, ref in sorted(refs.items())}

    def get_order(self, user_id: str, order_id: int) -> OrderView | None:
        """A live order of ``user_id`` (None for missing, finished or foreign ids)."""
        order = self._st.live.get(order_id)
        return _view(order) if order is not None and order.user_id == user_id else None

    def order_status(self, user_id: str, order_id: int) -> OrderStatus | None:
        """Status of a live or recently finished order owned by ``user_id``."""
        view = self.get_order(user_id, order_id)
        if view is not None:
            return view.status
        final = self._st.final.get(order_id)
        return final[1] if final is not None and final[0] == user_id else None

    def open_orders(self, user_id: str, market: str | None = None) -> list[OrderView]:
        """The user's resting orders, oldest id first."""
        return sorted((_view(o) for o in self._st.live.values()
                       if o.user_id == user_id and (market is None or o.market == market)),
                      key=lambda v: v.order_id)

    def balances(self, user_id: str) -> dict[str, tuple[int, int]]:
        """asset -> (available, locked) in minor units."""
        return {a: (b.available, b.locked) for a, b in sorted(self._st.ledger.balances.get(
            user_id, {}).items())}

    def positions(self, user_id: str) -> dict[str, Position]:
        """market -> a copy of the position (size lots, cost/margin/realized minor units)."""
        return {m: Position(*p.as_list()) for (u, m), p in sorted(
            self._st.ledger.positions.items()) if u == user_id and (p.size or p.realized)}

    def depth(self, market: str, limit: int = 20) -> tuple[list[tuple[int, int]],
                                                          list[tuple[int, int]]]:
        """(bids, asks), each best first as (price_ticks, qty_lots)."""
        book = self._st.books[market]
        return book.bids.depth(limit), book.asks.depth(limit)

    def best_bid_ask(self, market: str) -> tuple[int | None, int | None]:
        book = self._st.books[market]
        return book.best_bid(), book.best_ask()

    def recent_trades(self, market: str) -> list[Trade]:
        """Newest last: (fill_id, price_ticks, qty_lots, taker side, ts)."""
        return self._st.stats[market].recent_trades()

    def ticker(self, market: str) -> dict[str, int | None]:
        stats, book = self._st.stats[market], self._st.books[market]
        return {"last_price": stats.last_price, "volume": stats.volume,
                "best_bid": book.best_bid(), "best_ask": book.best_ask(),
                "index_price": stats.index_price}

    def quote(self, market: str, side: Side, quantity: int) -> Quote:
        """Average/worst price and notional of taking ``quantity`` lots now."""
        spec = self.config.markets[market]
        ladder = self._st.books[market].opposite(side)
        filled = notional = 0
        worst: int | None = None
        for level in ladder.iter_levels():
            if filled >= quantity:
                break
            take = min(quantity - filled, level.total)
            filled += take
            notional += take * level.price * spec.notional_unit
            worst = level.price
        avg = None
        if filled:
            with localcontext() as ctx:
                ctx.prec = 34
                avg = Decimal(notional) / (filled * spec.notional_unit) * spec.tick_size
        return Quote(avg, worst, filled, notional)

    def totals(self, asset: str) -> tuple[int, int]:
        """(deposited, withdrawn) of ``asset`` since genesis."""
        st = self._st
        return st.deposited.get(asset, 0), st.withdrawn.get(asset, 0)

    # ----------------------------------------------------- snapshot / restore
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable, deterministic image of the whole state."""
        return snapshot.dump(self._st)

    @classmethod
    def restore(cls, config: MarketConfig, image: dict[str, Any]) -> Engine:
        engine = cls(config)
        snapshot.load(engine._st, image)
        return engine

    def state_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`snapshot`."""
        return snapshot.digest(self.snapshot())

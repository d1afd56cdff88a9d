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

from typing import Any

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
    RejectReason,
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
from engine_svc.core.ledger import FEE_ACCOUNT, ISO_PREFIX, USD
from engine_svc.core.markets import MarketConfig
from engine_svc.core.reads import EngineReads
from engine_svc.core.units import MAX_UNITS


class Engine(EngineReads):
    """All markets' books, balances and positions behind one sequencer: commands in,
    events out (the queries are :class:`~engine_svc.core.reads.EngineReads`')."""

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

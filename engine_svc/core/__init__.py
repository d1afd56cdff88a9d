"""trademesh engine pure core: books, accounts and matching with no I/O.

Entry point: :class:`Engine` (``apply(command) -> list[Event]``), configured by
:func:`default_markets` or a hand-built :class:`MarketConfig`. See each module's
docstring for the invariants it keeps.
"""

from engine_svc.core.commands import (
    CancelAll,
    CancelByClientId,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
    ReplaceOrder,
    Withdraw,
)
from engine_svc.core.engine import Engine, OrderView, Quote
from engine_svc.core.enums import (
    CancelReason,
    Liquidity,
    MarketKind,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import (
    BalanceChanged,
    DepositApplied,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    PositionChanged,
    TransferRejected,
    WithdrawalApplied,
)
from engine_svc.core.ledger import FEE_ACCOUNT, Position
from engine_svc.core.markets import AssetSpec, MarketConfig, MarketSpec, default_markets
from engine_svc.core.units import MAX_UNITS, ValidationError

__all__ = [
    "FEE_ACCOUNT",
    "MAX_UNITS",
    "AssetSpec",
    "BalanceChanged",
    "CancelAll",
    "CancelByClientId",
    "CancelOrder",
    "CancelReason",
    "Command",
    "Deposit",
    "DepositApplied",
    "Engine",
    "Event",
    "Liquidity",
    "MarketConfig",
    "MarketKind",
    "MarketSpec",
    "OrderAccepted",
    "OrderCanceled",
    "OrderFilled",
    "OrderRejected",
    "OrderReplaced",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PlaceOrder",
    "Position",
    "PositionChanged",
    "Quote",
    "RejectReason",
    "ReplaceOrder",
    "Side",
    "StpMode",
    "TimeInForce",
    "TransferRejected",
    "ValidationError",
    "Withdraw",
    "WithdrawalApplied",
    "default_markets",
]

"""Enumerations shared by commands, events and the book.

``RejectReason`` groups reasons by pipeline stage (validation, lookup, risk, matching,
transfers) so the service layer can map each group to one gRPC status code.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Side(Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class StpMode(Enum):
    """Self-trade prevention; the taker's mode decides."""

    CANCEL_TAKER = "CANCEL_TAKER"
    CANCEL_MAKER = "CANCEL_MAKER"
    CANCEL_BOTH = "CANCEL_BOTH"


class MarketKind(Enum):
    SPOT = "SPOT"
    PERP = "PERP"


class MarketStatus(Enum):
    """OPEN trades; HALTED matches nothing (cancels work); CLOSE_ONLY takes only reducing
    orders (see :mod:`engine_svc.core.registry`)."""

    OPEN = "OPEN"
    HALTED = "HALTED"
    CLOSE_ONLY = "CLOSE_ONLY"


class Liquidity(Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class TriggerKind(Enum):
    """STOP_LOSS fires when the mark moves against the position, TAKE_PROFIT in favour
    (both close it, reduce-only). STOP_MARKET / STOP_LIMIT are standalone conditional
    orders: a market / limit order placed when the mark reaches the stop price."""

    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"


class MarginMode(Enum):
    """CROSS: the netted position per (user, market), backed by all the user's collateral.
    ISOLATED: a position of its own per opening order, backed only by its own margin."""

    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


class OrderStatus(StrEnum):
    """A ``str`` enum: the lifecycle table is looked up on every finished order, and a
    ``str`` member hashes in C (a plain Enum member's ``__hash__`` is Python code)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


class CancelReason(Enum):
    USER = "USER"
    CANCEL_ALL = "CANCEL_ALL"
    IOC_REMAINDER = "IOC_REMAINDER"
    MARKET_REMAINDER = "MARKET_REMAINDER"
    SLIPPAGE_BOUND = "SLIPPAGE_BOUND"
    SELF_TRADE = "SELF_TRADE"
    REDUCE_ONLY = "REDUCE_ONLY"
    LIQUIDATION = "LIQUIDATION"
    POSITION_CLOSED = "POSITION_CLOSED"
    PARENT_CANCELED = "PARENT_CANCELED"
    """A stop-loss / take-profit whose order finished without a fill."""
    TRIGGER_FIRED = "TRIGGER_FIRED"
    """An order's rest, canceled when its own stop-loss / take-profit fired."""


class RejectReason(Enum):
    # validation stage -> INVALID_ARGUMENT
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_LEVERAGE = "INVALID_LEVERAGE"
    INVALID_SLIPPAGE = "INVALID_SLIPPAGE"
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_TRIGGER_PRICE = "INVALID_TRIGGER_PRICE"
    INVALID_LIMIT_PRICE = "INVALID_LIMIT_PRICE"
    INVALID_STOP_LOSS = "INVALID_STOP_LOSS"
    INVALID_TAKE_PROFIT = "INVALID_TAKE_PROFIT"
    INVALID_MARGIN_MODE = "INVALID_MARGIN_MODE"
    # lookup stage -> NOT_FOUND / ALREADY_EXISTS / FAILED_PRECONDITION
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_ALREADY_FINAL = "ORDER_ALREADY_FINAL"
    TRIGGER_NOT_FOUND = "TRIGGER_NOT_FOUND"
    POSITION_NOT_FOUND = "POSITION_NOT_FOUND"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    # risk stage -> FAILED_PRECONDITION
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    REDUCE_ONLY_WOULD_INCREASE = "REDUCE_ONLY_WOULD_INCREASE"
    TOO_MANY_OPEN_ORDERS = "TOO_MANY_OPEN_ORDERS"
    TOO_MANY_POSITIONS = "TOO_MANY_POSITIONS"
    # market status -> FAILED_PRECONDITION
    MARKET_HALTED = "MARKET_HALTED"
    MARKET_CLOSE_ONLY = "MARKET_CLOSE_ONLY"
    TOO_MANY_TRIGGERS = "TOO_MANY_TRIGGERS"
    # matching stage -> FAILED_PRECONDITION
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"
    NO_LIQUIDITY = "NO_LIQUIDITY"
    # transfers -> ALREADY_EXISTS
    DUPLICATE_TRANSACTION = "DUPLICATE_TRANSACTION"

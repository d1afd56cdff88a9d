"""Domain outcomes to gRPC statuses: the one place the engine's errors are translated.

Rejections follow the richer error model: ``google.rpc.Status`` with an ``ErrorInfo``
(reason such as ``INSUFFICIENT_BALANCE``, domain ``trademesh``) and, for bad fields, a
``BadRequest`` naming the field by its JSON name.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.rpc import status_pb2

from engine_svc import order_wire
from engine_svc.core.enums import RejectReason
from engine_svc.core.state import MAX_ISOLATED_POSITIONS
from engine_svc.core.units import ValidationError
from mesh_runtime.rich_errors import abort as abort_with
from mesh_runtime.rich_errors import rich_status

_R = RejectReason

_CODES: dict[RejectReason, grpc.StatusCode] = {
    # a well-formed symbol nothing is listed under: the thing is not there (404 over REST)
    _R.UNKNOWN_MARKET: grpc.StatusCode.NOT_FOUND,
    _R.UNKNOWN_ASSET: grpc.StatusCode.NOT_FOUND,
    **{r: grpc.StatusCode.INVALID_ARGUMENT for r in (
        _R.INVALID_PRICE, _R.INVALID_QUANTITY,
        _R.INVALID_AMOUNT, _R.INVALID_LEVERAGE, _R.INVALID_SLIPPAGE, _R.INVALID_ORDER,
        _R.INVALID_TRIGGER_PRICE, _R.INVALID_LIMIT_PRICE, _R.INVALID_STOP_LOSS,
        _R.INVALID_TAKE_PROFIT, _R.INVALID_MARGIN_MODE)},
    _R.ORDER_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    _R.POSITION_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    _R.TRIGGER_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    _R.ORDER_ALREADY_FINAL: grpc.StatusCode.ABORTED,
    _R.DUPLICATE_CLIENT_ORDER_ID: grpc.StatusCode.ALREADY_EXISTS,
    _R.DUPLICATE_TRANSACTION: grpc.StatusCode.ALREADY_EXISTS,
    **{r: grpc.StatusCode.FAILED_PRECONDITION for r in (
        _R.INSUFFICIENT_BALANCE, _R.INSUFFICIENT_MARGIN, _R.REDUCE_ONLY_WOULD_INCREASE,
        _R.TOO_MANY_OPEN_ORDERS, _R.TOO_MANY_POSITIONS, _R.TOO_MANY_TRIGGERS,
        _R.POST_ONLY_WOULD_TAKE, _R.FOK_NOT_FILLABLE, _R.NO_LIQUIDITY, _R.MARKET_HALTED,
        _R.MARKET_CLOSE_ONLY)},
}

_FIELDS: dict[RejectReason, str] = {
    _R.UNKNOWN_MARKET: "market", _R.UNKNOWN_ASSET: "asset", _R.INVALID_PRICE: "price",
    _R.INVALID_QUANTITY: "quantity", _R.INVALID_AMOUNT: "amount",
    _R.INVALID_LEVERAGE: "leverage", _R.INVALID_SLIPPAGE: "slippageBps",
    _R.INVALID_TRIGGER_PRICE: "triggerPrice", _R.INVALID_LIMIT_PRICE: "limitPrice",
    _R.INVALID_STOP_LOSS: "stopLoss", _R.INVALID_TAKE_PROFIT: "takeProfit",
    _R.INVALID_MARGIN_MODE: "marginMode", _R.POSITION_NOT_FOUND: "positionId",
}

_REACHED = ("out of range, or already reached: a stop-loss or a sell stop must be below "
            "the mark price, a take-profit or a buy stop above it")

_MESSAGES: dict[RejectReason, str] = {
    _R.UNKNOWN_MARKET: "no such market",
    _R.UNKNOWN_ASSET: "no such asset",
    _R.ORDER_NOT_FOUND: "no such order",
    _R.ORDER_ALREADY_FINAL: "the order is already filled, canceled or rejected",
    _R.DUPLICATE_CLIENT_ORDER_ID: "a live order already has this clientOrderId",
    _R.INSUFFICIENT_BALANCE: "the available balance does not cover this",
    _R.INSUFFICIENT_MARGIN: "the available collateral does not cover the initial margin",
    _R.REDUCE_ONLY_WOULD_INCREASE: "a reduce-only order must reduce an open position",
    _R.TOO_MANY_OPEN_ORDERS: "too many open orders in this market: cancel some first "
                             "(TRADEMESH_MAX_OPEN_ORDERS)",
    _R.TOO_MANY_POSITIONS: f"too many open isolated positions (at most "
                           f"{MAX_ISOLATED_POSITIONS} per user): close some first",
    _R.POST_ONLY_WOULD_TAKE: "a post-only order would take liquidity",
    _R.FOK_NOT_FILLABLE: "a fill-or-kill order cannot be filled entirely now",
    _R.NO_LIQUIDITY: "there is no liquidity on the other side",
    _R.TRIGGER_NOT_FOUND: "no such trigger",
    _R.POSITION_NOT_FOUND: "no such open isolated position of yours in this market",
    _R.INVALID_MARGIN_MODE: "ISOLATED is for perp orders that open a position (reduce one "
                            "by its positionId)",
    _R.TOO_MANY_TRIGGERS: "too many armed triggers: cancel some first "
                          "(TRADEMESH_MAX_TRIGGERS)",
    _R.INVALID_TRIGGER_PRICE: _REACHED,
    _R.INVALID_LIMIT_PRICE: "a STOP_LIMIT needs a limit price on the grid (and only it has "
                            "one)",
    _R.INVALID_STOP_LOSS: "a stop-loss must be below the mark (and a buy order's price) for "
                          "what a buy opens, above them for a sell",
    _R.INVALID_TAKE_PROFIT: "a take-profit must be above the mark (and a buy order's price) "
                            "for what a buy opens, below them for a sell",
    _R.MARKET_HALTED: "the market is halted: no order enters and nothing matches; cancels "
                      "work",
    _R.MARKET_CLOSE_ONLY: "the market is close-only: only reduce-only orders on perps "
                          "(none on spot); cancels work",
}

_REGISTRY_CODES: dict[str, grpc.StatusCode] = {
    "DUPLICATE_SYMBOL": grpc.StatusCode.ALREADY_EXISTS,
    "UNKNOWN_MARKET": grpc.StatusCode.NOT_FOUND,
    "RESTING_ORDERS": grpc.StatusCode.FAILED_PRECONDITION,
}


class DomainError(Exception):
    """A refusal to send to the caller as a rich gRPC status."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status

    @property
    def code(self) -> grpc.StatusCode:
        return next(c for c in grpc.StatusCode if c.value[0] == self.status.code)

    def placement_result(self) -> bytes:
        """This refusal as a streamed order's ``PlaceOrderResult`` wire bytes."""
        return order_wire.error_result(self.status.SerializeToString())




def rejection(reason: RejectReason) -> DomainError:
    field = _FIELDS.get(reason)
    message = _MESSAGES.get(reason) or f"{field or 'request'}: {reason.value.lower()}"
    if field is not None and reason in _MESSAGES:
        message = f"{field}: {message}"
    return DomainError(rich_status(_CODES[reason], reason.value, message, field))


def registry_refusal(reason: str, field: str, message: str) -> DomainError:
    """A refused AddAsset / AddMarket / UpdateMarket (the core names reason and field)."""
    code = _REGISTRY_CODES.get(reason, grpc.StatusCode.INVALID_ARGUMENT)
    return DomainError(rich_status(code, reason, f"{field}: {message}", field))


_FIELD_REASONS = {field: reason.value for reason, field in _FIELDS.items()}
# Refusals of a well-formed, known value that say more than the field's usual reason (a
# spot market is not an UNKNOWN_MARKET to a perp-only request).
_OWN_REASONS = frozenset({"NOT_A_PERP"})


def invalid(err: ValidationError) -> DomainError:
    """A bad field: ``ErrorInfo.reason`` names the field's error (``INVALID_PRICE``,
    ``UNKNOWN_MARKET``, ...), ``BadRequest`` the field and what is wrong with it."""
    code = grpc.StatusCode.INVALID_ARGUMENT
    if err.reason in ("UNKNOWN_MARKET", "UNKNOWN_ASSET"):
        reason, code = err.reason, grpc.StatusCode.NOT_FOUND
    elif err.reason in _OWN_REASONS:
        reason = err.reason
    else:
        reason = _FIELD_REASONS.get(err.field) or "INVALID_ARGUMENT"
    return DomainError(rich_status(code, reason, f"{err.field}: {err.message}", err.field))


def unauthenticated(message: str) -> DomainError:
    return DomainError(rich_status(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message))


def unavailable(message: str) -> DomainError:
    return DomainError(rich_status(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", message))


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: DomainError) -> NoReturn:
    """Ends the call with ``error`` as code, message and ``grpc-status-details-bin``."""
    await abort_with(context, error.status)

"""Registry events: assets and markets added and changed at runtime, and refusals.

Written like :mod:`engine_svc.core.events` (dataclasses with their ``__init__`` spelled
out, immutable by contract); ``Event`` there is the union of every family. Decimal
configuration (tick, lot, minimum quantity, maintenance margin rate) travels as exact
decimal strings: the core's integers are per market, and these events define the market.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine_svc.core.enums import MarketKind, MarketStatus


@dataclass(slots=True, init=False)
class AssetAdded:
    """A new asset; amounts of it are integers of ``10**-decimals``."""

    seq: int
    cmd_seq: int
    symbol: str
    decimals: int
    ts: int

    def __init__(self, seq: int, cmd_seq: int, symbol: str, decimals: int, ts: int) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.symbol = symbol
        self.decimals = decimals
        self.ts = ts


@dataclass(slots=True, init=False)
class MarketChanged:
    """A market as it is now: ``added`` once when it is created, then after every update."""

    seq: int
    cmd_seq: int
    symbol: str
    kind: MarketKind
    base_asset: str
    quote_asset: str
    tick_size: str
    lot_size: str
    min_quantity: str
    max_leverage: int
    maker_fee_bps: int
    taker_fee_bps: int
    maintenance_margin_rate: str
    status: MarketStatus
    added: bool
    ts: int

    def __init__(
        self, seq: int, cmd_seq: int, symbol: str, kind: MarketKind, base_asset: str,
        quote_asset: str, tick_size: str, lot_size: str, min_quantity: str, max_leverage: int,
        maker_fee_bps: int, taker_fee_bps: int, maintenance_margin_rate: str,
        status: MarketStatus, added: bool, ts: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.symbol = symbol
        self.kind = kind
        self.base_asset = base_asset
        self.quote_asset = quote_asset
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.min_quantity = min_quantity
        self.max_leverage = max_leverage
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps
        self.maintenance_margin_rate = maintenance_margin_rate
        self.status = status
        self.added = added
        self.ts = ts


@dataclass(slots=True, init=False)
class RegistryCommandRejected:
    """An AddAsset / AddMarket / UpdateMarket that changed nothing.

    ``target`` is the asset or market symbol asked for, ``field`` the request field at
    fault by its JSON name (``tickSize``), ``reason`` one of :mod:`registry`'s reasons.
    """

    seq: int
    cmd_seq: int
    target: str
    field: str
    reason: str
    message: str

    def __init__(self, seq: int, cmd_seq: int, target: str, field: str, reason: str,
                 message: str) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.target = target
        self.field = field
        self.reason = reason
        self.message = message


RegistryEvent = AssetAdded | MarketChanged | RegistryCommandRejected

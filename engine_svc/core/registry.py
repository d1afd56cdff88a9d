"""The runtime registry: assets and markets added, halted and reopened by journaled commands.

The engine's registry starts as a copy of the defaults it is built with (the four built-in
markets) and grows only through :class:`AddAsset` / :class:`AddMarket`; it is part of every
snapshot, so a restart (snapshot + journal replay) rebuilds it exactly.

Rules (each refusal is one ``RegistryCommandRejected`` naming the field by its JSON name;
a refused command changes nothing):

* Symbols: an asset is ``[A-Z][A-Z0-9]{0,11}``; a spot market is ``BASE-QUOTE``, a perp
  ``BASE-PERP`` (perps settle in USD). A symbol in use is ``DUPLICATE_SYMBOL``; an asset
  not in the registry ``UNKNOWN_ASSET``; base and quote differ.
* Asset ``decimals`` in ``[0, 18]``.
* ``tickSize`` and ``lotSize`` are positive decimals with at most 18 places (ticks that are
  no power of ten, such as 0.05, are ordinary). The tick is a whole number of quote minor
  units, the lot a whole number of base minor units, and tick x lot a whole number of quote
  minor units (every notional on the grid is exact). ``minQuantity`` (default one lot) is a
  positive multiple of the lot.
* Fees: ``0 <= makerFeeBps <= takerFeeBps < 10000``. Leverage cap: 1 for spot, ``[1, 200]``
  for perps, with ``maintenanceMarginRate * maxLeverage < 1`` (a position at full leverage
  is not liquidated at entry); spot markets have no maintenance margin rate.
* An update may not raise the maker fee above what a resting order's hold covers (its
  hold was taken at the taker fee in force when it was placed): cancel those orders first.

Status (see :func:`entry_refusal`):

* ``HALTED``: no new order, no price-moving replace, nothing matches (liquidations of a
  position in it pass wholly to the insurance fund at the mark), triggers stay armed but do
  not fire; cancels, shrink-in-place replaces, deposits and withdrawals work. Index prices
  and funding still apply.
* ``CLOSE_ONLY``: perps take only reduce-only orders (they never rest, so the book only
  shrinks); resting orders stay and can still fill against them. Spot markets have no
  positions to close: close-only is cancel-only there (no new orders). In both, replaces
  only shrink in place.
* Resting orders are never canceled by a status change: the operator cancels if wanted.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Final

from engine_svc.core.book import OrderBook
from engine_svc.core.commands import AddAsset, AddMarket, UpdateMarket
from engine_svc.core.enums import MarketKind, MarketStatus, RejectReason, Side
from engine_svc.core.events import AssetAdded, MarketChanged, RegistryCommandRejected
from engine_svc.core.markets import AssetSpec, MarketSpec
from engine_svc.core.state import MarketStats, State
from engine_svc.core.units import ValidationError, to_decimal

ASSET_SYMBOL: Final = re.compile(r"[A-Z][A-Z0-9]{0,11}", re.ASCII)
MAX_DECIMALS: Final = 18
MAX_LEVERAGE_CAP: Final = 200
PERP_QUOTE: Final = "USD"

DUPLICATE_SYMBOL: Final = "DUPLICATE_SYMBOL"
UNKNOWN_ASSET: Final = "UNKNOWN_ASSET"
UNKNOWN_MARKET: Final = "UNKNOWN_MARKET"
INVALID: Final = "INVALID_ARGUMENT"
RESTING_ORDERS: Final = "RESTING_ORDERS"


class Refused(Exception):
    """A registry command's refusal (turned into ``RegistryCommandRejected``)."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = message


# ------------------------------------------------------------------ status at entry
def entry_refusal(spec: MarketSpec, reduce_only: bool) -> RejectReason | None:
    """Why a new order (or a price-moving replace) may not enter ``spec`` now, if so."""
    status = spec.status
    if status is MarketStatus.OPEN:
        return None
    if status is MarketStatus.HALTED:
        return RejectReason.MARKET_HALTED
    if spec.is_perp and reduce_only:
        return None
    return RejectReason.MARKET_CLOSE_ONLY


# ------------------------------------------------------------------ commands
def apply(st: State, cmd: AddAsset | AddMarket | UpdateMarket) -> None:
    """Apply one registry command: its event, or one refusal."""
    try:
        if isinstance(cmd, AddAsset):
            _add_asset(st, cmd)
        elif isinstance(cmd, AddMarket):
            _add_market(st, cmd)
        else:
            _update_market(st, cmd)
    except Refused as err:
        target = cmd.market if isinstance(cmd, UpdateMarket) else cmd.symbol
        st.out.append(RegistryCommandRejected(st.seq(), st.last_seq, target, err.field,
                                              err.reason, err.message))


def _add_asset(st: State, cmd: AddAsset) -> None:
    symbol = _symbol(cmd.symbol, "symbol")
    if symbol in st.config.assets:
        raise Refused("symbol", DUPLICATE_SYMBOL, f"asset {symbol} already exists")
    if not 0 <= cmd.decimals <= MAX_DECIMALS:
        raise Refused("decimals", INVALID, f"must be from 0 to {MAX_DECIMALS}")
    st.config.assets[symbol] = AssetSpec(symbol, cmd.decimals)
    st.out.append(AssetAdded(st.seq(), st.last_seq, symbol, cmd.decimals, cmd.ts))


def _asset(st: State, symbol: str, field: str) -> AssetSpec:
    asset = st.config.assets.get(symbol)
    if asset is None:
        raise Refused(field, UNKNOWN_ASSET, f"no such asset: {symbol!r}")
    return asset


def _add_market(st: State, cmd: AddMarket) -> None:
    base = _asset(st, cmd.base_asset, "baseAsset")
    quote = _asset(st, cmd.quote_asset, "quoteAsset")
    perp = cmd.kind is MarketKind.PERP
    if base.symbol == quote.symbol:
        raise Refused("quoteAsset", INVALID, "base and quote assets must differ")
    if perp and quote.symbol != PERP_QUOTE:
        raise Refused("quoteAsset", INVALID, f"perps settle in {PERP_QUOTE}")
    expected = f"{base.symbol}-PERP" if perp else f"{base.symbol}-{quote.symbol}"
    if cmd.symbol != expected:
        raise Refused("symbol", INVALID, f"this market is named {expected}")
    if cmd.symbol in st.config.markets:
        raise Refused("symbol", DUPLICATE_SYMBOL, f"market {cmd.symbol} already exists")
    tick = _step(cmd.tick_size, "tickSize")
    lot = _step(cmd.lot_size, "lotSize")
    _on_grid(tick * 10**quote.scale, "tickSize",
             f"{tick} is finer than {quote.symbol}'s {quote.scale} decimals")
    _on_grid(lot * 10**base.scale, "lotSize",
             f"{lot} is finer than {base.symbol}'s {base.scale} decimals")
    _on_grid(tick * lot * 10**quote.scale, "lotSize",
             f"tick x lot ({tick} x {lot}) is not a whole number of {quote.symbol} minor units")
    min_qty = lot if cmd.min_quantity == "" else _step(cmd.min_quantity, "minQuantity")
    _on_grid(min_qty / lot, "minQuantity", f"{min_qty} is not a multiple of the lot {lot}")
    mmr = _rate(cmd.maintenance_margin_rate, perp)
    _limits(perp, cmd.max_leverage, mmr, cmd.maker_fee_bps, cmd.taker_fee_bps)
    try:
        spec = MarketSpec(cmd.symbol, cmd.kind, base, quote, tick, lot, min_qty,
                          cmd.max_leverage, cmd.maker_fee_bps, cmd.taker_fee_bps, mmr)
    except ValueError as err:  # the checks above cover MarketSpec's; kept as a backstop
        raise Refused("symbol", INVALID, str(err)) from None
    _install_market(st, spec)
    st.out.append(changed(st, spec, True, cmd.ts))


def _update_market(st: State, cmd: UpdateMarket) -> None:
    spec = st.config.markets.get(cmd.market)
    if spec is None:
        raise Refused("market", UNKNOWN_MARKET, f"no such market: {cmd.market!r}")
    maker = spec.maker_fee_bps if cmd.maker_fee_bps is None else cmd.maker_fee_bps
    taker = spec.taker_fee_bps if cmd.taker_fee_bps is None else cmd.taker_fee_bps
    leverage = spec.max_leverage if cmd.max_leverage is None else cmd.max_leverage
    status = spec.status if not cmd.status else _status(cmd.status)
    _limits(spec.is_perp, leverage, spec.maintenance_margin_rate, maker, taker)
    if maker > spec.maker_fee_bps:
        _check_holds(st, spec, maker)
    new = MarketSpec(spec.symbol, spec.kind, spec.base, spec.quote, spec.tick_size,
                     spec.lot_size, spec.min_quantity, leverage, maker, taker,
                     spec.maintenance_margin_rate, spec.mark_band_bps, spec.funding_cap_bps,
                     spec.liquidation_fee_bps, spec.liquidation_slippage_bps, status)
    st.config.markets[spec.symbol] = new
    st.out.append(changed(st, new, False, cmd.ts))


def _check_holds(st: State, spec: MarketSpec, maker: int) -> None:
    """Every resting order's hold must cover the new maker fee (see the module rules)."""
    for order in st.books[spec.symbol].resting_orders():
        if order.side is Side.SELL and not spec.is_perp:
            continue  # a spot sell's fee comes out of its proceeds
        notional = order.price * spec.notional_unit
        held_fee = order.lock_per_lot - (
            notional if not spec.is_perp else -(-notional // order.leverage))
        if -(-notional * maker // 10_000) > held_fee:
            raise Refused("makerFeeBps", RESTING_ORDERS,
                          f"order {order.id} rests with a hold for a lower fee: cancel the "
                          "market's resting orders before raising the maker fee this far")


# ------------------------------------------------------------------ validation
def _status(text: str) -> MarketStatus:
    for status in MarketStatus:
        if status.value == text:
            return status
    raise Refused("status", INVALID, "OPEN, HALTED or CLOSE_ONLY")


def _symbol(text: str, field: str) -> str:
    if ASSET_SYMBOL.fullmatch(text) is None:
        raise Refused(field, INVALID, "1 to 12 capital letters or digits, starting with a "
                                      "letter (e.g. INR)")
    return text


def _step(text: str, field: str) -> Decimal:
    try:
        value = to_decimal(text, field)
    except ValidationError as err:
        raise Refused(field, INVALID, err.message) from None
    if value <= 0:
        raise Refused(field, INVALID, f"must be positive, got {text}")
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite: to_decimal refuses the others
    if exponent < -MAX_DECIMALS or value.adjusted() > MAX_DECIMALS:
        raise Refused(field, INVALID, f"{text} is out of range (at most {MAX_DECIMALS} "
                                      "decimal places, below 10^18)")
    return value.normalize()


def _on_grid(value: Decimal, field: str, message: str) -> None:
    with localcontext() as ctx:
        ctx.prec = 100
        if value != value.to_integral_value():
            raise Refused(field, INVALID, message)


def _rate(text: str, perp: bool) -> Decimal:
    field = "maintenanceMarginRate"
    try:
        rate = to_decimal(text or "0", field)
    except ValidationError as err:
        raise Refused(field, INVALID, err.message) from None
    if not perp:
        if rate != 0:
            raise Refused(field, INVALID, "spot markets have no maintenance margin")
        return Decimal(0)
    if not 0 < rate < 1:
        raise Refused(field, INVALID, "must be above 0 and below 1 (e.g. 0.005)")
    return rate


def _limits(perp: bool, leverage: int, mmr: Decimal, maker: int, taker: int) -> None:
    if perp and not 1 <= leverage <= MAX_LEVERAGE_CAP:
        raise Refused("maxLeverage", INVALID, f"must be from 1 to {MAX_LEVERAGE_CAP}")
    if not perp and leverage != 1:
        raise Refused("maxLeverage", INVALID, "spot markets trade at leverage 1")
    if perp and mmr * leverage >= 1:
        raise Refused("maxLeverage", INVALID,
                      f"at {leverage}x the initial margin is below the maintenance margin "
                      f"rate {mmr}")
    if not 0 <= taker < 10_000:
        raise Refused("takerFeeBps", INVALID, "must be from 0 to 9999")
    if not 0 <= maker <= taker:
        raise Refused("makerFeeBps", INVALID, "must be from 0 to takerFeeBps")


# ------------------------------------------------------------------ state and images
def _install_market(st: State, spec: MarketSpec) -> None:
    st.config.markets[spec.symbol] = spec
    if spec.symbol not in st.books:
        st.books[spec.symbol] = OrderBook(spec.symbol)
        st.stats[spec.symbol] = MarketStats()


def changed(st: State, spec: MarketSpec, added: bool, ts: int) -> MarketChanged:
    return MarketChanged(
        st.seq(), st.last_seq, spec.symbol, spec.kind, spec.base.symbol, spec.quote.symbol,
        str(spec.tick_size), str(spec.lot_size), str(spec.min_quantity), spec.max_leverage,
        spec.maker_fee_bps, spec.taker_fee_bps, str(spec.maintenance_margin_rate),
        spec.status, added, ts)


def dump(st: State) -> dict[str, object]:
    """The registry as snapshot data (sorted, decimals as strings)."""
    return {
        "assets": {a.symbol: a.scale for _, a in sorted(st.config.assets.items())},
        "markets": [[s.symbol, s.kind.value, s.base.symbol, s.quote.symbol, str(s.tick_size),
                     str(s.lot_size), str(s.min_quantity), s.max_leverage, s.maker_fee_bps,
                     s.taker_fee_bps, str(s.maintenance_margin_rate), s.mark_band_bps,
                     s.funding_cap_bps, s.liquidation_fee_bps, s.liquidation_slippage_bps,
                     s.status.value]
                    for _, s in sorted(st.config.markets.items())],
    }


def load(st: State, image: dict[str, object]) -> None:
    """Install a registry image over the defaults (an image's market wins over a default
    of the same symbol; defaults the image lacks stay)."""
    assets = image["assets"]
    markets = image["markets"]
    assert isinstance(assets, dict) and isinstance(markets, list)
    for symbol, scale in assets.items():
        st.config.assets[symbol] = AssetSpec(symbol, scale)
    for row in markets:
        (symbol, kind, base, quote, tick, lot, min_qty, lev, maker, taker, mmr, band, cap,
         liq_fee, liq_slip, status) = row
        _install_market(st, MarketSpec(
            symbol, MarketKind(kind), st.config.assets[base], st.config.assets[quote],
            Decimal(tick), Decimal(lot), Decimal(min_qty), lev, maker, taker, Decimal(mmr),
            band, cap, liq_fee, liq_slip, MarketStatus(status)))

"""Balances and perp positions, in integer minor units.

Invariants:

* Per asset: sum over all accounts (including :data:`FEE_ACCOUNT` and
  :data:`INSURANCE_FUND`) of
  ``available + locked``, plus every perp position's ``margin``, minus every perp
  position's signed ``cost`` equals deposits minus withdrawals. (Perp PnL is zero-sum:
  realized PnL paid to closers equals the cost basis still carried by open positions.)
* ``locked`` of (user, asset) equals the sum of ``locked`` of the user's open orders
  locking that asset.
* ``available`` only goes below zero through a realized perp loss larger than the
  position's margin plus the free collateral, or a funding payment (then topped up from
  the payer's position margin); a liquidation always leaves its user at zero or above,
  the insurance fund paying any deficit (see :mod:`engine_svc.core.liquidation`).
* ``pos_refs[user]`` holds a handle for every position of ``user`` that exists in
  ``positions`` (built on creation and on snapshot load), so a user's positions are
  found without scanning all of them.
* Every mutation marks the :class:`Balance` / :class:`PositionRef` as touched so the
  engine emits exactly one ``BalanceChanged`` / ``PositionChanged`` for it per command, in
  first-touched order. A record carries its own ``touched`` flag (set when it
  is appended to ``touched_balances``, cleared by the flush), so marking it allocates
  nothing and hashes nothing.
* A :class:`Balance` record is never replaced once created: orders keep a reference to
  the record they lock (``Order.pair``) instead of looking it up per fill.
* Isolated positions (:mod:`engine_svc.core.isolated`) live under accounts of their own
  (:func:`iso_account`), so the cross-margin rules apply to each one alone; such an
  account's cash is zero between commands (its proceeds go to the owner) and is never
  published; ``isolated[owner]`` lists the owner's open ones.
"""

from __future__ import annotations

from typing import Final

from engine_svc.core.enums import Side

FEE_ACCOUNT: Final = "__fees__"
"""Account id collecting every trading fee (in the market's quote asset)."""

USD: Final = "USD"
"""The settlement asset of every perp market."""

INSURANCE_FUND: Final = "__insurance__"
"""Account id of the insurance fund (USD): liquidation fees and funding rounding in,
liquidation deficits out; it also holds positions it took over from liquidations. It may
be seeded with an ordinary Deposit and may go negative (socialised loss is not modelled)."""


ISO_PREFIX: Final = "__iso:"
"""Accounts holding isolated positions are named ``__iso:<position id>``. Ids starting with
``__`` are the house's: no order or trigger may name one, and no deposit or withdrawal an
isolated position's, so a user can never act as (or pay into) one."""


def iso_account(pid: int) -> str:
    """The ledger account that holds isolated position ``pid``."""
    return ISO_PREFIX + str(pid)


def is_house(user: str) -> bool:
    """An account id no order or trigger may be placed for: the fee account, the insurance
    fund, isolated-position accounts (every id starting with ``__``)."""
    return user.startswith("__")


class Position:
    """Signed size (lots, long > 0), signed cost basis (quote minor units) and margin."""

    __slots__ = ("cost", "margin", "realized", "size")

    def __init__(self, size: int = 0, cost: int = 0, margin: int = 0, realized: int = 0) -> None:
        self.size = size
        self.cost = cost
        self.margin = margin
        self.realized = realized

    def reducible(self, side: Side) -> int:
        """Lots an order on ``side`` can close without opening the other way."""
        size = self.size
        if side is Side.SELL:
            return size if size > 0 else 0
        return -size if size < 0 else 0

    def as_list(self) -> list[int]:
        return [self.size, self.cost, self.margin, self.realized]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Position) and self.as_list() == other.as_list()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Position(size={}, cost={}, margin={}, realized={})".format(*self.as_list())


class Balance:
    """One (user, asset) account: ``available`` and ``locked`` minor units. ``iso``: the
    cash of an isolated position's account (zero between commands, never published)."""

    __slots__ = ("asset", "available", "iso", "locked", "touched", "user")

    def __init__(self, user: str, asset: str, available: int = 0, locked: int = 0) -> None:
        self.available = available
        self.locked = locked
        self.user = user
        self.asset = asset
        self.touched = False
        self.iso = user.startswith(ISO_PREFIX)


class PositionRef:
    """A position with its (account, market) key and touched flag: the ledger's hot handle.

    ``owner`` is the user the position belongs to and ``pid`` its isolated position id (0
    for the cross position, whose account is the owner; an isolated position's account is
    :func:`iso_account` of its id)."""

    __slots__ = ("key", "owner", "pid", "pos", "touched")

    def __init__(self, key: tuple[str, str], pos: Position, owner: str = "",
                 pid: int = 0) -> None:
        self.key = key
        self.pos = pos
        self.touched = False
        self.owner = owner or key[0]
        self.pid = pid


class Ledger:
    """All balances (a :class:`Balance` per user and asset) and positions."""

    __slots__ = ("balances", "iso_closed", "iso_dirty", "isolated", "pos_refs", "positions",
                 "touched_balances", "touched_positions")

    def __init__(self) -> None:
        self.balances: dict[str, dict[str, Balance]] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        """(account, market) -> position: the owner's cross position, or an isolated one
        under its own account (:func:`iso_account`)."""
        self.touched_balances: list[Balance] = []
        self.pos_refs: dict[str, dict[str, PositionRef]] = {}
        """account -> market -> handle on ``positions[account, market]``."""
        self.touched_positions: list[PositionRef] = []
        self.isolated: dict[str, dict[int, PositionRef]] = {}
        """owner -> position id -> handle of each isolated position the owner has."""
        self.iso_dirty = False
        """Set when an isolated account's cash moved (settled at the end of the command,
        :mod:`engine_svc.core.isolated`)."""
        self.iso_closed: list[PositionRef] = []
        """Isolated positions seen at size zero this command (candidates to forget)."""

    def record(self, user: str, asset: str) -> Balance:
        """The balance record, created at zero (not marked touched)."""
        assets = self.balances.get(user)
        if assets is None:
            assets = self.balances[user] = {}
        bal = assets.get(asset)
        if bal is None:
            bal = assets[asset] = Balance(user, asset)
        return bal

    def balance(self, user: str, asset: str) -> Balance:
        """The balance record, created at zero; marks it touched."""
        bal = self.record(user, asset)
        self.touch(bal)
        return bal

    def touch(self, bal: Balance) -> None:
        if not bal.touched:
            bal.touched = True
            self.touched_balances.append(bal)
            if bal.iso:
                self.iso_dirty = True

    def find(self, user: str, asset: str) -> Balance | None:
        assets = self.balances.get(user)
        return assets.get(asset) if assets is not None else None

    def peek(self, user: str, asset: str) -> tuple[int, int]:
        """Read-only ``(available, locked)``."""
        bal = self.find(user, asset)
        return (bal.available, bal.locked) if bal else (0, 0)

    def available(self, user: str, asset: str) -> int:
        bal = self.find(user, asset)
        return bal.available if bal else 0

    def lock(self, bal: Balance, amount: int) -> None:
        """Move ``amount`` from available to locked (marks the record touched)."""
        self.touch(bal)
        bal.available -= amount
        bal.locked += amount

    def unlock(self, bal: Balance, amount: int) -> None:
        """Move ``amount`` from locked back to available (marks the record touched)."""
        self.touch(bal)
        bal.available += amount
        bal.locked -= amount

    def position(self, user: str, market: str) -> PositionRef:
        """The position's handle, created flat if new; marks it touched."""
        refs = self.pos_refs.get(user)
        if refs is None:
            refs = self.pos_refs[user] = {}
        ref = refs.get(market)
        if ref is None:
            key = (user, market)
            pos = self.positions.get(key)
            if pos is None:
                pos = self.positions[key] = Position()
            ref = refs[market] = PositionRef(key, pos)
        self.touch_position(ref)
        return ref

    def isolated_position(self, owner: str, market: str, pid: int) -> PositionRef:
        """Isolated position ``pid`` of ``owner``, created flat if new; marks it touched."""
        ref = self.find_isolated(owner, pid)
        if ref is None:
            ref = self.adopt_isolated(owner, market, pid, Position())
        self.touch_position(ref)
        return ref

    def find_isolated(self, owner: str, pid: int) -> PositionRef | None:
        mine = self.isolated.get(owner)
        return mine.get(pid) if mine is not None else None

    def drop_isolated(self, ref: PositionRef) -> None:
        """Forget a closed isolated position (its account holds nothing)."""
        account, _ = ref.key
        del self.positions[ref.key]
        del self.pos_refs[account]
        self.balances.pop(account, None)
        mine = self.isolated[ref.owner]
        del mine[ref.pid]
        if not mine:
            del self.isolated[ref.owner]

    def adopt_isolated(self, owner: str, market: str, pid: int, pos: Position) -> PositionRef:
        """Register an isolated position (a new one, or restored by a snapshot load): no
        touch, no event."""
        account = iso_account(pid)
        self.positions[account, market] = pos
        ref = PositionRef((account, market), pos, owner, pid)
        self.pos_refs[account] = {market: ref}
        self.isolated.setdefault(owner, {})[pid] = ref
        return ref

    def touch_position(self, ref: PositionRef) -> None:
        if not ref.touched:
            ref.touched = True
            self.touched_positions.append(ref)

    def user_positions(self, user: str) -> list[tuple[str, Position]]:
        """(market, position) of every position of account ``user``, sorted by market (a
        user's cross positions; an isolated account's one position)."""
        refs = self.pos_refs.get(user)
        if not refs:
            return []
        return sorted((m, ref.pos) for m, ref in refs.items()) if len(refs) > 1 \
            else [(m, ref.pos) for m, ref in refs.items()]

    def adopt(self, user: str, market: str, pos: Position) -> None:
        """Register a restored position (snapshot load): no touch, no event."""
        self.positions[user, market] = pos
        self.pos_refs.setdefault(user, {})[market] = PositionRef((user, market), pos)

    def reducible(self, user: str, market: str, side: Side) -> int:
        pos = self.positions.get((user, market))
        return pos.reducible(side) if pos else 0

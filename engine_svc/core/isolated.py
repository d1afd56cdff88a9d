"""Isolated positions: a perp position of its own per opening order, beside the cross one.

An order placed with ``margin_mode=ISOLATED`` (and no ``position_id``) opens isolated
position ``pid`` = its own order id: every fill of that order adds to that position, and
to nothing else. The position lives in the ledger under an account of its own,
:func:`~engine_svc.core.ledger.iso_account` ``(pid)``, so the ordinary perp rules apply to
it alone:

* Margin: each opening fill moves ``ceil(price * q * u / leverage)`` from the owner's
  hold into the position's margin, exactly as for cross. That margin is all that backs
  it: the cross account's equity, margin checks and liquidation never count it, and the
  position's losses never reach the cross collateral.
* Risk: equity = margin + unrealised PnL at mark; it is liquidated when equity < its
  maintenance margin (:mod:`perp` formulas with the account holding nothing else), in the
  same ``SetIndexPrice`` / ``SettleFunding`` sweep as cross users, by the same steps:
  the opening order's rest is canceled (LIQUIDATION), a reduce-only market order closes
  what the book absorbs, the insurance fund takes the rest at the reference price, the
  liquidation fee is capped by what the position still holds, the fund pays any deficit.
  Its liquidation price is the :func:`perp.liquidation_price` of its account.
* Reducing: an order with ``position_id`` = ``pid`` (the owner's, same market) is
  reduce-only on that position (clamped to it; POSITION_NOT_FOUND when it is not an
  open isolated position of the caller in that market). It holds only its fee, from the
  owner's cross balance, like any reduce-only order. Stop-loss / take-profit triggers
  may name ``pid`` too (and an isolated order's own stop-loss / take-profit do).
* Cash: what a close frees (margin share + realised PnL) and funding received land in
  the position's account and, at the end of the command (:func:`settle`), go to the
  owner's cross USD ``available``. A loss the closed share's margin does not cover is
  taken from the position's remaining margin, and what that cannot cover is paid by the
  insurance fund: an isolated loss never exceeds the position's margin. Funding paid
  comes out of the position's margin the same way. Between commands an isolated
  account's cash is zero, so its balance is never published.
* Events name the owner (``user_id``) and ``position_id``; an isolated position whose
  size is zero once its opening order is final is forgotten (:func:`prune`): its id is
  never reused. Self-trade prevention compares owners, across modes.
"""

from __future__ import annotations

from engine_svc.core.enums import Side
from engine_svc.core.ledger import INSURANCE_FUND, USD, PositionRef
from engine_svc.core.state import State


def find(st: State, owner: str, market: str, pid: int) -> PositionRef | None:
    """``owner``'s open isolated position ``pid`` in ``market``, or None."""
    ref = st.ledger.find_isolated(owner, pid)
    if ref is None or ref.key[1] != market:
        return None
    return ref


def reducible(st: State, owner: str, market: str, side: Side, pid: int) -> int:
    """Lots an order on ``side`` can close: of isolated position ``pid`` (0 if it is not
    ``owner``'s in ``market``), or of the cross position for ``pid`` 0."""
    if not pid:
        return st.ledger.reducible(owner, market, side)
    ref = find(st, owner, market, pid)
    return ref.pos.reducible(side) if ref is not None else 0


def settle(st: State) -> None:
    """End of command: each isolated account's cash to zero (module rules, "Cash")."""
    ledger = st.ledger
    ledger.iso_dirty = False
    for bal in list(ledger.touched_balances):
        cash = bal.available
        if not bal.iso or cash == 0:
            continue
        ref = ledger.pos_refs[bal.user]
        (pref,) = ref.values()
        if cash > 0:
            ledger.balance(pref.owner, USD).available += cash
        else:
            pos = pref.pos
            take = min(pos.margin, -cash)
            if take:
                ledger.touch_position(pref)
                pos.margin -= take
                cash += take
            if cash:
                ledger.balance(INSURANCE_FUND, USD).available += cash
        bal.available = 0


def prune(st: State) -> None:
    """Forget isolated positions that closed and whose opening order is final."""
    ledger = st.ledger
    closed = ledger.iso_closed
    ledger.iso_closed = []
    for ref in closed:
        if ref.pos.size or ref.pid in st.live or ledger.find_isolated(ref.owner, ref.pid) \
                is not ref or st.trigger_keys.get(ref.key):
            continue
        ledger.drop_isolated(ref)

"""``apply`` never raises for a well-typed command, whatever the values."""

from __future__ import annotations

import hypothesis.strategies as st
from core_stubs import conservation_gaps
from hypothesis import given, settings

from engine_svc.core import (
    CancelAll,
    CancelByClientId,
    CancelOrder,
    Command,
    Deposit,
    Engine,
    OrderType,
    PlaceOrder,
    ReplaceOrder,
    Side,
    StpMode,
    TimeInForce,
    Withdraw,
    default_markets,
)

ints = st.one_of(st.integers(-5, 5), st.integers(-(10**20), 10**20), st.integers(1, 600_000))
text = st.sampled_from(["", "u1", "u2", "__fees__", "BTC-PERP", "SOL-USD", "USD", "SOL", "x"])
maybe_int = st.one_of(st.none(), ints)
commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(PlaceOrder, user_id=text, market=text, side=st.sampled_from(list(Side)),
              quantity=ints, type=st.sampled_from(list(OrderType)), price=maybe_int,
              tif=st.sampled_from(list(TimeInForce)), post_only=st.booleans(),
              reduce_only=st.booleans(), client_order_id=st.one_of(st.none(), text),
              stp=st.sampled_from(list(StpMode)), leverage=ints, slippage_bps=ints, ts=ints),
    st.builds(CancelOrder, user_id=text, order_id=ints),
    st.builds(CancelByClientId, user_id=text, client_order_id=text),
    st.builds(CancelAll, user_id=text, market=st.one_of(st.none(), text)),
    st.builds(ReplaceOrder, user_id=text, order_id=ints, price=maybe_int, quantity=maybe_int),
    st.builds(Deposit, user_id=text, asset=text, amount=ints, tx_id=text),
    st.builds(Withdraw, user_id=text, asset=text, amount=ints,
              tx_id=st.one_of(st.none(), text)),
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(commands, max_size=40))
def test_apply_never_raises_and_conserves(cmds: list[Command]) -> None:
    engine = Engine(default_markets())
    for i, cmd in enumerate(cmds, start=1):
        events = engine.apply(cmd)
        assert engine.last_seq == i
        assert all(e.cmd_seq == i for e in events)
    users = ["", "u1", "u2", "BTC-PERP", "SOL-USD", "USD", "SOL", "x"]
    assert set(conservation_gaps(engine, users).values()) <= {0}

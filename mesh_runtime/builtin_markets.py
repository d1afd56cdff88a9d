"""The markets every trademesh starts with: the engine's defaults of an empty state
(:func:`engine_svc.core.markets.default_markets`, which a unit test holds to this list).

Services that do not run the engine's registry (the feed, persistence) read it to tell a
market that exists but has no data yet from one that does not exist; markets added at
runtime come to them as events.
"""

from __future__ import annotations

from typing import Final

BUILTIN_MARKETS: Final = ("BTC-PERP", "ETH-PERP", "SOL-PERP", "SOL-USD")

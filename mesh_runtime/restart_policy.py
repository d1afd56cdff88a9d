"""When ``trademesh up`` restarts a service that died, and when it gives up.

A service that exits unexpectedly (a crash, the OOM killer, ``kill -9``) is started again
after a back-off that doubles with each death in the window (0.5 s, 1 s, 2 s, ... at most
8 s). A service that died more than ``limit`` times within ``window`` seconds is not
restarted: something is wrong that a restart does not fix, and the supervisor stops the
mesh with that service's log tail instead of looping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    limit: int = 5
    window: float = 300.0
    first_delay: float = 0.5
    max_delay: float = 8.0
    clock: Callable[[], float] = time.monotonic
    _deaths: dict[str, deque[float]] = field(default_factory=dict)

    def on_death(self, name: str) -> float | None:
        """Seconds to wait before restarting ``name``, or None: give up."""
        now = self.clock()
        deaths = self._deaths.setdefault(name, deque())
        deaths.append(now)
        while deaths and deaths[0] < now - self.window:
            deaths.popleft()
        if len(deaths) > self.limit:
            return None
        delay: float = self.first_delay * 2.0 ** (len(deaths) - 1)
        return min(self.max_delay, delay)

    def recent_deaths(self, name: str) -> int:
        return len(self._deaths.get(name, ()))

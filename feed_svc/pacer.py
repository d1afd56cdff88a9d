"""A rate bound per key: at most one send per key per interval. Pure: time passed in.

The first change of a quiet key goes at once; changes within the interval after a send
collapse into one, sent by :meth:`Pacer.flush` once the interval has passed. So a key is
sent at most ``1000 / interval_ms`` times a second and its newest state is never held back
longer than one interval (plus the flush period).
"""

from __future__ import annotations


class Pacer:
    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms
        self._sent: dict[str, int] = {}
        self._pending: set[str] = set()

    def due(self, key: str, now: int) -> bool:
        """True (and counted as sent) when ``key`` may go now; otherwise it is pending."""
        sent = self._sent.get(key)
        if sent is None or now - sent >= self._interval:
            self._sent[key] = now
            self._pending.discard(key)
            return True
        self._pending.add(key)
        return False

    def flush(self, now: int) -> list[str]:
        """The pending keys whose interval has passed, sorted; counted as sent now."""
        ready = sorted(k for k in self._pending if now - self._sent[k] >= self._interval)
        for key in ready:
            self._sent[key] = now
            self._pending.discard(key)
        return ready

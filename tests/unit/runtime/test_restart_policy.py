"""The supervisor's restart back-off and its limit."""

from __future__ import annotations

from mesh_runtime.restart_policy import RestartPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_back_off_doubles_up_to_the_cap_then_gives_up() -> None:
    clock = Clock()
    policy = RestartPolicy(limit=6, window=300, first_delay=0.5, max_delay=8, clock=clock)
    delays = []
    for _ in range(6):
        delays.append(policy.on_death("engine"))
        clock.now += 1
    assert delays == [0.5, 1, 2, 4, 8, 8]
    assert policy.on_death("engine") is None
    assert policy.on_death("feed") == 0.5  # per service


def test_deaths_outside_the_window_are_forgotten() -> None:
    clock = Clock()
    policy = RestartPolicy(limit=2, window=60, clock=clock)
    assert policy.on_death("engine") == 0.5
    assert policy.on_death("engine") == 1
    clock.now += 61
    assert policy.on_death("engine") == 0.5
    assert policy.recent_deaths("engine") == 1

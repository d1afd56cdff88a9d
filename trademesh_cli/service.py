"""``trademesh engine|persistence|feed|gateway``: one service in the foreground.

Each service package has an ``app`` module whose ``async run(settings)`` serves until
SIGTERM/SIGINT and returns after a clean stop.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any, cast

from mesh_runtime import event_loop, metrics, tracing
from mesh_runtime.config import Settings
from mesh_runtime.serving import configure_logging

PACKAGES = {
    "engine": "engine_svc",
    "persistence": "persistence_svc",
    "feed": "feed_svc",
    "gateway": "gateway",
}

RunFn = Callable[[Settings], Coroutine[Any, Any, None]]


def load(name: str) -> RunFn | None:
    """The service's ``app.run``, or None if that module does not exist yet."""
    module_name = f"{PACKAGES[name]}.app"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name in (module_name, PACKAGES[name]):
            return None
        raise
    return cast(RunFn, module.run)


def command(args: argparse.Namespace) -> int:
    name: str = args.command
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    run = load(name)
    if run is None:
        print(f"trademesh {name}: {PACKAGES[name]}.app is not available yet", file=sys.stderr)
        return 2
    metrics.serve(name)
    tracing.setup(name)
    event_loop.run(run(settings), settings.event_loop)
    return 0

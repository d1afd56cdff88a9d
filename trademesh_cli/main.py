"""``trademesh``: parses the command line and hands over to the one module for each command.

Exit codes: 0 success (also a clean stop on Ctrl-C), 1 the command failed (a service did not
come up or died), 2 usage or configuration errors and commands not available yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Generator, Sequence

from mesh_runtime.config import ConfigError
from trademesh_cli import (
    bench,
    healthcheck,
    market_maker,
    migrate,
    pki,
    service,
    token,
    up,
    user,
)

Handler = Callable[[argparse.Namespace], int]

SERVICE_HELP = {
    "engine": "run the matching engine service alone (gRPC)",
    "persistence": "run the persistence service alone (gRPC)",
    "feed": "run the market-data feed alone (gRPC and WebSocket)",
    "gateway": "run the REST gateway and the Auth service alone",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trademesh",
        description="An exchange backend as a gRPC service mesh. Configuration is "
                    "TRADEMESH_* environment variables.",
        formatter_class=_OneLineHelp,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add(commands, "up", "the whole mesh on this machine, embedded PostgreSQL and Redis "
                         "included; Ctrl-C stops it", up.command)
    for name, help_text in SERVICE_HELP.items():
        _add(commands, name, help_text, service.command)
    _add(commands, "migrate", "apply the database migrations (TRADEMESH_POSTGRES_URL)",
         migrate.command)
    token.add_arguments(_add(commands, "token", "print a JWT for the local mesh "
                                                 "(an admin one with --admin)", token.command))
    user.add_arguments(_add(commands, "user", "manage accounts: `user create --email E "
                                              "[--admin]` (the only way to make an admin)",
                            user.command))
    _add(commands, "mm", "the market-maker bot: quotes around the index on every market",
         market_maker.command)
    bench.add_arguments(_add(commands, "bench", "run a benchmark of bench/ and print its "
                                                "figures", bench.command))
    healthcheck.add_arguments(_add(commands, "healthcheck", "exit 0 if a gRPC server reports "
                                                            "SERVING (container health checks)",
                                   healthcheck.command))
    pki.add_arguments(_add(commands, "pki", "create or renew the mesh's CA and service "
                                            "certificates (TLS)", pki.command))
    return parser


class _OneLineHelp(argparse.HelpFormatter):
    """Lists commands without the extra indent that pushes long names onto their own line."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=110)

    def _iter_indented_subactions(
        self, action: argparse.Action
    ) -> Generator[argparse.Action, None, None]:
        get_subactions = getattr(action, "_get_subactions", None)
        if get_subactions is not None:
            yield from get_subactions()


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    return sub


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as err:
        print(f"trademesh {args.command}: {err}", file=sys.stderr)
        return 2

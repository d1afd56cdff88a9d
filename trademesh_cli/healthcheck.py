"""``trademesh healthcheck HOST:PORT [--service NAME] [--cacert FILE]``: exit 0 when the
gRPC server there reports SERVING through ``grpc.health.v1.Health/Check`` over TLS, 1
otherwise (container health checks use it; it needs no grpcurl). The server's certificate
is checked against ``--cacert`` (default: the mesh CA of the settings, ``ca.pem`` in
``<data dir>/pki`` or ``TRADEMESH_TLS_CA_FILE``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mesh_runtime.config import Settings
from mesh_runtime.probes import grpc_serving


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST:PORT", help="the gRPC server to ask")
    parser.add_argument("--service", default="", help="a service name (default: the server)")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long to wait")
    parser.add_argument("--cacert", type=Path, default=None, metavar="FILE",
                        help="the CA certificate to trust (default: the mesh's ca.pem)")


def command(args: argparse.Namespace) -> int:
    ca_path: Path = args.cacert or Settings.from_env().ca_path
    try:
        ca_pem = ca_path.read_bytes()
    except OSError as err:
        print(f"trademesh healthcheck: cannot read the CA certificate {ca_path}: "
              f"{err.strerror}", file=sys.stderr)
        print("NOT SERVING")
        return 1
    serving = asyncio.run(grpc_serving(args.target, ca_pem, args.service, args.seconds))
    print("SERVING" if serving else "NOT SERVING")
    return 0 if serving else 1


def main() -> int:
    """``python -m trademesh_cli.healthcheck``: the same without importing every command
    (half the start-up time: container health checks run it every few seconds)."""
    parser = argparse.ArgumentParser(prog="python -m trademesh_cli.healthcheck",
                                     description=__doc__.split("\n")[0])
    add_arguments(parser)
    return command(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())

"""``trademesh healthcheck HOST:PORT [--service NAME]``: exit 0 when the gRPC server there
reports SERVING through ``grpc.health.v1.Health/Check``, 1 otherwise (container health
checks use it; it needs no grpcurl)."""

from __future__ import annotations

import argparse
import asyncio

from mesh_runtime.probes import grpc_serving


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST:PORT", help="the gRPC server to ask")
    parser.add_argument("--service", default="", help="a service name (default: the server)")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long to wait")


def command(args: argparse.Namespace) -> int:
    serving = asyncio.run(grpc_serving(args.target, args.service, args.seconds))
    print("SERVING" if serving else "NOT SERVING")
    return 0 if serving else 1

"""``trademesh pki [--dir DIR] [--name NAME]…``: creates or renews the mesh's CA and the
service certificates in a directory (default ``<data dir>/pki``), the way ``trademesh up``
does before it starts; for deployments that run the services one by one (docker-compose
mounts the files as secrets). Prints what it issued and the CA clients trust."""

from __future__ import annotations

import argparse
from pathlib import Path

from mesh_runtime.config import Settings
from mesh_runtime.pki import SERVICES, ensure_pki


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the files live (default: <data dir>/pki)")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="an extra DNS name or IP address for every certificate "
                             "(repeatable; TRADEMESH_TLS_SERVER_NAMES adds more)")


def command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    pki_dir: Path = args.dir or settings.pki_dir
    names = [*args.name, *(n.strip() for n in settings.tls_server_names.split(","))]
    issued = ensure_pki(pki_dir, SERVICES, [n for n in names if n])
    for service in SERVICES:
        state = "issued" if service in issued else "current"
        print(f"{service:12} {state:8} {pki_dir / (service + '.pem')}")
    print(f"CA certificate (what clients trust): {pki_dir / 'ca.pem'}")
    return 0

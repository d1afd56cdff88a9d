"""``trademesh migrate``: applies the persistence schema's migrations to the configured
PostgreSQL (``TRADEMESH_POSTGRES_URL``, or the embedded server's address). The persistence
service also migrates when it starts; this is for deployments that migrate first."""

from __future__ import annotations

import argparse

from mesh_runtime.config import Settings


def command(args: argparse.Namespace) -> int:
    from persistence_svc.migrations import upgrade_sync

    settings = Settings.from_env()
    upgrade_sync(settings.postgres_dsn)
    print(f"migrated {settings.postgres_dsn.rsplit('@', 1)[-1]}")
    return 0

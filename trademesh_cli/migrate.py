"""``trademesh migrate``: applies the persistence schema's migrations to the configured
PostgreSQL (``TRADEMESH_POSTGRES_URL``, or the embedded server's address). The persistence
service also migrates when it starts; this is for deployments that migrate first."""

from __future__ import annotations

import argparse
import sys

from mesh_runtime.config import Settings


def command(args: argparse.Namespace) -> int:
    import asyncpg
    import sqlalchemy.exc

    from persistence_svc.migrations import upgrade_sync

    settings = Settings.from_env()
    where = settings.postgres_dsn.rsplit("@", 1)[-1]  # no credentials in messages
    try:
        upgrade_sync(settings.postgres_dsn)
    except ValueError as err:
        print(f"trademesh migrate: TRADEMESH_POSTGRES_URL: {err}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
            sqlalchemy.exc.SQLAlchemyError) as err:
        hint = "" if settings.postgres_url else (
            " (the embedded server runs only under `trademesh up`, which also migrates; "
            "or set TRADEMESH_POSTGRES_URL)")
        cause = getattr(err, "orig", None) or err
        detail = (str(cause).splitlines() or [""])[0]
        print(f"trademesh migrate: cannot migrate PostgreSQL at {where}: "
              f"{type(cause).__name__}: {detail}{hint}", file=sys.stderr)
        return 1
    print(f"migrated {where}")
    return 0

"""Alembic environment: runs on the connection :func:`persistence_svc.migrations.upgrade`
passes in (``config.attributes["connection"]``), inside its transaction."""

from __future__ import annotations

from alembic import context

from persistence_svc.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with persistence_svc.migrations.upgrade(dsn)")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment for the hit store, driven from ``trailmatch.hitstore.db``.

There is no alembic.ini: ``db.upgrade(engine)`` builds the Alembic config in code and passes the
open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from trailmatch.hitstore.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the hit-store migrations through trailmatch.hitstore.db.upgrade()")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

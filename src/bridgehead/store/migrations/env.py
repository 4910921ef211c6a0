"""Alembic environment: always run with a connection handed in by Database.migrate."""

from alembic import context

from bridgehead.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Bridgehead migrations run through `bridgehead` (Database.migrate), not the alembic CLI"
    )

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

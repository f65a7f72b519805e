"""Alembic environment: the engine is handed in by pressroom_shared.migrate, never read from env."""

from __future__ import annotations

from alembic import context

from pressroom_shared.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

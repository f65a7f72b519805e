"""Alembic environment: the engine is handed in by pressroom_shared.migrate, never read from env."""

from __future__ import annotations

from typing import Any

from alembic import context

from pressroom_shared.models import Base


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Full-text objects are dialect DDL written by hand in the migrations; the models omit them.
    return not (name or "").startswith("search_fts") and not (type_ == "column" and name == "tsv")


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()

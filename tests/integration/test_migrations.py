"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import is_current, upgrade
from pressroom_shared.models import Base

# Full-text objects are dialect DDL that the models deliberately do not describe.
FULL_TEXT = ("search_fts", "tsv")


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(Settings(database_url=database_url))
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if not any(name in str(d) for name in FULL_TEXT)] == []

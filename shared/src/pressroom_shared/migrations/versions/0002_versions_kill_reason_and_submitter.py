"""versions kill reason and submitter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:49:39.593894
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kill_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("submitted_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_article_versions_submitted_by_api_keys"), "api_keys", ["submitted_by"], ["id"]
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index("ix_articles_created_at_id", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_created_at_id")
    with op.batch_alter_table("article_versions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_article_versions_submitted_by_api_keys"), type_="foreignkey"
        )
        batch_op.drop_column("submitted_by")
        batch_op.drop_column("kill_reason")

"""outlet breakers and pacing in outlet_states; outlet_sends, the per-recipient send record

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outlet_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("breaker", sa.String(length=16), nullable=False, server_default="closed")
        )
        batch_op.add_column(
            sa.Column("failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("breaker_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("breaker_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("tokens", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("tokens_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "outlet_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outlet", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlet_sends")),
        sa.UniqueConstraint(
            "outlet", "delivery_id", "kind", "recipient", name=op.f("uq_outlet_sends_outlet")
        ),
    )
    op.create_index(
        "ix_outlet_sends_article",
        "outlet_sends",
        ["outlet", "article_id", "kind", "state"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_outlet_sends_article", table_name="outlet_sends")
    op.drop_table("outlet_sends")
    with op.batch_alter_table("outlet_states", schema=None) as batch_op:
        batch_op.drop_column("tokens_at")
        batch_op.drop_column("tokens")
        batch_op.drop_column("breaker_changed_at")
        batch_op.drop_column("breaker_until")
        batch_op.drop_column("failures")
        batch_op.drop_column("breaker")

"""operator console: who did what (operator_actions), the console's signing key, request ids,
indexes for the console's recent-activity reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
    )
    op.create_index("ix_operator_actions_at", "operator_actions", ["at"], unique=False)
    op.create_index("ix_operator_actions_target", "operator_actions", ["target"], unique=False)
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    with op.batch_alter_table("article_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_article_versions_received_at", ["received_at"], unique=False)
    op.create_index("ix_step_attempts_started_at", "step_attempts", ["started_at"], unique=False)
    op.create_index("ix_step_attempts_finished_at", "step_attempts", ["finished_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_step_attempts_finished_at", table_name="step_attempts")
    op.drop_index("ix_step_attempts_started_at", table_name="step_attempts")
    with op.batch_alter_table("article_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_article_versions_received_at")
        batch_op.drop_column("request_id")
    op.drop_table("app_secrets")
    op.drop_index("ix_operator_actions_target", table_name="operator_actions")
    op.drop_index("ix_operator_actions_at", table_name="operator_actions")
    op.drop_table("operator_actions")

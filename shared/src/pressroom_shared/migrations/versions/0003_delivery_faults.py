"""delivery faults: due_at, lost attempts, operator retries, outlet states

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("lost_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("retry_from", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "ix_steps_due_at",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("due_at IS NOT NULL"),
            postgresql_where=sa.text("due_at IS NOT NULL"),
        )
        batch_op.create_index("ix_steps_outlet_state", ["outlet", "state"], unique=False)
        batch_op.create_index("ix_steps_finished_at", ["finished_at"], unique=False)
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=120), nullable=True))
        batch_op.create_index(
            "ix_step_attempts_worker_started_at", ["worker", "started_at"], unique=False
        )
    # Unfinished work becomes due at once: the first sweep sorts it out.
    op.execute(
        "UPDATE steps SET due_at = updated_at "
        "WHERE state IN ('pending', 'retrying', 'in_progress')"
    )
    op.create_table(
        "outlet_states",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outlet_states")),
    )


def downgrade() -> None:
    op.drop_table("outlet_states")
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_step_attempts_worker_started_at")
        batch_op.drop_column("worker")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_index("ix_steps_finished_at")
        batch_op.drop_index("ix_steps_outlet_state")
        batch_op.drop_index("ix_steps_due_at")
        batch_op.drop_column("retry_from")
        batch_op.drop_column("lost_attempts")
        batch_op.drop_column("due_at")

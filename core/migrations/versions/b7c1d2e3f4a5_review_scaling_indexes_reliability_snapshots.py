"""review scaling: queue and decision indexes, reliability snapshots

Revision ID: b7c1d2e3f4a5
Revises: e2fd40e4512c
Create Date: 2026-11-26 04:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

import core.db_types

# revision identifiers, used by Alembic.
revision = "b7c1d2e3f4a5"
down_revision = "e2fd40e4512c"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reliability_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generated_at", core.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reliability_snapshots")),
    )
    with op.batch_alter_table("reliability_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reliability_snapshots_generated_at"), ["generated_at"], unique=False
        )

    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_assignments_queue_due", ["reviewer_id", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_review_assignments_queue_done",
            ["reviewer_id", "status", "submitted_at"],
            unique=False,
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_decided_at"), ["decided_at"], unique=False)


def downgrade():
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_decided_at"))

    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_review_assignments_queue_done")
        batch_op.drop_index("ix_review_assignments_queue_due")

    with op.batch_alter_table("reliability_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reliability_snapshots_generated_at"))

    op.drop_table("reliability_snapshots")

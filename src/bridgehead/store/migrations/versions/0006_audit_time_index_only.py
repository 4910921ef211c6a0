"""The audit trail keeps only its time index.

Every tools/call appends an audit row, and each index is one more page written (and later
checkpointed) per commit: the user and tool indexes cost about 2 µs of a call's ~40 µs in
the fast path (bench/RESULTS.md). Audit reads are an administrator's, ordered by id and
usually bounded by time; a filter by user or tool now scans (about 0.5 s per 2.5 million
events on the benchmark machine) instead of every call paying for it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_events_username", table_name="audit_events")
    op.drop_index("ix_audit_events_tool", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_username", "audit_events", ["username"])
    op.create_index("ix_audit_events_tool", "audit_events", ["tool"])

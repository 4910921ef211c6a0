"""Streamable HTTP sessions that survive restarts and span workers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.JSON(), nullable=True),
        sa.Column("protocol_version", sa.String(32), nullable=False),
        sa.Column("client_params", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
    )
    op.create_index("ix_mcp_sessions_last_seen", "mcp_sessions", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_mcp_sessions_last_seen", table_name="mcp_sessions")
    op.drop_table("mcp_sessions")

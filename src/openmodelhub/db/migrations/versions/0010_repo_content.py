"""repo_content: which content reached which repo (a commit may only name content of its own repo)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No backfill: content of repos made before this table is found in their history on first use (and
    # recorded then), see services/repo_content.py.
    op.create_table(
        "repo_content",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_content_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "sha256", name=op.f("pk_repo_content")),
    )


def downgrade() -> None:
    op.drop_table("repo_content")

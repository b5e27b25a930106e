"""repo_tags: listing filters by tag run in SQL on an index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:00:00.000000
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _tags(raw: Any) -> list[str]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return [t for t in raw or [] if isinstance(t, str)]


def upgrade() -> None:
    op.create_table(
        "repo_tags",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_tags_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "tag", name=op.f("pk_repo_tags")),
    )
    op.create_index(op.f("ix_repo_tags_tag"), "repo_tags", ["tag"], unique=False)
    # Backfill from what the repos rows already say.
    conn = op.get_bind()
    table = sa.table("repo_tags", sa.column("repo_id", sa.Integer), sa.column("tag", sa.String))
    rows = conn.execute(sa.text("SELECT id, tags, pipeline_tag, library_name FROM repos")).all()
    values: list[dict[str, object]] = []
    for repo_id, tags, pipeline_tag, library_name in rows:
        wanted = {t for t in (*_tags(tags), pipeline_tag, library_name) if t}
        values.extend({"repo_id": repo_id, "tag": t[:300]} for t in sorted(wanted))
    if values:
        op.bulk_insert(table, values)


def downgrade() -> None:
    op.drop_index(op.f("ix_repo_tags_tag"), table_name="repo_tags")
    op.drop_table("repo_tags")

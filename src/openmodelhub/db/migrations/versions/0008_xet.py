"""xet storage: xorbs, chunk index, Xet files, upload shards (docs/decisions/0008-xet-storage.md)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xet_xorbs",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("unpacked_size", sa.BigInteger(), nullable=False),
        sa.Column("layout", sa.LargeBinary(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_xet_xorbs_repo_id_repos"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_xet_xorbs")),
    )
    op.create_index(op.f("ix_xet_xorbs_blob_sha256"), "xet_xorbs", ["blob_sha256"], unique=False)
    op.create_index(op.f("ix_xet_xorbs_repo_id"), "xet_xorbs", ["repo_id"], unique=False)
    op.create_index(op.f("ix_xet_xorbs_created_at"), "xet_xorbs", ["created_at"], unique=False)
    op.create_table(
        "xet_chunks",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("xorb_hash", sa.String(length=64), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_xet_chunks")),
    )
    op.create_table(
        "xet_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("git_sha1", sa.String(length=40), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_xet_files_repo_id_repos"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_xet_files")),
        sa.UniqueConstraint("file_hash", name=op.f("uq_xet_files_file_hash")),
    )
    op.create_table(
        "xet_shards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_xet_shards_repo_id_repos"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xet_shards")),
    )
    op.create_table(
        "xet_shard_xorbs",
        sa.Column("shard_id", sa.Integer(), nullable=False),
        sa.Column("xorb_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["shard_id"],
            ["xet_shards.id"],
            name=op.f("fk_xet_shard_xorbs_shard_id_xet_shards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shard_id", "xorb_hash", name=op.f("pk_xet_shard_xorbs")),
    )
    op.create_index(op.f("ix_xet_shard_xorbs_xorb_hash"), "xet_shard_xorbs", ["xorb_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_xet_shard_xorbs_xorb_hash"), table_name="xet_shard_xorbs")
    op.drop_table("xet_shard_xorbs")
    op.drop_table("xet_shards")
    op.drop_table("xet_files")
    op.drop_table("xet_chunks")
    op.drop_index(op.f("ix_xet_xorbs_created_at"), table_name="xet_xorbs")
    op.drop_index(op.f("ix_xet_xorbs_repo_id"), table_name="xet_xorbs")
    op.drop_index(op.f("ix_xet_xorbs_blob_sha256"), table_name="xet_xorbs")
    op.drop_table("xet_xorbs")

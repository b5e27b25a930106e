"""Inserting content-addressed rows that may already exist.

Git objects and content rows are named by their hash: two writers inserting the same id insert the same
row. `INSERT ... ON CONFLICT DO NOTHING` lets concurrent transactions on PostgreSQL (where two `SELECT`-then-
`INSERT` sequences can both see "missing") do so without a unique-key error; SQLite gets the same statement.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_missing(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` into `model`'s table, skipping any whose primary key is already there."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(model).values(list(rows)).on_conflict_do_nothing())

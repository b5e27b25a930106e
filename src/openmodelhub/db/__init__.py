"""Database adapter: SQLAlchemy models, engine set-up and alembic migrations."""

"""The store: SQLAlchemy 2 models, repositories, Alembic migrations (the only way tables are made)."""

"""Alembic environment: always run with a connection handed in by idgate.store.db.upgrade."""

from alembic import context

from idgate.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise SystemExit("Run migrations with 'idgate db upgrade --data DIR', not the alembic CLI.")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

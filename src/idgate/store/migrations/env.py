"""Alembic environment: always run with a connection handed in by idgate.store.db.upgrade."""

import importlib
import pkgutil

from alembic import context

import idgate.store
from idgate.store.models import Base

# Every idgate.store.models* module adds its tables to Base.metadata.
for module in pkgutil.iter_modules(idgate.store.__path__):
    if module.name.startswith("models"):
        importlib.import_module(f"idgate.store.{module.name}")

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise SystemExit("Run migrations with 'idgate db upgrade --data DIR', not the alembic CLI.")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

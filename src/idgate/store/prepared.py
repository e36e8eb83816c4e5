"""Statements of the login hot path, compiled once per database and run on the driver's cursor.

SQLAlchemy's execution machinery (cache-key lookup, execution context, parameter and result
set-up) costs about 100 µs per statement on this project's reference machine, against 5-10 µs
for the driver itself; a login runs nine statements. A :class:`Prepared` statement is still
written as a SQLAlchemy Core construct and compiled by SQLAlchemy's own compiler for the
connection's dialect (so SQLite and PostgreSQL get their own SQL and parameter style), and its
parameters go through the column types' own bind processors (so a datetime is stored in exactly
the format every other query reads). Only the per-call machinery is skipped: the compiled SQL
and the parameter order are kept, and each call is one ``cursor.execute``.

It runs on the DBAPI connection of a SQLAlchemy ``Connection`` and so inside that connection's
transaction; driver errors are re-raised as SQLAlchemy's ``DBAPIError`` subclasses, like any
other statement's. ``tests/server/test_store_prepared.py`` checks on both databases that rows
written and read this way are the rows SQLAlchemy writes and reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, exc, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

_Processor = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("sql", "names", "positional")

    def __init__(self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if any(b.expanding for b in compiled.binds.values()):
            raise ValueError("expanding (IN-list) parameters cannot be prepared")
        self.sql: str = compiled.string
        self.positional = bool(dialect.positional)
        defaults = compiled.construct_params(_check=False)
        # The names as the SQL renders them (positional styles: in order, repeated when used twice).
        rendered = {name: bind for bind, name in compiled.bind_names.items()}
        order = list(compiled.positiontup or ()) if self.positional else list(rendered)
        self.names: list[tuple[str, bool, Any, _Processor]] = []
        for name in order:
            bind = rendered[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            # A bindparam("name") or an INSERT column takes its value from each call; a literal
            # built into the statement (e.g. coalesce(x, false)) keeps the one it was built with.
            required = bool(bind.required) or name in (column_keys or ())
            self.names.append((name, required, defaults.get(name), processor))

    def parameters(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        for name, required, default, processor in self.names:
            if name in params:
                value = params[name]
            elif required:
                raise KeyError(f"parameter {name!r} missing")
            else:
                value = default
            values.append(processor(value) if processor is not None else value)
        if self.positional:
            return tuple(values)
        return {name: value for (name, _, _, _), value in zip(self.names, values)}


def _inserted_columns(table: Table) -> list[str]:
    """Every column but an autoincrement key: an INSERT here is given them all, so no column
    silently falls back to a default the raw path would not apply."""
    return [c.key for c in table.columns if not (c.primary_key and c.autoincrement is True)]


def insert_of(table: Table) -> Prepared:
    """A prepared INSERT of every column but an autoincrement key (each call passes them all)."""
    return Prepared(insert(table).inline(), columns=_inserted_columns(table))


class InsertMany:
    """Many rows in a few statements: multi-row ``INSERT ... VALUES (...), (...)`` of up to
    ``chunk`` rows each, every column given for every row (as :func:`insert_of`).

    Why not the driver's ``executemany``: Python's ``sqlite3`` releases the GIL around every
    row's ``sqlite3_step``, so a thread inserting a batch beside a busy event loop waits for the
    GIL once per row - measured here, 2,000 event rows took 1.09 s of wall time (49 ms of CPU)
    and interrupted the event loop 2,000 times. One statement per 64 rows waits 32 times. The
    statements are SQLAlchemy Core ``insert().values([...])`` of bound parameters, compiled once
    per dialect for each power-of-two size up to ``chunk`` (7 statements for 64), and at most 64
    rows x the table's columns stay far below SQLite's oldest limit of 999 parameters.
    """

    def __init__(self, table: Table, chunk: int = 64) -> None:
        if chunk < 1 or chunk & (chunk - 1):
            raise ValueError("chunk must be a power of two")
        self._table, self._chunk = table, chunk
        self._columns = _inserted_columns(table)
        self._by_size: dict[int, Prepared] = {}
        self._names = [[f"{c}_{i}" for c in self._columns] for i in range(chunk)]  # row i's parameters

    def _statement(self, size: int) -> Prepared:
        found = self._by_size.get(size)
        if found is None:
            rows = [{c: bindparam(name, type_=self._table.c[c].type) for c, name in zip(self._columns, names)}
                    for names in self._names[:size]]
            found = self._by_size[size] = Prepared(insert(self._table).values(rows))
        return found

    def execute(self, on: Connection | Session, rows: Sequence[Mapping[str, Any]]) -> None:
        done = 0
        while done < len(rows):
            size = self._chunk
            while size > len(rows) - done:
                size //= 2
            names = self._names[:size]
            params = {name: row[c] for row, row_names in zip(rows[done:done + size], names)
                      for c, name in zip(self._columns, row_names)}
            self._statement(size).execute(on, params)
            done += size


class Prepared:
    """A Core statement for the hot path: ``Prepared(select(...).where(T.c.x == bindparam("x")))``,
    then ``.all(conn, {"x": 1})``. INSERTs name their columns: ``Prepared(insert(T), columns=[...])``
    and every call passes every one of them (no column defaults are applied)."""

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._columns = tuple(columns) if columns else None
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        found = self._by_dialect.get(key)
        if found is None:
            with self._lock:
                found = self._by_dialect.get(key) or _Compiled(self._statement, dialect, self._columns)
                self._by_dialect[key] = found
        return found

    def _run(self, on: Connection | Session, params: Mapping[str, Any]) -> Any:
        conn = on.connection() if isinstance(on, Session) else on
        compiled = self._compiled(conn.dialect)
        args = compiled.parameters(params)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, args)
        except conn.dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise exc.DBAPIError.instance(compiled.sql, args, error, conn.dialect.loaded_dbapi.Error) from error
        return cursor

    def execute(self, on: Connection | Session, params: Mapping[str, Any]) -> int:
        """Run it (an INSERT, UPDATE or DELETE); the number of rows it touched."""
        cursor = self._run(on, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, on: Connection | Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cursor = self._run(on, params)
        try:
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()

    def all(self, on: Connection | Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self._run(on, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

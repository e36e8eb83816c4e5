"""Prepared statements (store/prepared.py) against SQLAlchemy's own execution, on SQLite and
PostgreSQL: the rows they write are the rows SQLAlchemy writes (every column, datetimes in the
same stored form), the rows they read are the rows SQLAlchemy reads, and errors come out as
SQLAlchemy's exceptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from idgate.config.loading import load_settings
from idgate.provider import Provider
from idgate.services import accounts
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models import Event, LoginSession, RefreshToken, User
from idgate.store.models_security import RoleSecurity, TotpFactor
from idgate.store.prepared import InsertMany, Prepared, insert_of

from support import GOOD_PASSWORD, init_deployment_fast


@pytest.fixture
def provider(tmp_path: Path, database_url: str) -> Provider:
    dep = init_deployment_fast(tmp_path / "data", database_url)
    p = Provider(load_settings(dep.data))
    yield p  # type: ignore[misc]
    p.close()


def _raw_rows(provider: Provider, table: str, where: str) -> list[tuple[object, ...]]:
    # The stored form, as the database holds it (no type processing on the way out).
    with provider.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {where} ORDER BY 1")]


def test_prepared_inserts_store_exactly_what_sqlalchemy_stores(provider: Provider) -> None:
    uid = accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD).id
    at = datetime(2026, 11, 29, 10, 20, 30, 123456, tzinfo=UTC)
    pairs = []
    for how in ("core", "prepared"):
        session_row = {"id": f"s_{how}", "user_id": uid, "client_id": "c", "created_at": at, "ended_at": None,
                       "amr": "pwd otp", "auth_time": 1_700_000_000, "acr": None, "sid": "x"}
        token_row = {"token_hash": f"h_{how}", "family_id": "f", "session_id": f"s_{how}", "user_id": uid,
                     "client_id": "c", "scope": "a b", "audience": "https://api", "parent_hash": None,
                     "created_at": at, "expires_at": at + timedelta(days=14),
                     "absolute_expires_at": at + timedelta(days=30), "used_at": None, "revoked_at": None,
                     "dpop_jkt": None}
        event_row = {"at": at, "kind": f"test.{how}", "outcome": "success", "actor": uid, "client_id": None,
                     "ip": "192.0.2.1", "request_id": "r1", "detail": '{"k": "v"}'}
        with transaction(provider.sessions) as s:
            if how == "core":
                s.execute(insert(LoginSession.__table__), [session_row])
                s.execute(insert(RefreshToken.__table__), [token_row])
                s.execute(insert(Event.__table__), [event_row])
            else:
                insert_of(LoginSession.__table__).execute(s, session_row)
                insert_of(RefreshToken.__table__).execute(s, token_row)
                insert_of(Event.__table__).execute(s, event_row)
        pairs.append((_raw_rows(provider, "sessions", f"id = 's_{how}'"),
                      _raw_rows(provider, "refresh_tokens", f"token_hash = 'h_{how}'"),
                      _raw_rows(provider, "events", f"kind = 'test.{how}'")))
    (core_session,), (core_token,), (core_event,) = pairs[0]
    (prep_session,), (prep_token,), (prep_event,) = pairs[1]
    assert prep_session[1:] == core_session[1:]
    assert prep_token[1] == core_token[1] and prep_token[3:] == core_token[3:]  # but the session id
    assert prep_event[1] == core_event[1] and prep_event[3:] == core_event[3:]  # but the id and kind
    # And the ORM reads the prepared rows back as aware UTC datetimes, like its own.
    with transaction(provider.sessions) as s:
        token = s.get(RefreshToken, "h_prepared")
        assert token is not None and token.created_at == at and token.expires_at == at + timedelta(days=14)


@pytest.mark.parametrize("count", [1, 3, 64, 65, 200])
def test_multi_row_inserts_store_exactly_what_sqlalchemy_stores(provider: Provider, count: int) -> None:
    at = datetime(2026, 11, 29, 10, 20, 30, 123456, tzinfo=UTC)

    def rows(how: str) -> list[dict[str, object]]:
        return [{"at": at + timedelta(seconds=i), "kind": f"many.{how}", "outcome": "success",
                 "actor": f"a{i}" if i % 2 else None, "client_id": "c", "ip": "192.0.2.1",
                 "request_id": f"r{i}", "detail": '{"n": %d}' % i} for i in range(count)]

    with transaction(provider.sessions) as s:
        s.execute(insert(Event.__table__), rows("core"))
    with transaction(provider.sessions) as s:
        InsertMany(Event.__table__, chunk=64).execute(s, rows("many"))
    core = _raw_rows(provider, "events", "kind = 'many.core'")
    many = _raw_rows(provider, "events", "kind = 'many.many'")
    assert len(many) == len(core) == count
    assert [r[1:2] + r[3:] for r in many] == [r[1:2] + r[3:] for r in core]  # all but the id and kind


def test_a_multi_row_insert_needs_every_column_and_fails_as_sqlalchemy_errors_do(provider: Provider) -> None:
    row = {"at": datetime.now(UTC), "kind": "k", "outcome": "o", "actor": None, "client_id": None, "ip": None,
           "request_id": None, "detail": None}
    with pytest.raises(KeyError), transaction(provider.sessions) as s:
        InsertMany(Event.__table__).execute(s, [row, {"at": row["at"], "kind": "k"}])
    with pytest.raises(IntegrityError), transaction(provider.sessions) as s:
        InsertMany(Event.__table__).execute(s, [row, {**row, "kind": None}])  # kind is NOT NULL
    with pytest.raises(ValueError, match="power of two"):
        InsertMany(Event.__table__, chunk=48)


def test_an_insert_must_be_given_every_column(provider: Provider) -> None:
    row = {"at": datetime.now(UTC), "kind": "k", "outcome": "o"}
    with pytest.raises(KeyError, match="actor"), transaction(provider.sessions) as s:
        insert_of(Event.__table__).execute(s, row)


def test_prepared_reads_match_sqlalchemy(provider: Provider) -> None:
    accounts.add_user(provider.sessions, "bob", GOOD_PASSWORD, roles=["ops", "staff"], permissions=["x:y"],
                      email="bob@example.com")
    with transaction(provider.sessions) as s:
        users.grant_role_permissions(s, "ops", ["ops:read", "x:y"])
        ops = s.scalar(select(users.Role).where(users.Role.name == "ops"))
        s.add(RoleSecurity(role_id=ops.id, require_mfa=True))
    with transaction(provider.sessions) as s:
        bob = users.find_by_username(s, "bob")
        assert bob is not None
        expected = users.view(bob)
        facts = users.login_facts(s, bob.id)
        assert users.credentials_of(s, "BOB") == (bob.id, bob.password_hash, False)
        assert users.credentials_of(s, "nobody") is None
    assert facts is not None and facts.view == expected
    assert facts.view.permissions == ("ops:read", "x:y") and facts.view.roles == ("ops", "staff")
    assert facts.roles_marked_mfa == {"ops"} and facts.has_second_factor is False
    with transaction(provider.sessions) as s:
        s.add(TotpFactor(user_id=bob.id, secret_enc="x", confirmed_at=datetime.now(UTC)))
    with transaction(provider.sessions) as s:
        assert users.login_facts(s, bob.id).has_second_factor is True  # type: ignore[union-attr]
        assert users.login_facts(s, "u_nobody") is None


def test_driver_errors_come_out_as_sqlalchemy_errors(provider: Provider) -> None:
    uid = accounts.add_user(provider.sessions, "carol", GOOD_PASSWORD).id
    row = {"id": "s_dup", "user_id": uid, "client_id": "c", "created_at": datetime.now(UTC), "ended_at": None,
           "amr": "pwd", "auth_time": None, "acr": None, "sid": None}
    with transaction(provider.sessions) as s:
        insert_of(LoginSession.__table__).execute(s, row)
    with pytest.raises(IntegrityError), transaction(provider.sessions) as s:
        insert_of(LoginSession.__table__).execute(s, row)
    # The failed transaction left nothing half-written, and the pool's connection still works.
    with provider.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sessions WHERE id = 's_dup'")).scalar() == 1
        assert Prepared(select(User.username).where(User.id == bindparam("uid"))).first(conn, {"uid": uid}) == ("carol",)


def test_in_lists_cannot_be_prepared(provider: Provider) -> None:
    statement = Prepared(select(User.id).where(User.id.in_(bindparam("ids", expanding=True))))
    with provider.engine.connect() as conn, pytest.raises(ValueError, match="IN-list"):
        statement.all(conn, {"ids": ["a"]})

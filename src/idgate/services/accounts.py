"""Account administration shared by the CLI and the admin API."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from idgate.passwords import check_new_password, hash_password
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.users import UserView


def _context_words(username: str, email: str | None, name: str | None) -> list[str]:
    words = [username]
    if email:
        words.append(email.split("@", 1)[0])
    if name:
        words.extend(name.split())
    return words


def add_user(sessions: sessionmaker[Session], username: str, password: str, *, roles: Iterable[str] = (),
             permissions: Iterable[str] = (), email: str | None = None, name: str | None = None) -> UserView:
    normalised = users.normalise_username(username)
    check_new_password(password, context_words=_context_words(normalised, email, name))
    password_hash = hash_password(password)
    with transaction(sessions) as session:
        return users.view(users.create_user(session, normalised, password_hash, roles=roles,
                                            permissions=permissions, email=email, name=name))


def set_password(sessions: sessionmaker[Session], username: str, password: str) -> None:
    with transaction(sessions) as session:
        user = users.require_by_username(session, username)
        check_new_password(password, context_words=_context_words(user.username, user.email, user.name))
        users.set_password_hash(session, user, hash_password(password), changed=True)


def set_disabled(sessions: sessionmaker[Session], username: str, disabled: bool) -> None:
    with transaction(sessions) as session:
        users.set_disabled(session, users.require_by_username(session, username), disabled)


def delete_user(sessions: sessionmaker[Session], username: str) -> None:
    with transaction(sessions) as session:
        users.delete_user(session, users.require_by_username(session, username))


def list_users(sessions: sessionmaker[Session]) -> list[UserView]:
    with transaction(sessions) as session:
        return [users.view(u) for u in users.list_users(session)]

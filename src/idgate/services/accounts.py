"""Account administration shared by the CLI and the admin API."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from idgate.passwords import check_new_password, hash_password
from idgate import events
from idgate.store import backchannel, users
from idgate.store.db import transaction
from idgate.store.users import UserView


def _context_words(username: str, email: str | None, name: str | None) -> list[str]:
    words = [username]
    if email:
        words.append(email.split("@", 1)[0])
    if name:
        words.extend(name.split())
    return words


# Every change below is also a security event (idgate/events) in the same transaction;
# ``actor`` is the admin's sub (admin API) or ``cli:<os user>`` (CLI).


def add_user(sessions: sessionmaker[Session], username: str, password: str, *, roles: Iterable[str] = (),
             permissions: Iterable[str] = (), email: str | None = None, name: str | None = None,
             actor: str | None = None) -> UserView:
    normalised = users.normalise_username(username)
    check_new_password(password, context_words=_context_words(normalised, email, name))
    password_hash = hash_password(password)
    with transaction(sessions) as session:
        view = users.view(users.create_user(session, normalised, password_hash, roles=roles,
                                            permissions=permissions, email=email, name=name))
        events.record(None, "admin.user.created", "success", session=session, actor=actor, subject=view.id,
                      username=view.username, roles=list(view.roles))
        return view


def set_password(sessions: sessionmaker[Session], username: str, password: str, *, actor: str | None = None) -> None:
    """A new password under the policy: 15 characters, or 8 once the user has a second factor
    (NIST SP 800-63B-4 §3.1.1.2); never the user's own name, username or email."""
    from idgate.mfa.service import has_second_factor

    with transaction(sessions) as session:
        user = users.require_by_username(session, username)
        check_new_password(password, context_words=_context_words(user.username, user.email, user.name),
                           has_second_factor=has_second_factor(session, user.id))
        users.set_password_hash(session, user, hash_password(password), changed=True)
        events.record(None, "admin.user.password_set", "success", session=session, actor=actor, subject=user.id,
                      username=user.username)


def set_disabled(sessions: sessionmaker[Session], username: str, disabled: bool, *, actor: str | None = None) -> None:
    with transaction(sessions) as session:
        user = users.require_by_username(session, username)
        users.set_disabled(session, user, disabled)
        if disabled:  # every app with a session of theirs is told (back-channel logout)
            backchannel.queue_for_user(session, user.id)
        events.record(None, "admin.user.disabled" if disabled else "admin.user.enabled", "success", session=session,
                      actor=actor, subject=user.id, username=user.username)


def delete_user(sessions: sessionmaker[Session], username: str, *, actor: str | None = None) -> None:
    with transaction(sessions) as session:
        user = users.require_by_username(session, username)
        events.record(None, "admin.user.deleted", "success", session=session, actor=actor, subject=user.id,
                      username=user.username)
        users.delete_user(session, user)


def list_users(sessions: sessionmaker[Session]) -> list[UserView]:
    with transaction(sessions) as session:
        return [users.view(u) for u in users.list_users(session)]

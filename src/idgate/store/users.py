"""User, role and permission repository: small functions taking a Session."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, exists, func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idgate import ids
from idgate.clock import utcnow
from idgate.errors import Conflict, InvalidRequest, NotFound
from idgate.store.models import Permission, RefreshToken, Role, User, role_permissions, user_permissions, user_roles
from idgate.store.models_passkeys import Passkey
from idgate.store.models_security import RoleSecurity, TotpFactor
from idgate.store.prepared import Prepared

# Letters, digits and . _ @ + - ; no spaces or control characters, so a name cannot be spoofed
# with invisible characters or lookalike whitespace in logs and consent screens.
_USERNAME = re.compile(r"^[\w.@+-]{1,64}$")
_NAME_RULE = re.compile(r"^[A-Za-z0-9:._*/-]{1,128}$")


def normalise_username(raw: str) -> str:
    """NFKC then case-fold (RFC 8265 §3.3 "UsernameCaseMapped"-like), trimmed."""
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _USERNAME.fullmatch(name):
        raise InvalidRequest(
            "A username is 1-64 letters, digits or . _ @ + - with no spaces.", detail="bad username"
        )
    return name


def check_name(kind: str, value: str) -> str:
    if not _NAME_RULE.fullmatch(value):
        raise InvalidRequest(f"A {kind} name is 1-128 characters of A-Z a-z 0-9 : . _ * / -.")
    return value


@dataclass(frozen=True)
class UserView:
    """What the token layer may see of a user: never the password hash."""

    id: str
    username: str
    email: str | None
    name: str | None
    disabled: bool
    roles: tuple[str, ...]
    permissions: tuple[str, ...]


def view(user: User) -> UserView:
    perms = {p.name for p in user.permissions}
    for role in user.roles:
        perms.update(p.name for p in role.permissions)
    return UserView(
        id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        disabled=user.disabled,
        roles=tuple(sorted(r.name for r in user.roles)),
        permissions=tuple(sorted(perms)),
    )


def _role(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == check_name("role", name)))
    if role is None:
        role = Role(name=name)
        session.add(role)
    return role


def _permission(session: Session, name: str) -> Permission:
    perm = session.scalar(select(Permission).where(Permission.name == check_name("permission", name)))
    if perm is None:
        perm = Permission(name=name)
        session.add(perm)
    return perm


def create_user(session: Session, username: str, password_hash: str, *, roles: Iterable[str] = (),
                permissions: Iterable[str] = (), email: str | None = None, name: str | None = None) -> User:
    username = normalise_username(username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"User {username!r} already exists.")
    user = User(id=ids.user_id(), username=username, password_hash=password_hash, email=email, name=name,
                disabled=False)
    user.roles = [_role(session, r) for r in dict.fromkeys(roles)]
    user.permissions = [_permission(session, p) for p in dict.fromkeys(permissions)]
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"User {username!r} already exists.") from None
    return user


def grant_role_permissions(session: Session, role: str, permissions: Iterable[str]) -> None:
    r = _role(session, role)
    have = {p.name for p in r.permissions}
    r.permissions.extend(_permission(session, p) for p in permissions if p not in have)


def find_by_username(session: Session, username: str) -> User | None:
    try:
        name = normalise_username(username)
    except InvalidRequest:
        return None
    return session.scalar(select(User).where(User.username == name))


# The login and refresh hot paths read a user with these statements, built once: a statement
# built per call costs more in SQLAlchemy's construction and cache-key work than the query.
# (store/prepared.py: compiled once per database, run on the driver's cursor.)
_UID = bindparam("uid")
_USER_ROW = select(User.id, User.username, User.email, User.name, User.disabled).where(User.id == _UID)
# A second factor: a confirmed TOTP authenticator or a passkey (issue 13).
_USER_ROW_WITH_FACTOR = _USER_ROW.add_columns(
    (exists().where(TotpFactor.user_id == User.id, TotpFactor.confirmed_at.is_not(None))
     | exists().where(Passkey.user_id == User.id)).label("enrolled"))
_READ_USER = Prepared(_USER_ROW)
_READ_USER_WITH_FACTOR = Prepared(_USER_ROW_WITH_FACTOR)
_READ_ROLES = Prepared(select(Role.name, func.coalesce(RoleSecurity.require_mfa, False).label("require_mfa"))
                       .join(user_roles, user_roles.c.role_id == Role.id)
                       .outerjoin(RoleSecurity, RoleSecurity.role_id == Role.id)
                       .where(user_roles.c.user_id == _UID))
_READ_PERMISSIONS = Prepared(union(
    select(Permission.name).join(user_permissions, user_permissions.c.permission_id == Permission.id)
    .where(user_permissions.c.user_id == _UID),
    select(Permission.name).join(role_permissions, role_permissions.c.permission_id == Permission.id)
    .join(user_roles, user_roles.c.role_id == role_permissions.c.role_id).where(user_roles.c.user_id == _UID)))
_CREDENTIALS = Prepared(select(User.id, User.password_hash, User.disabled).where(User.username == bindparam("username")))


@dataclass(frozen=True)
class LoginFacts:
    """A user as a login needs them: the view, an active second factor, and which of the
    user's roles an admin marked as requiring one (read in the same three queries)."""

    view: UserView
    has_second_factor: bool
    roles_marked_mfa: frozenset[str]


def _read_view(session: Session, user_id: str, with_factor: bool) -> tuple[UserView, bool, frozenset[str]] | None:
    conn = session.connection()
    params = {"uid": user_id}
    row = (_READ_USER_WITH_FACTOR if with_factor else _READ_USER).first(conn, params)
    if row is None:
        return None
    roles = _READ_ROLES.all(conn, params)
    perms = {name for (name,) in _READ_PERMISSIONS.all(conn, params)}
    view = UserView(id=row[0], username=row[1], email=row[2], name=row[3], disabled=bool(row[4]),
                    roles=tuple(sorted(name for name, _ in roles)), permissions=tuple(sorted(perms)))
    return view, bool(with_factor and row[5]), frozenset(name for name, marked in roles if marked)


def view_by_id(session: Session, user_id: str) -> UserView | None:
    """:func:`view` of one user read with three plain queries and no ORM objects: every login
    and refresh needs exactly this, and building mapped objects cost several times the queries."""
    read = _read_view(session, user_id, with_factor=False)
    return None if read is None else read[0]


def login_facts(session: Session, user_id: str) -> LoginFacts | None:
    """:func:`view_by_id` plus what decides whether a login needs a second factor."""
    read = _read_view(session, user_id, with_factor=True)
    return None if read is None else LoginFacts(*read)


def credentials_of(session: Session | Connection, username: str) -> tuple[str, str, bool] | None:
    """(id, password_hash, disabled) only: the login hot path needs no roles or profile."""
    try:
        name = normalise_username(username)
    except InvalidRequest:
        return None
    row = _CREDENTIALS.first(session, {"username": name})
    return None if row is None else (row[0], row[1], bool(row[2]))


def get(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def require_by_username(session: Session, username: str) -> User:
    user = find_by_username(session, username)
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count(session: Session) -> int:
    return len(session.scalars(select(User.id)).all())


def set_password_hash(session: Session, user: User, password_hash: str, *, changed: bool) -> None:
    """Store a new hash. ``changed`` (a new password, not a re-hash) ends every refresh token."""
    user.password_hash = password_hash
    if changed:
        user.password_changed_at = utcnow()
        revoke_user_refresh_tokens(session, user.id)


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    user.disabled = disabled
    if disabled:
        revoke_user_refresh_tokens(session, user.id)


def revoke_user_refresh_tokens(session: Session, user_id: str) -> None:
    now = utcnow()
    for token in session.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id,
                                                            RefreshToken.revoked_at.is_(None))):
        token.revoked_at = now


def delete_user(session: Session, user: User) -> None:
    session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    session.delete(user)

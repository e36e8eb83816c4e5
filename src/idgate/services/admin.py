"""Administration shared by the admin API and the CLI: users, roles, permissions, sessions,
lockouts. Every change records a security event with the acting admin as ``actor``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sa_delete, func, select
from sqlalchemy.orm import Session

from idgate.clock import utcnow
from idgate.errors import Conflict, NotFound
from idgate.provider import Provider
from idgate import events
from idgate.services import accounts
from idgate.store import backchannel
from idgate.store import tokens as token_rows
from idgate.store import users
from idgate.store.db import transaction
from idgate.store.models import LoginSession, Permission, Role, User, role_permissions, user_permissions, user_roles
from idgate.store.models_security import AccountLockout, RoleSecurity, TotpFactor


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int

    def as_dict(self) -> dict[str, Any]:
        nxt = self.offset + self.limit if self.offset + self.limit < self.total else None
        return {"items": self.items, "total": self.total, "offset": self.offset, "limit": self.limit,
                "next_offset": nxt}


def _user_dict(session: Session, user: User, *, locked: bool | None = None) -> dict[str, Any]:
    view = users.view(user)
    totp = session.get(TotpFactor, user.id)
    if locked is None:
        locked = session.get(AccountLockout, user.username) is not None
    return {"id": view.id, "username": view.username, "email": view.email, "name": view.name,
            "disabled": view.disabled, "roles": list(view.roles), "permissions": list(view.permissions),
            "direct_permissions": sorted(p.name for p in user.permissions),
            "mfa": "none" if totp is None else "active" if totp.confirmed_at else "pending",
            "locked": locked, "created_at": user.created_at.isoformat(),
            "password_changed_at": user.password_changed_at.isoformat()}


def list_users(provider: Provider, *, offset: int = 0, limit: int = 50, query: str | None = None) -> Page:
    with transaction(provider.sessions) as session:
        base = select(User)
        if query:
            base = base.where(User.username.contains(query.casefold(), autoescape=True))
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = session.scalars(base.order_by(User.username).offset(offset).limit(limit)).all()
        locked = set(session.scalars(select(AccountLockout.username).where(
            AccountLockout.username.in_([u.username for u in rows]))))
        items = [_user_dict(session, u, locked=u.username in locked) for u in rows]
    return Page(items, int(total), offset, limit)


def get_user(provider: Provider, username: str) -> dict[str, Any]:
    with transaction(provider.sessions) as session:
        return _user_dict(session, users.require_by_username(session, username))


def create_user(provider: Provider, *, actor: str, username: str, password: str, roles: Iterable[str] = (),
                permissions: Iterable[str] = (), email: str | None = None, name: str | None = None) -> dict[str, Any]:
    view = accounts.add_user(provider.sessions, username, password, roles=roles, permissions=permissions,
                             email=email, name=name, actor=actor)
    return get_user(provider, view.username)


def update_user(provider: Provider, username: str, *, actor: str, disabled: bool | None = None,
                email: str | None = None, name: str | None = None, roles: Iterable[str] | None = None,
                permissions: Iterable[str] | None = None, clear: Iterable[str] = ()) -> dict[str, Any]:
    """Change the given fields only; ``clear`` names profile fields (email, name) to empty."""
    if disabled is not None:
        accounts.set_disabled(provider.sessions, username, disabled, actor=actor)
    with transaction(provider.sessions) as session:
        user = users.require_by_username(session, username)
        changed: list[str] = []
        for field_name, value in (("email", email), ("name", name)):
            if value is not None:
                setattr(user, field_name, value)
                changed.append(field_name)
            elif field_name in clear:
                setattr(user, field_name, None)
                changed.append(field_name)
        if roles is not None:
            user.roles = [users._role(session, r) for r in dict.fromkeys(roles)]
            changed.append("roles")
        if permissions is not None:
            user.permissions = [users._permission(session, p) for p in dict.fromkeys(permissions)]
            changed.append("permissions")
        if roles is not None or permissions is not None:
            # What a refresh token may carry is re-checked at each refresh; nothing to revoke here.
            session.flush()
        if changed:
            events.record(None, "admin.user.updated", "success", session=session, actor=actor, subject=user.id,
                          username=user.username, fields=changed)
        return _user_dict(session, user)


def unlock_user(provider: Provider, username: str, *, actor: str | None) -> bool:
    """Lift the durable lock and clear the account's back-off (and MFA) counters. Works for
    names that do not exist too (they are locked alike, so as not to reveal which exist)."""
    from idgate.throttle import ACCOUNT, MFA, account_name, lockouts, throttle_for

    name = account_name(username)
    with transaction(provider.sessions) as session:
        was_locked = lockouts.unlock(session, name)
        user = users.find_by_username(session, name)
        user_id = user.id if user is not None else None
        events.record(None, "admin.user.unlocked", "success", session=session, actor=actor, subject=user_id,
                      username=name if user is not None else None, was_locked=was_locked)
    throttle = throttle_for(provider)
    throttle.reset(ACCOUNT, name)
    if user_id is not None:
        throttle.reset(MFA, user_id)
    return was_locked


def reset_mfa(provider: Provider, username: str, *, actor: str) -> bool:
    from idgate.mfa import service as mfa

    return mfa.remove_totp(provider, mfa.user_id_of(provider, username), actor=actor)


def _role_dict(session: Session, role: Role, required: set[str]) -> dict[str, Any]:
    members = session.scalar(select(func.count()).select_from(user_roles).where(user_roles.c.role_id == role.id)) or 0
    return {"name": role.name, "permissions": sorted(p.name for p in role.permissions),
            "require_mfa": role.name in required, "members": int(members)}


def _required_roles(session: Session, provider: Provider) -> set[str]:
    from idgate.mfa.service import roles_requiring_mfa

    return roles_requiring_mfa(session, provider.settings.require_mfa_roles)


def list_roles(provider: Provider, *, offset: int = 0, limit: int = 50) -> Page:
    with transaction(provider.sessions) as session:
        total = session.scalar(select(func.count(Role.id))) or 0
        required = _required_roles(session, provider)
        rows = session.scalars(select(Role).order_by(Role.name).offset(offset).limit(limit)).all()
        return Page([_role_dict(session, r, required) for r in rows], int(total), offset, limit)


def get_role(provider: Provider, name: str) -> dict[str, Any]:
    with transaction(provider.sessions) as session:
        role = session.scalar(select(Role).where(Role.name == users.check_name("role", name)))
        if role is None:
            raise NotFound(f"No role named {name!r}.")
        return _role_dict(session, role, _required_roles(session, provider))


def put_role(provider: Provider, name: str, *, actor: str, permissions: Iterable[str] | None = None,
             require_mfa: bool | None = None) -> dict[str, Any]:
    """Create or change a role: its permissions (replaced when given) and whether its members
    must use a second factor."""
    from idgate.mfa.service import set_role_requires_mfa

    with transaction(provider.sessions) as session:
        role = users._role(session, users.check_name("role", name))
        session.flush()
        if permissions is not None:
            role.permissions = [users._permission(session, p) for p in dict.fromkeys(permissions)]
        if require_mfa is not None:
            set_role_requires_mfa(session, role, require_mfa)
        session.flush()
        events.record(None, "admin.role.updated", "success", session=session, actor=actor, role=role.name,
                      permissions=sorted(p.name for p in role.permissions), require_mfa=require_mfa)
        return _role_dict(session, role, _required_roles(session, provider))


def delete_role(provider: Provider, name: str, *, actor: str) -> None:
    with transaction(provider.sessions) as session:
        role = session.scalar(select(Role).where(Role.name == users.check_name("role", name)))
        if role is None:
            raise NotFound(f"No role named {name!r}.")
        # A Core DELETE, not session.delete(): the two mappers share no relationship, so the
        # unit of work may order the role's DELETE first; the database's ON DELETE CASCADE
        # then removes the settings row and the ORM's row-count check warns (seen in CI).
        session.execute(sa_delete(RoleSecurity).where(RoleSecurity.role_id == role.id))
        session.delete(role)
        events.record(None, "admin.role.deleted", "success", session=session, actor=actor, role=name)


def list_permissions(provider: Provider, *, offset: int = 0, limit: int = 50) -> Page:
    with transaction(provider.sessions) as session:
        total = session.scalar(select(func.count(Permission.id))) or 0
        rows = session.scalars(select(Permission).order_by(Permission.name).offset(offset).limit(limit)).all()
        items = []
        for perm in rows:
            roles = session.scalars(select(Role.name).join(role_permissions, role_permissions.c.role_id == Role.id)
                                    .where(role_permissions.c.permission_id == perm.id).order_by(Role.name)).all()
            direct = session.scalar(select(func.count()).select_from(user_permissions)
                                    .where(user_permissions.c.permission_id == perm.id)) or 0
            items.append({"name": perm.name, "roles": list(roles), "direct_users": int(direct)})
        return Page(items, int(total), offset, limit)


def create_permission(provider: Provider, name: str, *, actor: str) -> dict[str, Any]:
    with transaction(provider.sessions) as session:
        if session.scalar(select(Permission.id).where(Permission.name == users.check_name("permission", name))):
            raise Conflict(f"Permission {name!r} already exists.")
        session.add(Permission(name=name))
        events.record(None, "admin.permission.created", "success", session=session, actor=actor, permission=name)
    return {"name": name, "roles": [], "direct_users": 0}


def delete_permission(provider: Provider, name: str, *, actor: str) -> None:
    with transaction(provider.sessions) as session:
        perm = session.scalar(select(Permission).where(Permission.name == users.check_name("permission", name)))
        if perm is None:
            raise NotFound(f"No permission named {name!r}.")
        session.delete(perm)
        events.record(None, "admin.permission.deleted", "success", session=session, actor=actor, permission=name)


def _session_dict(row: LoginSession, username: str) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "username": username, "client_id": row.client_id,
            "created_at": row.created_at.isoformat(), "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            "amr": row.amr.split() if row.amr else []}


def list_sessions(provider: Provider, *, username: str | None = None, active: bool | None = True,
                  offset: int = 0, limit: int = 50) -> Page:
    with transaction(provider.sessions) as session:
        base = select(LoginSession, User.username).join(User, User.id == LoginSession.user_id)
        if username:
            base = base.where(User.username == users.require_by_username(session, username).username)
        if active is True:
            base = base.where(LoginSession.ended_at.is_(None))
        elif active is False:
            base = base.where(LoginSession.ended_at.is_not(None))
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = session.execute(base.order_by(LoginSession.created_at.desc(), LoginSession.id)
                               .offset(offset).limit(limit)).all()
        return Page([_session_dict(r, name) for r, name in rows], int(total), offset, limit)


def end_session(provider: Provider, session_id: str, *, actor: str) -> None:
    with transaction(provider.sessions) as session:
        row = token_rows.get_session(session, session_id)
        if row is None:
            raise NotFound("No such session.")
        token_rows.end_session(session, session_id, utcnow())
        backchannel.queue_for_login_session(session, session_id)
        events.record(None, "session.ended", "success", session=session, actor=actor, subject=row.user_id,
                      sid=session_id, how="admin")

"""Which roles require a second factor: configured (``require_mfa_roles``) or marked by an admin."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from idgate.store.models import Role
from idgate.store.models_security import RoleSecurity


def roles_requiring_mfa(session: Session, configured: Iterable[str]) -> set[str]:
    marked = session.scalars(select(Role.name).join(RoleSecurity, RoleSecurity.role_id == Role.id)
                             .where(RoleSecurity.require_mfa.is_(True)))
    return set(configured) | set(marked)


def set_role_requires_mfa(session: Session, role: Role, required: bool) -> None:
    row = session.get(RoleSecurity, role.id)
    if row is None:
        session.add(RoleSecurity(role_id=role.id, require_mfa=required))
    else:
        row.require_mfa = required

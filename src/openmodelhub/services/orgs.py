"""Organizations: namespaces owned by their members, who hold a role (read, write or admin) in them.

An org's repos follow its roles through `repo_access` (services/auth.py). Org names share one namespace
table with user names, so a name is never both. Managing members needs ADMIN on the org's namespace
(an org admin with a write token, or a hub admin); nothing here decides rights by itself.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmodelhub.db.models import Namespace, Organization, OrgMembership, Repo, User
from openmodelhub.services.auth import (
    ORG_ROLES,
    Access,
    AuthService,
    Principal,
    check_account_name,
    namespace_access,
)
from openmodelhub.services.errors import BadRequest, Conflict, Forbidden, NotFound
from openmodelhub.services.hub import Hub


@dataclass(frozen=True)
class Member:
    name: str
    fullname: str
    role: str
    since: datetime


@dataclass(frozen=True)
class OrgInfo:
    id: int
    name: str
    fullname: str
    created_at: datetime


@dataclass(frozen=True)
class Overview:
    """A namespace (user or org) as a given caller sees it: counts cover only the repos they can read."""

    kind: str  # "user" | "org"
    id: int
    name: str
    fullname: str
    num_models: int
    num_datasets: int
    num_members: int
    created_at: datetime


def _check_role(role: str) -> str:
    if role not in ORG_ROLES:
        raise BadRequest(f"invalid role {role!r}: use read, write or admin")
    return role


class OrgService:
    def __init__(self, hub: Hub, auth: AuthService) -> None:
        self.hub = hub
        self.auth = auth

    # -- orgs ----------------------------------------------------------------------------------------------
    def create(
        self, principal: Principal | None, name: str, *, owner: str | None = None, fullname: str = ""
    ) -> OrgInfo:
        """Create an org whose first admin is `owner` (default: the caller). Through the API the caller
        needs a write token; `principal=None` is the operator's CLI."""
        if principal is not None:
            if not principal.can_write:
                raise Forbidden("Creating an organization needs a write token")
            if owner is not None and owner != principal.name and not principal.is_admin:
                raise Forbidden("Only hub administrators can create an organization for someone else")
        owner = owner or (principal.name if principal else None)
        if owner is None:
            raise BadRequest("an organization needs an owner")
        check_account_name(name, "organization name")
        if len(fullname) > 255:
            raise BadRequest("'fullname' must be at most 255 characters")
        user = self.auth.get_user(owner)
        taken = f"the name {name!r} is already taken by a user or an organization"
        try:
            with self.hub.write.begin() as s:
                if s.get(Namespace, name) is not None or s.scalar(select(User.id).where(User.name == name)):
                    raise Conflict(taken)
                s.add(Namespace(name=name, kind="org"))
                org = Organization(name=name, fullname=fullname or name)
                s.add(org)
                s.flush()
                s.add(OrgMembership(org_id=org.id, user_id=user.id, role="admin"))
                return OrgInfo(org.id, org.name, org.fullname, org.created_at)
        except IntegrityError as exc:
            raise Conflict(taken) from exc

    def get(self, name: str) -> OrgInfo:
        with self.hub.read() as s:
            org = s.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            raise NotFound(f"no organization named {name!r}")
        return OrgInfo(org.id, org.name, org.fullname, org.created_at)

    def namespace_kinds(self, names: list[str]) -> dict[str, str]:
        """ "user" or "org" for each of `names` that exists."""
        if not names:
            return {}
        with self.hub.read() as s:
            return dict(
                s.execute(select(Namespace.name, Namespace.kind).where(Namespace.name.in_(names))).all()
            )

    # -- members -------------------------------------------------------------------------------------------
    def members(self, name: str) -> list[Member]:
        org = self.get(name)
        with self.hub.read() as s:
            rows = s.execute(
                select(User.name, User.fullname, OrgMembership.role, OrgMembership.created_at)
                .join(OrgMembership, OrgMembership.user_id == User.id)
                .where(OrgMembership.org_id == org.id)
                .order_by(User.name)
            ).all()
        return [Member(*row) for row in rows]

    def memberships(self, user_id: int) -> list[tuple[OrgInfo, str]]:
        """The orgs a user belongs to, with their role in each."""
        with self.hub.read() as s:
            rows = s.execute(
                select(Organization, OrgMembership.role)
                .join(OrgMembership, OrgMembership.org_id == Organization.id)
                .where(OrgMembership.user_id == user_id)
                .order_by(Organization.name)
            ).all()
        return [(OrgInfo(o.id, o.name, o.fullname, o.created_at), role) for o, role in rows]

    def set_member(self, principal: Principal | None, org_name: str, username: str, role: str) -> Member:
        """Add `username` to the org with `role`, or change their role."""
        _check_role(role)
        org = self.get(org_name)
        self._require_admin(principal, org_name)
        user = self.auth.get_user(username)
        with self.hub.write.begin() as s:
            row = s.get(OrgMembership, (org.id, user.id))
            if row is None:
                row = OrgMembership(org_id=org.id, user_id=user.id, role=role)
                s.add(row)
            else:
                if row.role == "admin" and role != "admin":
                    self._keep_an_admin(s, org.id)
                row.role = role
            s.flush()
            return Member(user.name, user.fullname, role, row.created_at)

    def remove_member(self, principal: Principal | None, org_name: str, username: str) -> None:
        org = self.get(org_name)
        self._require_admin(principal, org_name)
        user = self.auth.get_user(username)
        with self.hub.write.begin() as s:
            row = s.get(OrgMembership, (org.id, user.id))
            if row is None:
                raise NotFound(f"{username} is not a member of {org_name}")
            if row.role == "admin":
                self._keep_an_admin(s, org.id)
            s.delete(row)

    @staticmethod
    def _keep_an_admin(s: Session, org_id: int) -> None:
        admins = s.scalar(
            select(func.count())
            .select_from(OrgMembership)
            .where(OrgMembership.org_id == org_id, OrgMembership.role == "admin")
        )
        if (admins or 0) <= 1:
            raise Conflict("an organization needs at least one admin: make someone else admin first")

    @staticmethod
    def _require_admin(principal: Principal | None, org_name: str) -> None:
        """Member management: org admins (write token) and hub admins; `None` is the operator's CLI."""
        if principal is None:
            return
        if namespace_access(principal, org_name) < Access.ADMIN:
            if principal.org_role(org_name) is None and not principal.is_admin:
                raise Forbidden(f"Only admins of {org_name} can manage its members")
            raise Forbidden(f"Managing the members of {org_name} needs an org admin with a write token")

    # -- overviews (counts follow what the caller can read) ------------------------------------------------
    def overview(self, principal: Principal | None, name: str) -> Overview:
        with self.hub.read() as s:
            ns = s.get(Namespace, name)
            if ns is None:
                raise NotFound(f"no user or organization named {name!r}")
            counts = dict(
                s.execute(
                    select(Repo.type, func.count())
                    .where(Repo.namespace == name, AuthService.readable_clause(principal))
                    .group_by(Repo.type)
                ).all()
            )
            if ns.kind == "org":
                org = s.scalar(select(Organization).where(Organization.name == name))
                assert org is not None
                members = s.scalar(
                    select(func.count()).select_from(OrgMembership).where(OrgMembership.org_id == org.id)
                )
                ident, fullname, created = org.id, org.fullname, org.created_at
            else:
                user = s.scalar(select(User).where(User.name == name))
                assert user is not None
                members, ident, fullname, created = 0, user.id, user.fullname, user.created_at
        return Overview(
            kind=ns.kind,
            id=ident,
            name=name,
            fullname=fullname,
            num_models=int(counts.get("model", 0)),
            num_datasets=int(counts.get("dataset", 0)),
            num_members=int(members or 0),
            created_at=created,
        )

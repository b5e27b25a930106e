"""Users, passwords, API tokens, and the one authorization function every route goes through.

`repo_access(principal, repo)` decides what a caller may do with a repo (docs/accounts.md): the user's own
rights (owner, org role, hub admin), capped by what the token allows (read, write, or the scopes of a
fine-grained token), and never less than what anyone may do with a public repo. Everything else here
(`can_read`, `require_read`, `require_write`, `require_repo`, `readable_clause` for listings) is that one
function seen from a different side. Gated repos add a check on file content, in services/access.py.
"""

import base64
import binascii
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, delete, false, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import (
    Invite,
    Namespace,
    Organization,
    OrgMembership,
    Repo,
    Token,
    TokenScope,
    User,
)
from openmodelhub.protocol.names import (
    NameError_,
    RepoId,
    RepoType,
    is_reserved_name,
    validate_name_part,
)
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCredentials,
    NotFound,
    RepoNotFound,
    Unauthorized,
)
from openmodelhub.services.hub import Hub

TOKEN_PREFIX = "omh_"
TOKEN_ROLES = ("read", "write", "fineGrained")
ORG_ROLES = ("read", "write", "admin")
SCOPE_PERMISSIONS = ("read", "write")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_SCOPES = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HASHER = PasswordHasher()


class Access(IntEnum):
    """What a caller may do with a repo; each level includes the ones below it."""

    NONE = 0  # not even know it exists (private repos answer RepoNotFound)
    READ = 1  # metadata and (unless gated) files
    WRITE = 2  # commits, branches, tags; handle gated access requests
    ADMIN = 3  # settings (visibility, gating), move, delete


ROLE_ACCESS = {"read": Access.READ, "write": Access.WRITE, "admin": Access.ADMIN}


@dataclass(frozen=True)
class Scope:
    """One grant of a fine-grained token: a repo (`kind="repo"`, `name="ns/name"`) or every repo of a
    namespace (`kind="namespace"`, `name="ns"`), with read or write permission."""

    kind: str
    name: str
    permission: str
    repo_type: str | None = None

    @property
    def access(self) -> Access:
        return Access.WRITE if self.permission == "write" else Access.READ

    def covers(self, repo_type: str, namespace: str, name: str | None) -> bool:
        """True for repos this scope names; `name=None` asks about the namespace itself (creating repos)."""
        if self.kind == "namespace":
            return self.name == namespace
        return name is not None and self.repo_type == repo_type and self.name == f"{namespace}/{name}"

    def __str__(self) -> str:
        if self.kind == "repo":
            return f"repo:{self.repo_type}/{self.name}:{self.permission}"
        return f"namespace:{self.name}:{self.permission}"

    @classmethod
    def parse(cls, text: str) -> "Scope":
        """`repo:[model/|dataset/]ns/name:read|write` or `namespace:ns:read|write`."""
        kind, _, rest = text.partition(":")
        target, _, permission = rest.rpartition(":")
        if kind not in ("repo", "namespace") or not target or not permission:
            raise BadRequest(
                f"invalid scope {text!r}: use repo:model/NS/NAME:read|write or namespace:NS:read|write"
            )
        repo_type = None
        if kind == "repo":
            parts = target.split("/")
            repo_type = "model"
            if len(parts) == 3:
                repo_type, target = parts[0], "/".join(parts[1:])
            return cls.make("repo", target, permission, repo_type)
        return cls.make("namespace", target, permission)

    @classmethod
    def make(cls, kind: str, name: str, permission: str, repo_type: str | None = None) -> "Scope":
        """A validated scope (BadRequest on anything malformed)."""
        if permission not in SCOPE_PERMISSIONS:
            raise BadRequest(f"invalid scope permission {permission!r}: use 'read' or 'write'")
        try:
            if kind == "repo":
                if repo_type not in (RepoType.MODEL.value, RepoType.DATASET.value):
                    raise BadRequest(f"invalid scope repo type {repo_type!r}: use 'model' or 'dataset'")
                RepoId.parse(name)
                return cls("repo", name, permission, repo_type)
            if kind == "namespace":
                validate_name_part(name, "namespace")
                return cls("namespace", name, permission)
        except NameError_ as exc:
            raise BadRequest(f"invalid scope: {exc}") from exc
        raise BadRequest(f"invalid scope kind {kind!r}: use 'repo' or 'namespace'")


def parse_scopes(items: Any) -> list[Scope]:
    """Scopes from an API body: a list of `"repo:model/ns/name:write"` strings or
    `{"type": "repo"|"namespace", "name", "permission", "repoType"?}` objects."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadRequest("'scopes' must be a list")
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Scope.parse(item))
        elif isinstance(item, dict) and all(
            isinstance(item.get(k), str) for k in ("type", "name", "permission")
        ):
            kind = item["type"]
            repo_type = item.get("repoType", "model") if kind == "repo" else None
            out.append(Scope.make(kind, item["name"], item["permission"], repo_type))
        else:
            raise BadRequest(
                "each scope is a string like 'repo:model/NS/NAME:write' or an object "
                "{'type': 'repo'|'namespace', 'name', 'permission': 'read'|'write', 'repoType'?}"
            )
    return out


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, through a token with a role ("read", "write" or "fineGrained")."""

    user_id: int
    name: str
    is_admin: bool
    role: str
    token_name: str
    token_created_at: str
    fullname: str = ""
    email: str | None = None
    # (org name, role in it), read with the token; what `repo_access` needs without another query.
    orgs: tuple[tuple[str, str], ...] = ()
    # Grants of a fine-grained token (empty for read and write tokens).
    scopes: tuple[Scope, ...] = ()
    token_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.role == "write"

    @property
    def fine_grained(self) -> bool:
        return self.role == "fineGrained"

    def org_role(self, org: str) -> str | None:
        return next((role for name, role in self.orgs if name == org), None)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    display_name: str
    role: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    last_used_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- the authorization function --------------------------------------------------------------------------
def member_access(principal: Principal, namespace: str) -> Access:
    """The user's own rights over the repos of a namespace, whatever the token: their own namespace and
    hub admins ADMIN, an org by their role in it."""
    if principal.is_admin or principal.name == namespace:
        return Access.ADMIN
    role = principal.org_role(namespace)
    return ROLE_ACCESS.get(role, Access.NONE) if role else Access.NONE


def token_access(principal: Principal, repo_type: str, namespace: str, name: str | None) -> Access:
    """The most the token allows on a repo (`name=None`: on the namespace): read tokens READ, write tokens
    everything, fine-grained tokens what their matching scopes grant (never ADMIN)."""
    if principal.role == "write":
        return Access.ADMIN
    if principal.role == "fineGrained":
        granted = [s.access for s in principal.scopes if s.covers(repo_type, namespace, name)]
        return max(granted, default=Access.NONE)
    return Access.READ


def granted_access(principal: Principal | None, repo: Repo) -> Access:
    """Rights from who the caller is (owner, org role, admin) as far as the token lets them through;
    a fine-grained token can never exceed its user's rights."""
    if principal is None:
        return Access.NONE
    return min(
        member_access(principal, repo.namespace),
        token_access(principal, repo.type, repo.namespace, repo.name),
    )


def repo_access(principal: Principal | None, repo: Repo) -> Access:
    """THE authorization decision for a repo. Public repos are readable by anyone (file content of gated
    repos is checked on top, in services/access.py)."""
    floor = Access.NONE if repo.private else Access.READ
    return max(floor, granted_access(principal, repo))


def namespace_access(principal: Principal | None, namespace: str) -> Access:
    """Rights over a namespace itself: WRITE creates repos in it, ADMIN manages an org's members."""
    if principal is None:
        return Access.NONE
    return min(member_access(principal, namespace), token_access(principal, "", namespace, None))


class AuthService:
    _CACHE_SECONDS = 5.0
    _LAST_USED_EVERY = 60.0

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # token hash -> (expiry, database version, principal)
        self._cache: dict[str, tuple[float, Any, Principal]] = {}
        self._last_used: dict[int, float] = {}
        self._lock = threading.Lock()
        # The database's version (api/hotcache.py), when the server knows it: a cached principal is then
        # dropped as soon as anything commits, so a revoked token or a removed membership counts at once,
        # also when the CLI or another worker process made the change.
        self.cache_version: Callable[[], Any] | None = None

    # -- accounts ------------------------------------------------------------------------------------------
    def create_user(
        self,
        name: str,
        *,
        admin: bool = False,
        fullname: str = "",
        email: str | None = None,
        password: str | None = None,
    ) -> User:
        check_account_name(name, "user name")
        password_hash = _hash_password(password) if password is not None else None
        taken = f"the name {name!r} is already taken by a user or an organization"
        try:
            with self.hub.write.begin() as s:
                user_exists = s.scalar(select(User.id).where(User.name == name)) is not None
                if user_exists or s.get(Namespace, name) is not None:
                    raise Conflict(taken)
                s.add(Namespace(name=name, kind="user"))
                user = User(
                    name=name,
                    is_admin=admin,
                    fullname=fullname or name,
                    email=email,
                    password_hash=password_hash,
                )
                s.add(user)
                s.flush()
                return user
        except IntegrityError as exc:  # lost a race with another account or org of the same name
            raise Conflict(taken) from exc

    def get_user(self, name: str) -> User:
        with self.hub.read() as s:
            user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise NotFound(f"no user named {name!r}")
        return user

    def ensure_user(self, name: str) -> User:
        try:
            return self.get_user(name)
        except NotFound:
            try:
                return self.create_user(name)
            except Conflict:
                return self.get_user(name)

    def register(
        self,
        principal: Principal | None,
        name: str,
        *,
        password: str | None,
        email: str | None = None,
        fullname: str = "",
        invite: str | None = None,
    ) -> User:
        """Create an account through the API, as the `registration` setting allows: hub admins (with a
        write token) always; anyone in "open" mode; holders of an unused invite code in "invite" mode."""
        by_admin = principal is not None and principal.is_admin and principal.can_write
        mode = self.hub.settings.registration
        if not by_admin:
            if mode == "admin":
                raise Forbidden("Registration is closed on this hub: an administrator creates accounts")
            if password is None:
                raise BadRequest("a 'password' is needed to register")
        if mode == "invite" and not by_admin:
            if not invite:
                raise Forbidden("Registration on this hub needs an invite code: send it as 'invite'")
            return self._register_with_invite(name, password, email, fullname, invite)
        return self.create_user(name, fullname=fullname, email=email, password=password)

    def _register_with_invite(
        self, name: str, password: str | None, email: str | None, fullname: str, invite: str
    ) -> User:
        now = utcnow().replace(tzinfo=None)
        key = hash_token(invite)
        with self.hub.write.begin() as s:
            # Claimed first (a compare-and-swap on used_by), so one code creates one account only.
            claimed = s.execute(
                update(Invite)
                .where(
                    Invite.code_hash == key,
                    Invite.used_by.is_(None),
                    or_(Invite.expires_at.is_(None), Invite.expires_at > now),
                )
                .values(used_by=name, used_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            raise Forbidden("This invite code is unknown, already used or expired")
        try:
            return self.create_user(name, fullname=fullname, email=email, password=password)
        except BaseException:
            with self.hub.write.begin() as s:  # the account was not created: the code stays usable
                s.execute(update(Invite).where(Invite.code_hash == key).values(used_by=None, used_at=None))
            raise

    def create_invite(self, principal: Principal | None, *, days: int | None = 7) -> str:
        """A one-time registration code, valid for `days` (None: no expiry); only its hash is stored.
        Hub admins (write token) only; `principal=None` is the operator's CLI."""
        if principal is not None and not (principal.is_admin and principal.can_write):
            raise Forbidden("Only hub administrators (with a write token) can create invite codes")
        if days is not None and not (0 < days <= 3650):
            raise BadRequest("'days' must be between 1 and 3650")
        by = principal.name if principal is not None else "omh"
        code = "omhinv_" + secrets.token_urlsafe(18)
        expires = utcnow().replace(tzinfo=None) + timedelta(days=days) if days else None
        with self.hub.write.begin() as s:
            s.add(Invite(code_hash=hash_token(code), created_by=by, expires_at=expires))
        return code

    # -- passwords -----------------------------------------------------------------------------------------
    def set_password(self, name: str, password: str) -> None:
        hashed = _hash_password(password)
        with self.hub.write.begin() as s:
            if s.execute(update(User).where(User.name == name).values(password_hash=hashed)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no user named {name!r}")

    def update_profile(self, name: str, *, fullname: str, email: str | None) -> None:
        """Change a user's full name (empty: their user name) and e-mail (None: none)."""
        fullname = fullname.strip()
        if len(fullname) > 255:
            raise BadRequest("a full name must be at most 255 characters")
        if email is not None:
            email = email.strip()
            if len(email) > 255 or not _EMAIL.fullmatch(email):
                raise BadRequest(f"{email!r} is not an e-mail address (like name@example.org)")
        with self.hub.write.begin() as s:
            values = {"fullname": fullname or name, "email": email}
            if s.execute(update(User).where(User.name == name).values(**values)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no user named {name!r}")

    def verify_password(self, name: str, password: str) -> User:
        """The user, when `password` is theirs; InvalidCredentials otherwise (same answer for an unknown
        user, a user without a password and a wrong password)."""
        bad = InvalidCredentials("Invalid username or password")
        with self.hub.read() as s:
            user = s.scalar(select(User).where(User.name == name))
        if user is None or not user.password_hash:
            _HASHER.hash("timing-equaliser")  # as slow as a real check, so names cannot be probed
            raise bad
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise bad from None
        if _HASHER.check_needs_rehash(user.password_hash):
            with self.hub.write.begin() as s:
                s.execute(update(User).where(User.id == user.id).values(password_hash=_HASHER.hash(password)))
        return user

    def session_principal(self, user_id: int) -> Principal | None:
        """The user as a caller with full rights, for a signed-in browser (web/ sessions); None when the
        account no longer exists."""
        with self.hub.read() as s:
            user = s.get(User, user_id)
        return None if user is None else self._principal(user, None, "write", "web session", None, ())

    # -- tokens --------------------------------------------------------------------------------------------
    def create_token(
        self,
        username: str,
        *,
        write: bool = False,
        display_name: str | None = None,
        role: str | None = None,
        scopes: Iterable[Scope] = (),
    ) -> str:
        """Create a token; returns the secret, which is stored only as a hash."""
        return self.issue_token(username, write=write, display_name=display_name, role=role, scopes=scopes)[0]

    def issue_token(
        self,
        username: str,
        *,
        write: bool = False,
        display_name: str | None = None,
        role: str | None = None,
        scopes: Iterable[Scope] = (),
    ) -> tuple[str, TokenInfo]:
        """(secret, what was stored). `role` wins over `write`; "fineGrained" needs at least one scope."""
        role = role or ("write" if write else "read")
        if role == "fine-grained":
            role = "fineGrained"
        if role not in TOKEN_ROLES:
            raise BadRequest(f"invalid token role {role!r}: use read, write or fineGrained")
        scopes = tuple(dict.fromkeys(scopes))
        if role == "fineGrained" and not scopes:
            raise BadRequest("a fine-grained token needs at least one scope")
        if role != "fineGrained" and scopes:
            raise BadRequest("scopes are only for fine-grained tokens (role 'fineGrained')")
        if len(scopes) > MAX_SCOPES:
            raise BadRequest(f"a token can have at most {MAX_SCOPES} scopes")
        if display_name is not None and not (0 < len(display_name) <= 255):
            raise BadRequest("a token name must be 1-255 characters")
        user = self.get_user(username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self.hub.write.begin() as s:
            row = Token(
                user_id=user.id,
                display_name=display_name or f"{role}-{secrets.token_hex(3)}",
                token_hash=hash_token(token),
                role=role,
            )
            s.add(row)
            s.flush()
            for sc in scopes:
                s.add(
                    TokenScope(
                        token_id=row.id,
                        kind=sc.kind,
                        repo_type=sc.repo_type,
                        name=sc.name,
                        permission=sc.permission,
                    )
                )
            info = TokenInfo(row.id, user.name, row.display_name, role, scopes, row.created_at, None)
        return token, info

    @staticmethod
    def token_owner(principal: Principal | None, user: str | None, *, write: bool) -> str:
        """Whose tokens a caller may manage: their own through a read (listing) or write token, or their
        password; anyone's for hub admins. Fine-grained tokens manage no tokens."""
        if principal is None:
            raise Unauthorized("You must be authenticated to manage tokens: pass a token or your password")
        if principal.fine_grained or (write and not principal.can_write):
            raise Forbidden("Managing tokens needs a write token (or your password)")
        if user is not None and user != principal.name and not principal.is_admin:
            raise Forbidden("Only hub administrators can manage the tokens of other users")
        return user or principal.name

    def list_tokens(self, username: str) -> list[TokenInfo]:
        user = self.get_user(username)
        with self.hub.read() as s:
            rows = s.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.id)).all()
            scopes = self._scopes(s, [t.id for t in rows])
        return [
            TokenInfo(
                t.id, user.name, t.display_name, t.role, scopes.get(t.id, ()), t.created_at, t.last_used_at
            )
            for t in rows
        ]

    def revoke_token(self, username: str, token: str | int) -> TokenInfo:
        """Delete a token of `username`, named by its id or its display name (which must be unambiguous)."""
        found = [
            t
            for t in self.list_tokens(username)
            if (isinstance(token, int) and t.id == token)
            or (isinstance(token, str) and (t.display_name == token or str(t.id) == token))
        ]
        if not found:
            raise NotFound(f"{username} has no token {token!r}")
        if len(found) > 1:
            raise Conflict(f"{username} has several tokens named {token!r}: revoke one by its id")
        with self.hub.write.begin() as s:
            s.execute(delete(TokenScope).where(TokenScope.token_id == found[0].id))
            s.execute(delete(Token).where(Token.id == found[0].id))
        with self._lock:
            self._cache.clear()
        return found[0]

    @staticmethod
    def _scopes(s: Any, token_ids: list[int]) -> dict[int, tuple[Scope, ...]]:
        out: dict[int, list[Scope]] = {}
        if token_ids:
            rows = s.scalars(
                select(TokenScope).where(TokenScope.token_id.in_(token_ids)).order_by(TokenScope.id)
            ).all()
            for r in rows:
                out.setdefault(r.token_id, []).append(Scope(r.kind, r.name, r.permission, r.repo_type))
        return {k: tuple(v) for k, v in out.items()}

    # -- authentication ------------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an `Authorization` header; None when there is none. Raises InvalidCredentials."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() == "basic":
            # git and git-lfs send `user:token` as HTTP Basic credentials; the token is what counts.
            try:
                token = base64.b64decode(token, validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                token = ""
        elif scheme.lower() != "bearer":
            token = ""
        if not token:
            raise InvalidCredentials("Invalid credentials in Authorization header")
        key = hash_token(token)
        now = time.monotonic()
        version = self.cache_version() if self.cache_version is not None else None
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now and cached[1] == version:
            principal = cached[2]
        else:
            with self.hub.read() as s:
                row = s.execute(
                    select(Token, User).join(User, User.id == Token.user_id).where(Token.token_hash == key)
                ).first()
                if row is None:
                    raise InvalidCredentials("Invalid credentials in Authorization header")
                tok, user = row
                orgs = s.execute(
                    select(Organization.name, OrgMembership.role)
                    .join(OrgMembership, OrgMembership.org_id == Organization.id)
                    .where(OrgMembership.user_id == user.id)
                    .order_by(Organization.name)
                ).all()
                scopes = self._scopes(s, [tok.id]).get(tok.id, ()) if tok.role == "fineGrained" else ()
            principal = self._principal(user, tok, tok.role, tok.display_name, orgs, scopes)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self._CACHE_SECONDS, version, principal)
        if principal.token_id is not None:
            self._touch(principal.token_id)
        return principal

    def _principal(
        self,
        user: User,
        tok: Token | None,
        role: str,
        token_name: str,
        orgs: Iterable[Any] | None,
        scopes: tuple[Scope, ...],
    ) -> Principal:
        if orgs is None:
            with self.hub.read() as s:
                orgs = s.execute(
                    select(Organization.name, OrgMembership.role)
                    .join(OrgMembership, OrgMembership.org_id == Organization.id)
                    .where(OrgMembership.user_id == user.id)
                ).all()
        return Principal(
            user_id=user.id,
            name=user.name,
            is_admin=user.is_admin,
            role=role,
            token_name=token_name,
            token_created_at=(
                tok.created_at if tok is not None else utcnow().replace(tzinfo=None)
            ).isoformat(),
            fullname=user.fullname,
            email=user.email,
            orgs=tuple((name, r) for name, r in orgs),
            scopes=scopes,
            token_id=tok.id if tok is not None else None,
        )

    def touch_due(self, token_id: int) -> bool:
        """True when a request with this token should go through `authenticate` to record `last_used_at`."""
        return time.monotonic() - self._last_used.get(token_id, 0.0) >= self._LAST_USED_EVERY

    def _touch(self, token_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(token_id, 0.0) < self._LAST_USED_EVERY:
                return
            self._last_used[token_id] = now
        with self.hub.write.begin() as s:
            s.execute(
                update(Token).where(Token.id == token_id).values(last_used_at=utcnow().replace(tzinfo=None))
            )

    # -- authorization: the single place that decides who may do what -------------------------------------
    @staticmethod
    def can_read(principal: Principal | None, repo: Repo) -> bool:
        return repo_access(principal, repo) >= Access.READ

    @staticmethod
    def require_repo(principal: Principal | None, repo: Repo, need: Access) -> Access:
        """The caller's access to `repo`, when it is at least `need`; otherwise the error that reveals
        nothing more than the caller may know (a private repo they cannot read does not exist)."""
        have = repo_access(principal, repo)
        if have >= need:
            return have
        if have == Access.NONE:
            raise RepoNotFound()
        repo_id = f"{repo.namespace}/{repo.name}"
        if principal is None:
            raise Unauthorized("You must be authenticated to do this: pass a token")
        if principal.role == "read":
            raise Forbidden("This token is read-only; a token with write access is needed")
        if token_access(principal, repo.type, repo.namespace, repo.name) < need:
            raise Forbidden(f"This fine-grained token does not allow this on {repo.type} {repo_id}")
        if need == Access.ADMIN:
            raise Forbidden(f"You need admin rights on {repo.type} {repo_id} to do this")
        raise Forbidden(f"You don't have the rights to write to {repo.type} {repo_id}")

    def require_read(self, principal: Principal | None, repo: Repo) -> None:
        # A private repo is indistinguishable from a missing one for outsiders.
        self.require_repo(principal, repo, Access.READ)

    @staticmethod
    def require_write(principal: Principal | None, target: "str | Repo") -> Principal:
        """Write access to a repo, or to a namespace (`target` a name: creating repos in it)."""
        if isinstance(target, Repo):
            AuthService.require_repo(principal, target, Access.WRITE)
            assert principal is not None
            return principal
        if principal is None:
            raise Unauthorized("You must be authenticated to write: pass a token with write access")
        if principal.role == "read":
            raise Forbidden("This token is read-only; a token with write access is needed")
        if namespace_access(principal, target) < Access.WRITE:
            if principal.fine_grained and member_access(principal, target) >= Access.WRITE:
                raise Forbidden(f"This fine-grained token does not allow writing to the namespace {target!r}")
            raise Forbidden(f"You don't have the rights to write to the namespace {target!r}")
        return principal

    @staticmethod
    def readable_clause(principal: Principal | None) -> ColumnElement[bool]:
        """`repo_access(principal, repo) >= READ` as a SQL condition on `Repo`, for listings and counts."""
        public = Repo.private.is_(False)
        if principal is None:
            return public
        if principal.is_admin:
            member: ColumnElement[bool] = true()
        else:
            names = [principal.name, *(org for org, _ in principal.orgs)]
            member = Repo.namespace.in_(names)
        if principal.role != "fineGrained":
            scoped: ColumnElement[bool] = true()
        elif principal.scopes:
            scoped = or_(
                *(
                    Repo.namespace == sc.name
                    if sc.kind == "namespace"
                    else and_(
                        Repo.type == sc.repo_type,
                        Repo.namespace == sc.name.partition("/")[0],
                        Repo.name == sc.name.partition("/")[2],
                    )
                    for sc in principal.scopes
                )
            )
        else:
            scoped = false()
        return or_(public, and_(member, scoped))


def check_account_name(name: str, what: str) -> str:
    """A valid name for a new user or organization: BadRequest when malformed, Conflict when the hub keeps
    it for its own paths (protocol/names.py RESERVED_NAMES)."""
    try:
        validate_name_part(name, what)
    except NameError_ as exc:
        raise BadRequest(str(exc)) from exc
    if is_reserved_name(name):
        raise Conflict(
            f"the name {name!r} is reserved: the hub uses /{name.lower()} for its own pages or API; "
            "choose another name"
        )
    return name


def _hash_password(password: str) -> str:
    if not isinstance(password, str) or not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH):
        raise BadRequest(f"a password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long")
    return _HASHER.hash(password)

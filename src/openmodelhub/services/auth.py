"""Users, API tokens and the one permission check every route goes through."""

import base64
import binascii
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from openmodelhub.db.models import Repo, Token, User
from openmodelhub.protocol.names import NameError_, validate_name_part
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


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, through a token with a role."""

    user_id: int
    name: str
    is_admin: bool
    role: str  # "read" | "write"
    token_name: str
    token_created_at: str
    fullname: str = ""
    email: str | None = None

    @property
    def can_write(self) -> bool:
        return self.role == "write"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    _CACHE_SECONDS = 5.0
    _LAST_USED_EVERY = 60.0

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._last_used: dict[int, float] = {}
        self._lock = threading.Lock()

    # -- accounts ------------------------------------------------------------------------------------------
    def create_user(
        self, name: str, *, admin: bool = False, fullname: str = "", email: str | None = None
    ) -> User:
        try:
            validate_name_part(name, "user name")
        except NameError_ as exc:
            raise BadRequest(str(exc)) from exc
        with self.hub.write.begin() as s:
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"user {name!r} already exists")
            user = User(name=name, is_admin=admin, fullname=fullname or name, email=email)
            s.add(user)
            s.flush()
            return user

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

    def create_token(self, username: str, *, write: bool, display_name: str | None = None) -> str:
        """Create a token; returns the secret, which is stored only as a hash."""
        user = self.get_user(username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self.hub.write.begin() as s:
            s.add(
                Token(
                    user_id=user.id,
                    display_name=display_name or f"{'write' if write else 'read'}-{secrets.token_hex(3)}",
                    token_hash=hash_token(token),
                    role="write" if write else "read",
                )
            )
        return token

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
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            with self.hub.read() as s:
                row = s.execute(
                    select(Token, User).join(User, User.id == Token.user_id).where(Token.token_hash == key)
                ).first()
            if row is None:
                raise InvalidCredentials("Invalid credentials in Authorization header")
            tok, user = row
            principal = Principal(
                user_id=user.id,
                name=user.name,
                is_admin=user.is_admin,
                role=tok.role,
                token_name=tok.display_name,
                token_created_at=tok.created_at.isoformat(),
                fullname=user.fullname,
                email=user.email,
            )
            self._cache[key] = (now + self._CACHE_SECONDS, principal)
        self._touch(key, principal.user_id)
        return principal

    def touch_due(self, user_id: int) -> bool:
        """True when a request by this user should go through `authenticate` to record `last_used_at`."""
        return time.monotonic() - self._last_used.get(user_id, 0.0) >= self._LAST_USED_EVERY

    def _touch(self, token_hash: str, user_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(user_id, 0.0) < self._LAST_USED_EVERY:
                return
            self._last_used[user_id] = now
        with self.hub.write.begin() as s:
            s.execute(
                update(Token)
                .where(Token.token_hash == token_hash)
                .values(last_used_at=utcnow().replace(tzinfo=None))
            )

    # -- authorization: the single place that decides who may do what -------------------------------------
    @staticmethod
    def can_read(principal: Principal | None, repo: Repo) -> bool:
        if not repo.private:
            return True
        return principal is not None and (principal.is_admin or principal.name == repo.namespace)

    def require_read(self, principal: Principal | None, repo: Repo) -> None:
        # A private repo is indistinguishable from a missing one for outsiders.
        if not self.can_read(principal, repo):
            raise RepoNotFound()

    @staticmethod
    def require_write(principal: Principal | None, namespace: str) -> Principal:
        if principal is None:
            raise Unauthorized("You must be authenticated to write: pass a token with write access")
        if not principal.can_write:
            raise Forbidden("This token is read-only; a token with write access is needed")
        if principal.name != namespace and not principal.is_admin:
            raise Forbidden(f"You don't have the rights to write to the namespace {namespace!r}")
        return principal

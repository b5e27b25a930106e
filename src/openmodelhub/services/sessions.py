"""Browser sessions for the web UI: sign-in and sign-out, CSRF tokens, and sign-in throttling.

Design (docs/decisions/0007-web-sessions.md): the session cookie holds a random id; the database keeps its
sha256 only, so neither a database dump nor a log line can be replayed as a session. A new id is issued at
every sign-in (a value planted before sign-in is never promoted: no session fixation). The CSRF token of a
form is an HMAC of the cookie value under the hub's secret, so it changes with the session and needs no
storage; anonymous visitors get a cookie value that names no session, which gives their forms (sign-in,
sign-up) a token too. Failed sign-ins are rows in the database, counted per user+IP and per IP, so the limit
holds across worker processes and hosts.
"""

import hashlib
import hmac
import math
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from openmodelhub.db.models import LoginFailure, User, WebSession
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.auth import AuthService, Principal
from openmodelhub.services.errors import Forbidden, InvalidCredentials, TooManyRequests
from openmodelhub.services.hub import Hub

SESSION_LIFETIME = timedelta(days=30)
FAILURE_WINDOW = timedelta(minutes=15)
# Failed sign-ins allowed in FAILURE_WINDOW for one user name from one address, and from one address in all.
MAX_FAILURES_PER_USER_IP = 5
MAX_FAILURES_PER_IP = 50
_CSRF_CONTEXT = b"omh-web-csrf\0"
CSRF_FAILED = (
    "This form was not accepted: its security token is missing or does not match your session "
    "(CSRF check). Go back, reload the page and send the form again."
)


def _now() -> datetime:
    return utcnow().replace(tzinfo=None)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionService:
    def __init__(self, hub: Hub, auth: AuthService) -> None:
        self.hub = hub
        self.auth = auth

    # -- cookies and CSRF ------------------------------------------------------------------------------------
    @staticmethod
    def new_cookie_value() -> str:
        """A fresh random cookie value (an anonymous visitor's, until a sign-in stores one)."""
        return secrets.token_urlsafe(32)

    def csrf_token(self, cookie_value: str) -> str:
        """The CSRF token forms of this cookie's holder must send back."""
        return hmac.new(self.hub.secret, _CSRF_CONTEXT + cookie_value.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie_value: str | None, token: str | None) -> None:
        """Forbidden unless `token` is the CSRF token of `cookie_value`."""
        if not cookie_value or not token or not hmac.compare_digest(self.csrf_token(cookie_value), token):
            raise Forbidden(CSRF_FAILED)

    # -- sessions --------------------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, ip: str) -> tuple[str, Principal]:
        """Check a password (throttled) and open a session: (new cookie value, who)."""
        user = self.check_password(username, password, ip)
        return self.start(user.id)

    def password_principal(self, username: str, password: str, ip: str) -> Principal:
        """The user as a caller with full rights, after a throttled password check (`POST /api/tokens` with
        a user name and password): the same limit as signing in to the web UI, counted in the same rows."""
        user = self.check_password(username, password, ip)
        principal = self.auth.session_principal(user.id)
        if principal is None:  # deleted between the check and now
            raise InvalidCredentials("Invalid username or password")
        return replace(principal, token_name="password")

    def check_password(self, username: str, password: str, ip: str) -> User:
        """The user, when the password is theirs; InvalidCredentials otherwise, and TooManyRequests after
        too many failures for this user name from this address (or from this address in all). Every
        password check made for a person at a keyboard should come through here."""
        key = username.strip().lower()[:96]
        ip = ip[:64]
        self._throttle(key, ip)
        try:
            user = self.auth.verify_password(username.strip(), password)
        except InvalidCredentials:
            with self.hub.write.begin() as s:
                s.add(LoginFailure(username=key, ip=ip, at=_now()))
                # Old rows are of no use to the limit; dropping them here keeps the table small.
                s.execute(delete(LoginFailure).where(LoginFailure.at < _now() - FAILURE_WINDOW))
            raise
        with self.hub.write.begin() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.username == key, LoginFailure.ip == ip))
        return user

    def _throttle(self, key: str, ip: str) -> None:
        since = _now() - FAILURE_WINDOW
        with self.hub.read() as s:
            per_user = s.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    LoginFailure.username == key, LoginFailure.ip == ip, LoginFailure.at >= since
                )
            ).one()
            per_ip = s.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    LoginFailure.ip == ip, LoginFailure.at >= since
                )
            ).one()
        for (count, oldest), limit in ((per_user, MAX_FAILURES_PER_USER_IP), (per_ip, MAX_FAILURES_PER_IP)):
            if count >= limit:
                wait = max(1, math.ceil((oldest + FAILURE_WINDOW - _now()).total_seconds()))
                minutes = math.ceil(wait / 60)
                raise TooManyRequests(
                    f"Too many failed sign-ins: try again in {minutes} minute{'s' if minutes != 1 else ''}",
                    retry_after=wait,
                )

    def start(self, user_id: int) -> tuple[str, Principal]:
        """Open a session for a user (after sign-in or sign-up): (new cookie value, who)."""
        principal = self.auth.session_principal(user_id)
        if principal is None:
            raise InvalidCredentials("Invalid username or password")
        cookie = self.new_cookie_value()
        now = _now()
        with self.hub.write.begin() as s:
            s.execute(delete(WebSession).where(WebSession.expires_at < now))
            s.add(
                WebSession(
                    id_hash=_hash(cookie), user_id=user_id, created_at=now, expires_at=now + SESSION_LIFETIME
                )
            )
        return cookie, principal

    def principal(self, cookie_value: str | None) -> Principal | None:
        """The signed-in user of a session cookie; None for anonymous, unknown or expired sessions."""
        if not cookie_value:
            return None
        with self.hub.read() as s:
            row = s.get(WebSession, _hash(cookie_value))
        if row is None or row.expires_at <= _now():
            return None
        return self.auth.session_principal(row.user_id)

    def end(self, cookie_value: str | None) -> None:
        """Sign out: the session's row is deleted, so its cookie is worthless from now on."""
        if cookie_value:
            with self.hub.write.begin() as s:
                s.execute(delete(WebSession).where(WebSession.id_hash == _hash(cookie_value)))

    def end_all(self, user_id: int) -> int:
        """Sign a user out everywhere (after a password change, say); returns how many sessions ended."""
        with self.hub.write.begin() as s:
            result = s.execute(delete(WebSession).where(WebSession.user_id == user_id))
            return int(result.rowcount)  # type: ignore[attr-defined]

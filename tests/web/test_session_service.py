"""SessionService on its own (services/sessions.py): stored hashes only, expiry, sign-out everywhere, CSRF
tokens bound to the cookie, and the failure window of the sign-in limit."""

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from openmodelhub.db.models import LoginFailure, WebSession
from openmodelhub.protocol.timefmt import utcnow
from openmodelhub.services.container import Services
from openmodelhub.services.errors import Forbidden, InvalidCredentials, TooManyRequests
from openmodelhub.services.sessions import FAILURE_WINDOW, MAX_FAILURES_PER_USER_IP
from openmodelhub.settings import Settings

PASSWORD = "a good long password"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Settings(data_dir=tmp_path / "data"))
    services.auth.create_user("ana", password=PASSWORD)
    yield services
    services.close()


def test_only_the_hash_of_a_session_id_is_stored(svc: Services) -> None:
    cookie, who = svc.sessions.sign_in("ana", PASSWORD, "10.0.0.1")
    assert who.name == "ana"
    with svc.hub.read() as s:
        stored = s.scalars(select(WebSession.id_hash)).all()
    assert stored == [hashlib.sha256(cookie.encode()).hexdigest()]
    assert svc.sessions.principal(cookie) is not None
    assert svc.sessions.principal(stored[0]) is None  # the stored value is no cookie


def test_expired_sessions_and_sign_out_everywhere(svc: Services) -> None:
    first, _ = svc.sessions.sign_in("ana", PASSWORD, "10.0.0.1")
    second, _ = svc.sessions.start(svc.auth.get_user("ana").id)
    with svc.hub.write.begin() as s:
        s.execute(
            update(WebSession)
            .where(WebSession.id_hash == hashlib.sha256(first.encode()).hexdigest())
            .values(expires_at=utcnow().replace(tzinfo=None) - timedelta(seconds=1))
        )
    assert svc.sessions.principal(first) is None
    assert svc.sessions.principal(second) is not None
    assert svc.sessions.end_all(svc.auth.get_user("ana").id) == 2
    assert svc.sessions.principal(second) is None


def test_csrf_tokens_belong_to_one_cookie(svc: Services) -> None:
    a, b = svc.sessions.new_cookie_value(), svc.sessions.new_cookie_value()
    svc.sessions.check_csrf(a, svc.sessions.csrf_token(a))
    for cookie, token in (
        (a, svc.sessions.csrf_token(b)),
        (a, ""),
        (None, svc.sessions.csrf_token(a)),
        (a, None),
    ):
        with pytest.raises(Forbidden, match="CSRF"):
            svc.sessions.check_csrf(cookie, token)


def test_failures_older_than_the_window_do_not_count(svc: Services) -> None:
    for _ in range(MAX_FAILURES_PER_USER_IP):
        with pytest.raises(InvalidCredentials):
            svc.sessions.sign_in("ana", "wrong", "10.0.0.2")
    with pytest.raises(TooManyRequests) as refused:
        svc.sessions.sign_in("ana", PASSWORD, "10.0.0.2")
    assert 0 < refused.value.retry_after <= FAILURE_WINDOW.total_seconds()
    # Another address is not affected by this one's failures.
    svc.sessions.sign_in(" ana", PASSWORD, "10.0.0.3")
    with svc.hub.write.begin() as s:
        s.execute(update(LoginFailure).values(at=utcnow().replace(tzinfo=None) - FAILURE_WINDOW))
    svc.sessions.sign_in("ana", PASSWORD, "10.0.0.2")
    with svc.hub.read() as s:
        assert s.scalars(select(LoginFailure).where(LoginFailure.ip == "10.0.0.2")).all() == []

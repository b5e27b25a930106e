"""Helpers for the web UI tests: an HTTP client that fills forms like a browser (with the CSRF token of its
session), and repos made through the stock huggingface_hub client."""

import itertools
import re
from typing import Any

import httpx
from huggingface_hub import HfApi

from tests.support.server import HubServer

_names = itertools.count()
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
PASSWORD = "correct horse battery"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


class WebClient:
    """A browser without a browser: keeps cookies, reads each form's CSRF token from the page it is on."""

    def __init__(self, hub: HubServer) -> None:
        self.hub = hub
        self.http = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=60)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        found = CSRF.search(page.text)
        assert found, f"no CSRF token on {path} ({page.status_code}):\n{page.text[:500]}"
        return found.group(1)

    def submit(self, form_page: str, action: str, data: dict[str, Any], **kw: Any) -> httpx.Response:
        """POST a form found on `form_page` to `action`, with the page's CSRF token."""
        return self.http.post(action, data={"csrf_token": self.csrf(form_page), **data}, **kw)

    def sign_up(self, name: str, password: str = PASSWORD) -> httpx.Response:
        form = {"username": name, "password": password, "password2": password}
        answer = self.submit("/join", "/join", form)
        assert answer.status_code == 303, answer.text[:2000]
        return answer

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/login", "/login", {"username": name, "password": password})

    @property
    def session(self) -> str | None:
        return self.http.cookies.get("omh_session")

    def whoami(self) -> str | None:
        """The signed-in user the header shows (None when signed out)."""
        found = re.search(r'class="nav-user">([^<]+)<', self.get("/").text)
        return found.group(1) if found else None


def api(hub: HubServer, token: str) -> HfApi:
    return HfApi(endpoint=hub.url, token=token)


def user_with_token(hub: HubServer, name: str | None = None) -> tuple[str, str]:
    """A user with a password (signed up through the web UI) and a write token: (name, token)."""
    name = name or unique("user")
    web = WebClient(hub)
    try:
        web.sign_up(name)
    finally:
        web.close()
    return name, write_token(hub, name)


def write_token(hub: HubServer, name: str, password: str = PASSWORD, role: str = "write") -> str:
    """A token (write unless `role` says "read"), asked for with the user's password (POST /api/tokens)."""
    answer = httpx.post(
        f"{hub.url}/api/tokens", json={"username": name, "password": password, "role": role}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


class Member:
    """A user signed up and signed in on the web UI, with a write token for the stock client (`hf`) and a
    read token for downloads."""

    def __init__(self, hub: HubServer, prefix: str) -> None:
        self.name = unique(prefix)
        self.web = WebClient(hub)
        self.web.sign_up(self.name)
        self.token = write_token(hub, self.name)
        self.hf = api(hub, self.token)
        self.read_token = write_token(hub, self.name, role="read")

    def close(self) -> None:
        self.web.close()


def gated_card(prompt: str, title: str, button: str | None = None) -> str:
    """A model card gating its repo: a licence of its own and one field of every kind the gate form shows."""
    extra = f"extra_gated_button_content: {button}\n" if button else ""
    return f"""---
license: other
license_name: tiny-community-license
license_link: LICENSE.md
extra_gated_prompt: "{prompt}"
extra_gated_fields:
  Company: text
  Country: country
  Start date: date_picker
  Intended use:
    type: select
    options:
      - Research
      - label: Commercial product
        value: commercial
  I accept the license: checkbox
{extra}---
# {title}
"""

"""Test set-up shared by the whole suite.

huggingface_hub reads HF_ENDPOINT when it is imported, so the port of this worker's hub is chosen here, before
any test module imports the client; the session-wide `hub` fixture then starts `omh serve` on that port.
"""

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import HubServer, free_port

# Chooses and prints the browser tests' screenshot folder once per run (tests/web/artifacts.py).
pytest_plugins = ["tests.web.artifacts"]

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="omh-tests-"))
_PORT = free_port()
os.environ.update(
    {
        "HF_ENDPOINT": f"http://127.0.0.1:{_PORT}",
        "HF_HOME": str(_SESSION_TMP / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "DISABLE_SAFETENSORS_CONVERSION": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(_SESSION_TMP / "hf-datasets"),
    }
)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("HF_HUB_DISABLE_XET", None)


class Accounts:
    """Users and tokens on the session hub."""

    def __init__(self, server: HubServer) -> None:
        for name in ("alice", "bob"):
            server.create_user(name)
        server.create_user("root", admin=True)
        self.alice = server.create_token("alice")
        self.alice_read = server.create_token("alice", write=False)
        self.bob = server.create_token("bob")
        self.admin = server.create_token("root")


@pytest.fixture(scope="session")
def hub() -> Iterator[HubServer]:
    server = HubServer(_SESSION_TMP / "hub-data", port=_PORT).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def accounts(hub: HubServer) -> Accounts:
    return Accounts(hub)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from openmodelhub.demo import minilm_dir as find

    return find()


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[HubServer]:
    """A hub of this test's own (for settings or crashes that must not touch the session hub)."""
    server = HubServer(tmp_path / "data")
    yield server
    server.stop()


_counter = iter(range(1_000_000))


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repo name unique within the session."""
    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")
    return f"{base}-{next(_counter)}"


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """The endpoint of this test process's moto S3 server (tests/support/moto.py); make buckets with
    `new_bucket(endpoint)`."""
    from tests.support.moto import session_moto

    return session_moto(_SESSION_TMP / "moto").endpoint

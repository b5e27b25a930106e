"""Background jobs end to end: a hub with OMH_JOB_ENGINE=dramatiq and a running `omh worker` (HubServer starts
both). After an upload with the stock client, the worker, not the server, stores the commit's weight
fingerprint and openness assessment; the API then serves the stored assessment.
"""

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from safetensors.numpy import save
from sqlalchemy import select

from openmodelhub.db.engine import make_engine
from openmodelhub.db.models import OpennessAssessment, WeightFingerprint
from openmodelhub.settings import Settings
from tests.jobs.rabbit import delete_queues, unique_prefix
from tests.support.server import HubServer
from tests.support.stack import AMQP_URL

DEADLINE = 120.0  # seconds; a deadline, not an expectation


@pytest.fixture
def worker_hub(tmp_path: Path) -> Iterator[HubServer]:
    prefix = unique_prefix()
    env = {"OMH_JOB_ENGINE": "dramatiq", "OMH_JOB_BROKER_URL": AMQP_URL, "OMH_JOB_QUEUE_PREFIX": prefix}
    server = HubServer(tmp_path / "data", env=env)
    assert server.uses_workers
    yield server
    server.stop()
    delete_queues(prefix)


def _add(path: str, data: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=io.BytesIO(data))


def test_the_worker_stores_fingerprints_and_openness_of_an_upload(worker_hub: HubServer) -> None:
    hub = worker_hub.start()
    assert hub.worker is not None and hub.worker.poll() is None
    hub.create_user("alice")
    token = hub.create_token("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = "alice/background"
    api.create_repo(repo_id)
    rng = np.random.default_rng(3)
    weights = save({f"layer{i}.weight": rng.standard_normal((16, 8)).astype(np.float32) for i in range(5)})
    info = api.create_commit(
        repo_id,
        commit_message="model",
        operations=[
            _add("README.md", b"---\nlicense: apache-2.0\n---\n# A model\n\nSome words about it.\n"),
            _add("config.json", b'{"model_type": "bert"}'),
            _add("model.safetensors", weights),
        ],
    )
    commit = info.oid

    # Read the database directly: the API would compute a missing result itself.
    settings = Settings(data_dir=hub.data_dir, database_url=hub.env.get("OMH_DATABASE_URL"))
    engine = make_engine(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            with engine.connect() as conn:
                fp = conn.execute(
                    select(WeightFingerprint.tensor_count).where(WeightFingerprint.commit_oid == commit)
                ).all()
                oa = conn.execute(
                    select(OpennessAssessment.data).where(OpennessAssessment.commit_oid == commit)
                ).all()
            if fp and oa:
                break
            assert time.monotonic() < deadline, f"no results after {DEADLINE}s:\n{_tail(hub.worker_log_path)}"
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert fp == [(5,)]
    stored = oa[0][0]
    assert stored["revision"] == commit

    # The worker ran the jobs; the server only enqueued them.
    worker_log = hub.worker_log_path.read_text(errors="replace")
    assert "job fingerprint(repo_id=" in worker_log and f"commit='{commit}') done" in worker_log
    assert "job openness(repo_id=" in worker_log
    assert "job fingerprint(" not in hub.log()

    r = httpx.get(f"{hub.url}/api/models/{repo_id}/openness", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == stored


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except FileNotFoundError:
        return ""

"""The JobQueue contract, run against every engine: embedded (threads of this process) and dramatiq on the
real RabbitMQ at 127.0.0.1:5672, with its worker running in this process. Each dramatiq test has a queue
prefix of its own and deletes its queues.

Test jobs (tests/jobs/testjobs.py) check the engines' promises; the hub's own jobs (services/background.py)
are run on a real hub data dir to check that they are idempotent.
"""

import io
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file
from sqlalchemy import delete, select

from openmodelhub.db.models import OpennessAssessment, Repo, ScanRecord, WeightFingerprint
from openmodelhub.jobs import BadJobArguments, JobQueue, Registry, RetryPolicy, UnknownJob
from openmodelhub.jobs.dramatiq_engine import DramatiqQueue
from openmodelhub.jobs.embedded import EmbeddedQueue
from openmodelhub.protocol.names import RepoType
from openmodelhub.services.container import Services
from openmodelhub.services.importer import import_folder
from openmodelhub.settings import Settings
from tests.jobs.rabbit import delete_queues, message_counts, unique_prefix
from tests.jobs.testjobs import TEST_JOBS, Recorder
from tests.support.stack import AMQP_URL

ENGINES = ["embedded", "dramatiq"]
FAST = RetryPolicy(max_retries=3, min_backoff=0.05, max_backoff=0.2)
JOIN = 120.0  # seconds; a deadline, not an expectation


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


MakeQueue = Callable[..., JobQueue]


@pytest.fixture
def make_queue(engine: str) -> Iterator[MakeQueue]:
    """Build a queue of `engine` running its jobs in this process; closed (and its queues deleted) after."""
    made: list[JobQueue] = []

    def make(context: Any, registry: Registry = TEST_JOBS, policy: RetryPolicy = FAST) -> JobQueue:
        q: JobQueue
        if engine == "embedded":
            q = EmbeddedQueue(registry, context, policy, threads=2)
        else:
            q = DramatiqQueue(registry, context, policy, url=AMQP_URL, prefix=unique_prefix())
        made.append(q)
        q.start_worker(2)
        return q

    yield make
    for q in made:
        q.close(timeout=5)
        if isinstance(q, DramatiqQueue):
            delete_queues(q.prefix)


def _token() -> str:
    return uuid.uuid4().hex[:8]


# -- the engines' promises ---------------------------------------------------------------------------------
def test_enqueue_runs_the_job_with_its_arguments(make_queue: MakeQueue) -> None:
    rec = Recorder()
    q = make_queue(rec)
    value = {"list": [1, "two", 3.5], "none": None, "flag": True, "nested": {"k": "v"}}
    q.enqueue("test_record", token="a", value=value)
    q.enqueue("test_record", token="b")
    assert q.join(JOIN)
    assert rec.done == {"a": [value], "b": [None]}
    assert rec.attempts == {"a": 1, "b": 1}


def test_a_failing_job_is_retried_and_completes_once(make_queue: MakeQueue) -> None:
    rec = Recorder()
    q = make_queue(rec)
    q.enqueue("test_flaky", token="t", failures=2)
    assert q.join(JOIN)
    assert rec.attempts == {"t": 3}
    assert rec.done == {"t": [3]}


def test_a_job_that_keeps_failing_is_logged_and_the_worker_goes_on(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    q = make_queue(rec, policy=RetryPolicy(max_retries=2, min_backoff=0.05, max_backoff=0.1))
    with caplog.at_level(logging.INFO, logger="openmodelhub.jobs"):
        q.enqueue("test_flaky", token="bad", failures=1000)
        assert q.join(JOIN)
    assert rec.attempts == {"bad": 3}  # the first run and max_retries retries
    assert "bad" not in rec.done
    gave_up = [r for r in caplog.records if r.name == "openmodelhub.jobs" and r.levelno == logging.ERROR]
    assert len(gave_up) == 1
    assert "test_flaky(token='bad', failures=1000) failed 3 times; giving up" in gave_up[0].getMessage()
    # The engine still runs jobs.
    q.enqueue("test_record", token="after")
    assert q.join(JOIN)
    assert rec.done["after"] == [None]


def test_an_unknown_job_name_is_a_clear_error(make_queue: MakeQueue) -> None:
    rec = Recorder()
    q = make_queue(rec)
    with pytest.raises(UnknownJob, match=r"no job named 'no_such_job' \(known jobs: test_block, test_flaky"):
        q.enqueue("no_such_job", token="x")
    assert q.join(JOIN)
    assert rec.attempts == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing a required argument: 'token'"),
        ({"token": "x", "colour": "red"}, "unexpected keyword argument 'colour'"),
        ({"token": "x", "value": (1, 2)}, "arguments must be JSON values"),
        ({"token": "x", "value": {1: "a"}}, "arguments must be JSON values"),
        ({"token": "x", "value": object()}, "arguments must be JSON values"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    make_queue: MakeQueue, kwargs: dict[str, Any], message: str
) -> None:
    rec = Recorder()
    q = make_queue(rec)
    with pytest.raises(BadJobArguments, match=message) as err:
        q.enqueue("test_record", **kwargs)
    assert "job 'test_record'" in str(err.value)
    assert q.join(JOIN)
    assert rec.attempts == {}
    if isinstance(q, DramatiqQueue):
        assert message_counts(q.prefix).get(q.prefix, (0, 0))[0] == 0


# -- the hub's jobs are idempotent -------------------------------------------------------------------------
@pytest.fixture
def hub_services(engine: str, tmp_path: Path) -> Iterator[Services]:
    """A hub on a fresh data dir whose own job queue is of `engine`, with its worker running here."""
    prefix = unique_prefix()
    settings = Settings(
        data_dir=tmp_path / "hub", job_engine=engine, job_broker_url=AMQP_URL, job_queue_prefix=prefix
    )
    svc = Services.open(settings)
    svc.jobs.start_worker(2)
    yield svc
    svc.close()
    if engine == "dramatiq":
        delete_queues(prefix)


def _model_folder(root: Path) -> Path:
    rng = np.random.default_rng(7)
    root.mkdir()
    save_file(
        {f"layer{i}.weight": rng.standard_normal((16, 8)).astype(np.float32) for i in range(6)},
        str(root / "model.safetensors"),
    )
    (root / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# A model\n")
    (root / "config.json").write_text('{"model_type": "bert"}')
    return root


def _rows(svc: Services, repo_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with svc.hub.read() as s:
        fps = [
            (r.commit_oid, r.version, r.tensor_count, r.tensors, r.computed_at)
            for r in s.scalars(select(WeightFingerprint).where(WeightFingerprint.repo_id == repo_id))
        ]
        oas = [
            (r.commit_oid, r.version, r.verified_class, r.data, r.computed_at)
            for r in s.scalars(select(OpennessAssessment).where(OpennessAssessment.repo_id == repo_id))
        ]
    return fps, oas


def _forget(svc: Services, repo_id: int) -> None:
    with svc.hub.write.begin() as s:
        s.execute(delete(WeightFingerprint).where(WeightFingerprint.repo_id == repo_id))
        s.execute(delete(OpennessAssessment).where(OpennessAssessment.repo_id == repo_id))


def _no_job_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "job" in r.getMessage()
    ]


def test_hub_jobs_are_idempotent_and_safe_to_run_twice_at_once(
    hub_services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = hub_services
    caplog.set_level(logging.INFO)
    result, _ = import_folder(svc, _model_folder(tmp_path / "model"), "alice/tiny", RepoType.MODEL)
    commit = result.oid
    repo = svc.repos.find(RepoType.MODEL, "alice/tiny")
    assert repo is not None
    # The commit enqueued its follow-ups; the queue's worker stored them.
    assert svc.jobs.join(JOIN)
    fps, oas = _rows(svc, repo.id)
    assert [(c, n) for c, _, n, _, _ in fps] == [(commit, 6)]
    assert [c for c, *_ in oas] == [commit]
    assert fps[0][3] == svc.fingerprints.compute(commit)[0]

    # Running them again changes nothing, not even the time they were computed.
    for _ in range(2):
        svc.jobs.enqueue("fingerprint", repo_id=repo.id, commit=commit)
        svc.jobs.enqueue("openness", repo_id=repo.id, commit=commit)
    assert svc.jobs.join(JOIN)
    assert _rows(svc, repo.id) == (fps, oas)

    # Two runs at once (two worker threads) on a commit with no results store one row each, the same.
    _forget(svc, repo.id)
    for _ in range(2):
        svc.jobs.enqueue("fingerprint", repo_id=repo.id, commit=commit)
        svc.jobs.enqueue("openness", repo_id=repo.id, commit=commit)
    assert svc.jobs.join(JOIN)
    fps2, oas2 = _rows(svc, repo.id)
    assert [r[:4] for r in fps2] == [r[:4] for r in fps]
    assert [r[:4] for r in oas2] == [r[:4] for r in oas]
    assert _no_job_failures(caplog) == []


def test_reconcile_enqueues_what_is_missing(hub_services: Services, tmp_path: Path) -> None:
    svc = hub_services
    result, _ = import_folder(svc, _model_folder(tmp_path / "model"), "bob/tiny", RepoType.MODEL)
    repo = svc.repos.find(RepoType.MODEL, "bob/tiny")
    assert repo is not None
    assert svc.jobs.join(JOIN)
    before = _rows(svc, repo.id)
    _forget(svc, repo.id)  # as if the process had died before its jobs ran
    svc.jobs.enqueue("reconcile")
    assert svc.jobs.join(JOIN)
    after = _rows(svc, repo.id)
    assert [r[:4] for r in after[0]] == [r[:4] for r in before[0]]
    assert [r[:4] for r in after[1]] == [r[:4] for r in before[1]]
    assert after[0][0][0] == result.oid


def test_jobs_for_a_deleted_repo_or_a_foreign_commit_do_nothing(
    hub_services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = hub_services
    caplog.set_level(logging.INFO)
    result, _ = import_folder(svc, _model_folder(tmp_path / "model"), "carol/tiny", RepoType.MODEL)
    assert svc.jobs.join(JOIN)
    with svc.hub.read() as s:
        other = s.scalars(select(Repo.id).where(Repo.id != -1)).all()
    missing = max(other) + 1000
    svc.jobs.enqueue("fingerprint", repo_id=missing, commit=result.oid)
    svc.jobs.enqueue("openness", repo_id=missing, commit=result.oid)
    svc.jobs.enqueue("rescan", repo_id=missing)
    assert svc.jobs.join(JOIN)
    with svc.hub.read() as s:
        assert s.scalars(select(WeightFingerprint).where(WeightFingerprint.repo_id == missing)).all() == []
    assert _no_job_failures(caplog) == []


def test_rescan_scans_the_files_of_a_repo_that_have_no_verdict(
    hub_services: Services, tmp_path: Path
) -> None:
    svc = hub_services
    import_folder(svc, _model_folder(tmp_path / "model"), "dave/tiny", RepoType.MODEL)
    repo = svc.repos.find(RepoType.MODEL, "dave/tiny")
    assert repo is not None
    _, items = svc.files.list_tree(repo, "main", "", recursive=True)
    files = [(i.meta.sha256, i.entry.path) for i in items if i.meta is not None]
    assert {p for _, p in files} >= {"README.md", "config.json", "model.safetensors"}
    with svc.hub.write.begin() as s:  # as if the scanner version had changed
        s.execute(delete(ScanRecord).where(ScanRecord.sha256.in_([sha for sha, _ in files])))
    assert all(v.verdict is None for v in svc.scans.lookup(repo, files).values())
    svc.jobs.enqueue("rescan", repo_id=repo.id)
    assert svc.jobs.join(JOIN)
    verdicts = svc.scans.lookup(repo, files)
    assert {v.verdict.value for v in verdicts.values() if v.verdict is not None} == {"safe"}
    assert len(verdicts) == len(files)


def test_gc_deletes_unreferenced_content_and_keeps_committed_content(
    hub_services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = hub_services
    caplog.set_level(logging.INFO)
    import_folder(svc, _model_folder(tmp_path / "model"), "erin/tiny", RepoType.MODEL)
    repo = svc.repos.find(RepoType.MODEL, "erin/tiny")
    assert repo is not None
    stray = svc.hub.blobs.put_stream(io.BytesIO(b"uploaded, never committed"), 25)
    svc.jobs.enqueue("gc", grace_hours=1)  # the stray upload is younger than that: kept
    assert svc.jobs.join(JOIN)
    assert svc.hub.blobs.exists(stray.sha256)
    svc.jobs.enqueue("gc", grace_hours=0)
    assert svc.jobs.join(JOIN)
    assert not svc.hub.blobs.exists(stray.sha256)
    svc.jobs.enqueue("gc", grace_hours=0)  # again: nothing left to do
    assert svc.jobs.join(JOIN)
    _, items = svc.files.list_tree(repo, "main", "", recursive=True)
    assert all(svc.hub.blobs.exists(i.meta.sha256) for i in items if i.meta is not None)
    gc_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("gc: deleted")]
    assert [line.split(" (")[0] for line in gc_lines] == [
        "gc: deleted 0 objects",
        "gc: deleted 1 objects",
        "gc: deleted 0 objects",
    ]
    assert _no_job_failures(caplog) == []

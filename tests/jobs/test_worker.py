"""`omh worker` and `omh enqueue` as processes, on the real RabbitMQ: a worker killed with SIGKILL in the
middle of a job loses nothing (RabbitMQ redelivers the unacknowledged job to the next worker, which completes
it once), SIGTERM stops a worker cleanly, and misconfiguration ends the commands with a clear message.

Workers run `tests/jobs/worker_main.py`: the real `omh` command line with the test jobs added.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openmodelhub.jobs.dramatiq_engine import DramatiqQueue
from openmodelhub.services.background import JOBS
from tests.jobs.rabbit import delete_queues, message_counts, unique_prefix, waiting_jobs
from tests.jobs.testjobs import TEST_JOBS
from tests.support.ports import free_port
from tests.support.server import OMH
from tests.support.stack import AMQP_URL

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0  # seconds; a deadline, not an expectation


def wait_for(what: str, check: Callable[[], bool], log: Path | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


class Hub:
    """The environment of a hub whose jobs go to RabbitMQ under a queue prefix of its own."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.data_dir = tmp_path / "data"
        self.prefix = unique_prefix()
        self.env = {
            **os.environ,
            "OMH_JOB_ENGINE": "dramatiq",
            "OMH_JOB_BROKER_URL": AMQP_URL,
            "OMH_JOB_QUEUE_PREFIX": self.prefix,
            # the worker's own hub: an embedded SQLite file in the data dir, whatever the test stack
            "OMH_DATABASE_URL": f"sqlite:///{self.data_dir / 'omh.sqlite3'}",
            "OMH_BLOB_STORE": "local",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def worker(self, *args: str, name: str = "worker") -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.tmp / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.jobs.worker_main",
                    "worker",
                    *args,
                    "--data-dir",
                    str(self.data_dir),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc, log_path

    def queue(self) -> DramatiqQueue:
        """A queue to enqueue on from the test (it runs nothing itself)."""
        return DramatiqQueue(JOBS | TEST_JOBS, None, url=AMQP_URL, prefix=self.prefix)

    def omh(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*OMH, *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=300,
        )

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        delete_queues(self.prefix)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = Hub(tmp_path)
    yield h
    h.cleanup()


def _started(markers: Path, token: str) -> list[Path]:
    return sorted(markers.glob(f"started-{token}-*"))


def _ready(log: Path) -> Callable[[], bool]:
    return lambda: log.exists() and "thread(s) on queue" in log.read_text(errors="replace")


def test_a_job_of_a_killed_worker_is_redelivered_and_completes_once(hub: Hub, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    first, first_log = hub.worker("--threads", "2", name="first")
    wait_for("the first worker", _ready(first_log), first_log)
    q = hub.queue()
    q.enqueue("test_block", marker_dir=str(markers), token="t")
    q.close()
    wait_for("the job to start", lambda: len(_started(markers, "t")) == 1, first_log)
    assert f"-t-{first.pid}-" in _started(markers, "t")[0].name

    first.send_signal(signal.SIGKILL)  # mid-job: the job waits for the release file
    first.wait()
    assert not list(markers.glob("done-*"))

    second, second_log = hub.worker("--threads", "2", name="second")
    wait_for("the job to be redelivered", lambda: len(_started(markers, "t")) == 2, second_log)
    assert any(f"-t-{second.pid}-" in p.name for p in _started(markers, "t"))
    (markers / "release").touch()
    done = markers / "done-t"
    wait_for("the job to complete", done.exists, second_log)
    wait_for("the job to be acknowledged", lambda: "job test_block(" in second_log.read_text(), second_log)

    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0, second_log.read_text()
    assert "stopped" in second_log.read_text()
    # Exactly once more: one completion, by the second worker, and the job is not waiting to run again
    # (the workers' `reconcile` jobs may be: SIGTERM hands back jobs fetched but not started).
    assert done.read_text().split() == [str(second.pid)]
    assert len(_started(markers, "t")) == 2
    assert "test_block" not in waiting_jobs(hub.prefix)
    assert message_counts(hub.prefix)[hub.prefix][1] == 0  # no consumer left


def test_sigterm_lets_the_running_job_finish(hub: Hub, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    worker, log = hub.worker("--threads", "1")
    wait_for("the worker", _ready(log), log)
    q = hub.queue()
    q.enqueue("test_block", marker_dir=str(markers), token="t")
    q.close()
    wait_for("the job to start", lambda: len(_started(markers, "t")) == 1, log)
    worker.send_signal(signal.SIGTERM)
    (markers / "release").touch()
    assert worker.wait(60) == 0, log.read_text()
    assert (markers / "done-t").read_text().split() == [str(worker.pid)]
    assert "test_block" not in waiting_jobs(hub.prefix)


def test_several_processes_run_jobs_and_stop_together(hub: Hub, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    (markers / "release").touch()
    supervisor, log = hub.worker("--threads", "1", "--processes", "2")
    wait_for("two worker processes", lambda: log.read_text().count("thread(s) on queue") == 2, log)
    wait_for(
        "two consumers on the hub's queue",
        lambda: message_counts(hub.prefix).get(hub.prefix, (0, 0))[1] == 2,
        log,
    )
    q = hub.queue()
    for token in ("a", "b", "c"):
        q.enqueue("test_block", marker_dir=str(markers), token=token)
    q.close()
    for token in ("a", "b", "c"):
        wait_for(f"job {token}", (markers / f"done-{token}").exists, log)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0, log.read_text()
    assert message_counts(hub.prefix)[hub.prefix][1] == 0  # no consumer left: the children stopped too
    assert "test_block" not in waiting_jobs(hub.prefix)


def test_worker_refuses_the_embedded_engine(hub: Hub) -> None:
    out = hub.omh("worker", env={"OMH_JOB_ENGINE": "embedded"})
    assert out.returncode == 1
    assert "error: the job engine is 'embedded'" in out.stderr
    assert "OMH_JOB_ENGINE=dramatiq" in out.stderr


def test_worker_with_an_unreachable_broker_fails_clearly(hub: Hub) -> None:
    url = f"amqp://guest:secret@127.0.0.1:{free_port()}/"
    out = hub.omh("worker", env={"OMH_JOB_BROKER_URL": url})
    assert out.returncode == 1
    assert "error: cannot hand reconcile() to the job broker amqp://guest:***@127.0.0.1:" in out.stderr
    assert "secret" not in out.stderr


def test_a_bad_queue_prefix_is_a_clear_error(hub: Hub) -> None:
    out = hub.omh("worker", env={"OMH_JOB_QUEUE_PREFIX": "hub one"})
    assert out.returncode == 1
    assert "error: job queue prefix 'hub one' is not a valid queue name" in out.stderr


def test_enqueue_command(hub: Hub) -> None:
    out = hub.omh("enqueue", "no_such_job")
    assert out.returncode == 1 and "error: no job named 'no_such_job' (known jobs: fingerprint" in out.stderr
    out = hub.omh("enqueue", "fingerprint", "repo_id=1")
    assert out.returncode == 1 and "missing a required argument: 'commit'" in out.stderr
    out = hub.omh("enqueue", "reconcile", "days")
    assert out.returncode == 1 and "key=value pairs, not 'days'" in out.stderr
    # Sent to the broker (nobody consumes it here) ...
    out = hub.omh("enqueue", "reconcile", "days=3")
    assert out.returncode == 0, out.stderr
    assert f"enqueued reconcile(days=3) on queue {hub.prefix}" in out.stdout
    assert message_counts(hub.prefix)[hub.prefix][0] == 1
    # ... or run here by the embedded engine.
    out = hub.omh("enqueue", "reconcile", env={"OMH_JOB_ENGINE": "embedded"})
    assert out.returncode == 0, out.stderr
    assert "reconcile(): done" in out.stdout

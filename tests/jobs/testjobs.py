"""Jobs that exist only in tests, in a registry of their own (never added to the hub's `JOBS` in the test
process; `worker_main` adds them in the worker processes it runs).

`record` and `flaky` report to a `Recorder` context (in-process queues); `block` works through files, so a job
run by an `omh worker` subprocess can be watched, held and released by the test.
"""

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from openmodelhub.jobs import Registry

TEST_JOBS = Registry()


class Recorder:
    """What test jobs did, by token: every attempt, and the arguments of every successful run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.done: dict[str, list[Any]] = {}

    def attempt(self, token: str) -> int:
        with self.lock:
            self.attempts[token] = self.attempts.get(token, 0) + 1
            return self.attempts[token]

    def finish(self, token: str, value: Any) -> None:
        with self.lock:
            self.done.setdefault(token, []).append(value)


@TEST_JOBS.job("test_record")
def record(ctx: Recorder, token: str, value: Any = None) -> None:
    ctx.attempt(token)
    ctx.finish(token, value)


@TEST_JOBS.job("test_flaky")
def flaky(ctx: Recorder, token: str, failures: int) -> None:
    """Fails its first `failures` attempts."""
    n = ctx.attempt(token)
    if n <= failures:
        raise RuntimeError(f"test_flaky {token}: planned failure {n} of {failures}")
    ctx.finish(token, n)


@TEST_JOBS.job("test_block")
def block(ctx: Any, marker_dir: str, token: str) -> None:
    """Touches `started-<token>-<pid>-<random>`, waits for the file `release`, appends its pid to
    `done-<token>`."""
    d = Path(marker_dir)
    (d / f"started-{token}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
    deadline = time.monotonic() + 300
    while not (d / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("test_block was never released")
        time.sleep(0.05)
    with open(d / f"done-{token}", "a") as f:
        f.write(f"{os.getpid()}\n")

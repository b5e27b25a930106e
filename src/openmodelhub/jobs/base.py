"""The job-queue interface: named jobs with JSON arguments, run at least once with bounded retries.

A job may run more than once (a retry after a failure, or a redelivery after its worker died), so every job
must be idempotent. A job that keeps failing is logged and dropped after `RetryPolicy.max_retries` retries;
it never stops the engine.
"""

import inspect
import json
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("openmodelhub.jobs")

DEFAULT_TIME_LIMIT = 3600.0  # seconds


class JobError(Exception):
    """Base of the errors of this package."""


class UnknownJob(JobError, LookupError):
    """Enqueueing a job name no definition has."""


class BadJobArguments(JobError, TypeError):
    """Arguments that do not fit the job's function, or are not plain JSON values."""


class JobQueueUnavailable(JobError):
    """The engine cannot take the job now (its broker is unreachable)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries after a failure: at most `max_retries`, after `min_backoff` seconds doubling up to
    `max_backoff` (with jitter, so that failing jobs do not retry in lockstep)."""

    max_retries: int = 5
    min_backoff: float = 2.0
    max_backoff: float = 300.0

    def backoff(self, retries: int) -> float:
        """Seconds to wait before retry number `retries + 1`."""
        full = min(self.max_backoff, self.min_backoff * 2 ** min(retries, 32))
        return full * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable[..., None]  # fn(context, **kwargs)
    time_limit: float = DEFAULT_TIME_LIMIT  # seconds; enforced by engines that can interrupt a job

    def check(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """`kwargs` as the job receives them (after a JSON round trip); BadJobArguments if they cannot be."""
        try:
            inspect.signature(self.fn).bind(None, **kwargs)
        except TypeError as exc:
            raise BadJobArguments(f"job {self.name!r}: {exc}") from None
        try:
            sent = json.loads(json.dumps(kwargs))
        except (TypeError, ValueError) as exc:
            raise BadJobArguments(f"job {self.name!r}: arguments must be JSON values: {exc}") from None
        if sent != kwargs:  # e.g. a tuple would arrive as a list, an int key as a string
            raise BadJobArguments(f"job {self.name!r}: arguments must be JSON values, not {kwargs!r}")
        return sent


class Registry(Mapping[str, Job]):
    """Job definitions by name."""

    def __init__(self, jobs: Mapping[str, Job] | None = None) -> None:
        self._jobs: dict[str, Job] = dict(jobs or {})

    def job(
        self, name: str, *, time_limit: float = DEFAULT_TIME_LIMIT
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Decorator: define the job `name` as the decorated function `fn(context, **kwargs)`."""

        def register(fn: Callable[..., None]) -> Callable[..., None]:
            self.add(Job(name, fn, time_limit))
            return fn

        return register

    def add(self, job: Job) -> None:
        if job.name in self._jobs:
            raise ValueError(f"a job named {job.name!r} is defined already")
        self._jobs[job.name] = job

    def __or__(self, other: Mapping[str, Job]) -> "Registry":
        merged = Registry(self._jobs)
        for job in other.values():
            merged.add(job)
        return merged

    def __getitem__(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(sorted(self._jobs)) or "none"
            raise UnknownJob(f"no job named {name!r} (known jobs: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)


def describe(name: str, kwargs: Mapping[str, Any]) -> str:
    """`name(a=1, b='x')`, for logs."""
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


class JobQueue(ABC):
    """Where jobs are sent, and (`start_worker`) where they are run.

    `enqueue` checks the name and the arguments at once (UnknownJob, BadJobArguments) and raises
    JobQueueUnavailable when the job cannot be handed over; a job that was handed over runs at least once.
    """

    def __init__(self, registry: Registry, context: Any, policy: RetryPolicy | None = None) -> None:
        self.registry = registry
        self.context = context
        self.policy = policy or RetryPolicy()

    def enqueue(self, name: str, **kwargs: Any) -> None:
        """Run job `name` with `kwargs` in the background."""
        job = self.registry[name]
        self._send(job, job.check(kwargs))

    def run_job(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run one job here, now, once (engines call this; failures propagate to their retry logic)."""
        started = time.monotonic()
        self.registry[name].fn(self.context, **kwargs)
        log.info("job %s done in %.2fs", describe(name, kwargs), time.monotonic() - started)

    @abstractmethod
    def _send(self, job: Job, kwargs: dict[str, Any]) -> None: ...

    @abstractmethod
    def start_worker(self, threads: int) -> None:
        """Run jobs in this process, on `threads` threads, until `close`."""

    @abstractmethod
    def join(self, timeout: float) -> bool:
        """Wait until the jobs enqueued so far (and their retries) are done; False on timeout. For tests and
        draining: on a broker, "done" means its queues are empty and this process's worker is idle."""

    @abstractmethod
    def close(self, timeout: float = 30.0) -> None:
        """Stop: jobs running here get up to `timeout` seconds to finish. Jobs not run by then are not lost on
        a broker (they are redelivered); in-process ones are dropped and redone by the `reconcile` job."""

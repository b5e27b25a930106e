"""The embedded engine: jobs run on a small pool of threads of the process that enqueued them.

Same definitions, same argument checks and the same retry policy as a broker-backed engine, with no service
to run. Jobs live only in memory: a process that dies takes its queued jobs with it, which is why the
`reconcile` job (run when a server or worker starts) looks for work that should have been done and was not.
A process that exits normally first finishes the jobs that are due (`drain_at_exit` seconds at most), so a
CLI command such as `omh import` leaves nothing undone.
"""

import atexit
import heapq
import itertools
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from openmodelhub.jobs.base import Job, JobQueue, JobQueueUnavailable, Registry, RetryPolicy, describe, log


@dataclass(frozen=True)
class _Item:
    name: str
    kwargs: dict[str, Any]
    retries: int = 0


class EmbeddedQueue(JobQueue):
    def __init__(
        self,
        registry: Registry,
        context: Any,
        policy: RetryPolicy | None = None,
        *,
        threads: int = 2,
        drain_at_exit: float = 60.0,
    ) -> None:
        super().__init__(registry, context, policy)
        self._wanted = max(1, threads)
        self._drain_timeout = drain_at_exit
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Item]] = []  # (due, sequence, item): a min-heap on due time
        self._seq = itertools.count()
        self._running = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        atexit.register(self._drain_at_exit)

    # -- sending ---------------------------------------------------------------------------------------------
    def _send(self, job: Job, kwargs: dict[str, Any]) -> None:
        self._push(_Item(job.name, kwargs), 0.0)

    def _push(self, item: _Item, delay: float) -> None:
        with self._cond:
            if self._closed:
                raise JobQueueUnavailable(
                    f"the job queue is closed; {describe(item.name, item.kwargs)} not run"
                )
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), item))
            self._start_threads()
            self._cond.notify_all()

    # -- running ---------------------------------------------------------------------------------------------
    def start_worker(self, threads: int) -> None:
        with self._cond:
            self._wanted = max(1, threads)
            self._start_threads()

    def _start_threads(self) -> None:
        while len(self._threads) < self._wanted:
            t = threading.Thread(target=self._loop, name=f"omh-job-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _next(self) -> _Item | None:
        """The next job that is due (None: the queue was closed)."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    self._running += 1
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(self._heap[0][0] - now if self._heap else None)
            return None

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            try:
                self._run(item)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, item: _Item) -> None:
        try:
            self.run_job(item.name, item.kwargs)
        except Exception:
            what = describe(item.name, item.kwargs)
            if item.retries >= self.policy.max_retries:
                log.error("job %s failed %d times; giving up", what, item.retries + 1, exc_info=True)
                return
            delay = self.policy.backoff(item.retries)
            log.warning("job %s failed; retry %d in %.1fs", what, item.retries + 1, delay, exc_info=True)
            try:
                self._push(replace(item, retries=item.retries + 1), delay)
            except JobQueueUnavailable:
                log.warning("job %s not retried: the queue is closed", what)

    # -- waiting and stopping --------------------------------------------------------------------------------
    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float = 30.0) -> None:
        atexit.unregister(self._drain_at_exit)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return
            # Finish what is due now; retries waiting for their backoff are not waited for.
            while True:
                now = time.monotonic()
                due = bool(self._heap) and self._heap[0][0] <= now
                if (not due and not self._running) or now >= deadline:
                    break
                self._cond.wait(min(deadline - now, 0.5))
            dropped = [item for _, _, item in self._heap]
            self._heap.clear()
            self._closed = True
            self._cond.notify_all()
        if dropped:
            log.warning(
                "%d job(s) not run before the queue closed (the reconcile job redoes them): %s",
                len(dropped),
                ", ".join(describe(i.name, i.kwargs) for i in dropped[:10]),
            )
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))

    def _drain_at_exit(self) -> None:
        self.close(self._drain_timeout)

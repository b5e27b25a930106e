"""The scale-out engine: dramatiq on RabbitMQ; jobs are run by `omh worker` processes.

One dramatiq actor per job, all on one durable queue named after `job_queue_prefix` (dramatiq adds the
`.DQ` delay queue, where retries wait out their backoff, and the `.XQ` dead-letter queue, where jobs that
failed `max_retries` times are kept for a week). A worker acknowledges a message only after its job
finished (succeeded, or failed and was re-sent for a retry), so a job whose worker dies, even by SIGKILL, is
redelivered by RabbitMQ to another worker as soon as the dead worker's connection drops.
"""

import logging
import re
import threading
import time
from typing import Any

import dramatiq
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Middleware, Retries, TimeLimit

from openmodelhub.jobs.base import (
    Job,
    JobQueue,
    JobQueueUnavailable,
    Registry,
    RetryPolicy,
    describe,
    log,
)

# pika logs every connection step at INFO.
logging.getLogger("pika").setLevel(logging.WARNING)

QUEUE_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")


def queue_names(prefix: str) -> tuple[str, str, str]:
    """The RabbitMQ queues a hub with this prefix uses: jobs, delayed retries, dead letters."""
    return prefix, f"{prefix}.DQ", f"{prefix}.XQ"


def check_prefix(prefix: str) -> None:
    """ValueError unless `prefix` can name RabbitMQ queues the way dramatiq requires."""
    if not QUEUE_NAME.fullmatch(prefix):
        raise ValueError(
            f"job queue prefix {prefix!r} is not a valid queue name: letters, digits, '.', '_' and '-', "
            "starting with a letter or '_' (OMH_JOB_QUEUE_PREFIX)"
        )


def safe_url(url: str) -> str:
    """The broker URL without its password (for messages)."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


class _LogGiveUp(Middleware):
    """Logs a job dropped after its last retry, with its arguments and traceback."""

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.actor_name not in broker.actors:
            log.error(
                "job %s is not defined in this worker (an older or newer version of the hub?); "
                "moved to the dead-letter queue",
                describe(message.actor_name, message.kwargs),
            )
            return
        log.error(
            "job %s failed %d times; giving up (kept in the dead-letter queue)\n%s",
            describe(message.actor_name, message.kwargs),
            message.options.get("retries", 0),
            message.options.get("traceback", ""),
        )


class DramatiqQueue(JobQueue):
    def __init__(
        self,
        registry: Registry,
        context: Any,
        policy: RetryPolicy | None = None,
        *,
        url: str,
        prefix: str,
    ) -> None:
        super().__init__(registry, context, policy)
        check_prefix(prefix)
        self.prefix = prefix
        self.url = url
        p = self.policy
        # confirm_delivery: enqueue returns only once RabbitMQ has the message (and re-declares lost queues).
        self.broker = RabbitmqBroker(
            url=url,
            confirm_delivery=True,
            middleware=[
                TimeLimit(),
                Retries(
                    max_retries=p.max_retries,
                    min_backoff=max(1, int(p.min_backoff * 1000)),
                    max_backoff=max(1, int(p.max_backoff * 1000)),
                ),
                _LogGiveUp(),
            ],
        )
        self._actors = {
            name: dramatiq.Actor(
                self._runner(name),
                broker=self.broker,
                actor_name=name,
                queue_name=prefix,
                priority=0,
                options={"time_limit": int(job.time_limit * 1000)},
            )
            for name, job in registry.items()
        }
        self._worker: dramatiq.Worker | None = None
        self._lock = threading.Lock()

    def _runner(self, name: str) -> Any:
        def run(**kwargs: Any) -> None:
            self.run_job(name, kwargs)

        run.__name__ = run.__qualname__ = name
        return run

    def _send(self, job: Job, kwargs: dict[str, Any]) -> None:
        try:
            self._actors[job.name].send(**kwargs)
        except BrokerConnectionError as exc:
            raise JobQueueUnavailable(
                f"cannot hand {describe(job.name, kwargs)} to the job broker {safe_url(self.url)}: {exc}"
            ) from None

    def start_worker(self, threads: int) -> None:
        with self._lock:
            if self._worker is not None:
                raise RuntimeError("this queue's worker is running already")
            # What dramatiq's own CLI does in each worker process (TimeLimit starts its timer thread here).
            self.broker.emit_after("process_boot")
            self._worker = dramatiq.Worker(self.broker, worker_threads=max(1, threads), worker_timeout=1000)
            self._worker.start()

    def join(self, timeout: float) -> bool:
        """Wait until this hub's queue and delay queue are empty and the worker in this process (if any) is
        idle, three checks in a row. Jobs taken by workers in other processes are not seen."""
        deadline = time.monotonic() + timeout
        idle = 0
        while time.monotonic() < deadline:
            try:
                ready, delayed, _ = self.broker.get_queue_message_counts(self.prefix)
            except (BrokerConnectionError, pika.exceptions.AMQPError):
                del self.broker.connection
                ready = delayed = -1
            worker = self._worker
            busy = worker is not None and (
                worker.work_queue.unfinished_tasks > 0
                or any(c.delay_queue.unfinished_tasks for c in list(worker.consumers.values()))
            )
            idle = idle + 1 if ready == 0 and delayed == 0 and not busy else 0
            if idle >= 3:
                return True
            time.sleep(0.05)
        return False

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            # Running jobs may finish; messages fetched but not started go back to RabbitMQ.
            worker.stop(timeout=int(timeout * 1000))
        # Connections the broker already lost (closing those makes pika log an error) are only forgotten.
        self.broker.channels = {c for c in self.broker.channels if c.is_open}
        self.broker.connections = {c for c in self.broker.connections if c.is_open}
        self.broker.close()

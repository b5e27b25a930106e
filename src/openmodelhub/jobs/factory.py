"""The engine the settings choose (`job_engine`), built for one hub."""

from typing import Any

from openmodelhub.jobs.base import JobQueue, Registry, RetryPolicy
from openmodelhub.settings import Settings


def open_queue(
    settings: Settings, registry: Registry, context: Any, policy: RetryPolicy | None = None
) -> JobQueue:
    """A job queue of `registry`'s jobs, run with `context` as their first argument."""
    if settings.job_engine == "dramatiq":
        # Imported here: dramatiq (and pika) are loaded only by hubs that use them.
        from openmodelhub.jobs.dramatiq_engine import DramatiqQueue

        return DramatiqQueue(
            registry, context, policy, url=settings.job_broker_url, prefix=settings.job_queue_prefix
        )
    from openmodelhub.jobs.embedded import EmbeddedQueue

    return EmbeddedQueue(registry, context, policy)

"""Background jobs on an existing job engine (docs/decisions/0005-job-engine.md).

This package holds the engines only: `JobQueue` (base.py) and its implementations, `EmbeddedQueue` (threads of
this process) and `DramatiqQueue` (RabbitMQ, run by `omh worker`). Engines know nothing of the hub: a job is a
named function `fn(context, **kwargs)` from a `Registry`. What the hub's jobs do is defined in one place,
`services/background.py`. `factory.open_queue` imports the engine the settings name, so importing this
package never imports dramatiq.
"""

from openmodelhub.jobs.base import (
    BadJobArguments,
    Job,
    JobError,
    JobQueue,
    JobQueueUnavailable,
    Registry,
    RetryPolicy,
    UnknownJob,
)

__all__ = [
    "BadJobArguments",
    "Job",
    "JobError",
    "JobQueue",
    "JobQueueUnavailable",
    "Registry",
    "RetryPolicy",
    "UnknownJob",
]

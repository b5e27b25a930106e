"""`omh` with the test jobs (testjobs.TEST_JOBS) added to the hub's jobs, for worker subprocesses:
`python -m tests.jobs.worker_main worker --data-dir ...` runs the real `omh worker` command."""

from openmodelhub.cli.main import app
from openmodelhub.services.background import JOBS
from tests.jobs.testjobs import TEST_JOBS

for job in TEST_JOBS.values():
    JOBS.add(job)

app(prog_name="omh")

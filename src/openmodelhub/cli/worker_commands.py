"""What `omh worker` and `omh enqueue` do, kept apart from argument parsing.

`omh worker` runs background jobs from the hub's RabbitMQ queue (OMH_JOB_ENGINE=dramatiq, ADR 0005) until it
gets SIGTERM or SIGINT; then running jobs get `SHUTDOWN_TIMEOUT` seconds to finish and the process exits 0.
A job left unfinished (or a worker killed outright) is redelivered to another worker by RabbitMQ. With
`--processes N` the command supervises N worker processes (restarting one that dies) that die with it.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from openmodelhub.api.worker import PARENT_ENV, die_with_parent
from openmodelhub.cli.main import fail, load_settings, open_services
from openmodelhub.jobs.base import JobError, JobQueueUnavailable, describe

log = logging.getLogger("openmodelhub.worker")

SHUTDOWN_TIMEOUT = 20.0  # seconds running jobs get after SIGTERM
RESTART_DELAY = 1.0
# Set in the environment of the processes a supervising `omh worker` starts: they die with it, like the
# worker processes of `omh serve` (api/worker.py).
CHILD_ENV = PARENT_ENV


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("omh worker: %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _wait(stop: threading.Event) -> None:
    while not stop.wait(1.0):  # a timed wait, so the signal handler always gets to run
        pass


def worker(data_dir: Path | None, threads: int, processes: int) -> None:
    settings = load_settings(data_dir)
    if settings.job_engine != "dramatiq":
        fail(
            "the job engine is 'embedded': jobs run inside the processes that enqueue them (omh serve). "
            "Set OMH_JOB_ENGINE=dramatiq and OMH_JOB_BROKER_URL to run them in `omh worker` processes."
        )
    from openmodelhub.jobs.dramatiq_engine import check_prefix

    try:
        check_prefix(settings.job_queue_prefix)
    except ValueError as exc:
        fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = _stop_on_signals()
    child = CHILD_ENV in os.environ
    if processes > 1 and not child:
        _supervise(data_dir, threads, processes, stop)
    else:
        _work(data_dir, threads, stop, reconcile=not child)


def _work(data_dir: Path | None, threads: int, stop: threading.Event, *, reconcile: bool) -> None:
    die_with_parent()  # a no-op unless started by a supervising `omh worker`
    svc = open_services(data_dir)
    try:
        if reconcile:
            _reconcile(svc)
        svc.jobs.start_worker(threads)
        s = svc.hub.settings
        log.info(
            "omh worker %d: %d thread(s) on queue %s at %s",
            os.getpid(),
            threads,
            s.job_queue_prefix,
            _safe_url(s.job_broker_url),
        )
        _wait(stop)
    finally:
        svc.jobs.close(timeout=SHUTDOWN_TIMEOUT)
        svc.close()
    log.info("omh worker %d: stopped", os.getpid())


def _reconcile(svc: Any) -> None:
    """Enqueue `reconcile`; an unreachable broker ends the command with a clear message."""
    try:
        svc.jobs.enqueue("reconcile")
    except JobQueueUnavailable as exc:
        fail(str(exc))


def _supervise(data_dir: Path | None, threads: int, processes: int, stop: threading.Event) -> None:
    svc = open_services(data_dir)
    try:
        _reconcile(svc)
    finally:
        svc.close()
    cmd = [*_this_program(), "worker", "--threads", str(threads), "--processes", "1"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    env = {**os.environ, CHILD_ENV: str(os.getpid())}
    children: list[subprocess.Popen[bytes]] = [subprocess.Popen(cmd, env=env) for _ in range(processes)]
    log.info("omh worker %d: supervising %d worker processes", os.getpid(), processes)
    while not stop.wait(RESTART_DELAY):
        for i, proc in enumerate(children):
            if proc.poll() is not None and not stop.is_set():
                log.warning("worker process %d exited with %s; restarting it", proc.pid, proc.returncode)
                children[i] = subprocess.Popen(cmd, env=env)
    for proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT + 5
    for proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.info("omh worker %d: stopped", os.getpid())


def _this_program() -> list[str]:
    """The command line that started this process, without its arguments (`python -m x`, `.../bin/omh`):
    worker processes run the same program, with the same jobs defined."""
    program = sys.orig_argv[: len(sys.orig_argv) - (len(sys.argv) - 1)]
    return [sys.executable, *program[1:]] if program else [sys.executable, "-m", "openmodelhub.cli"]


def _safe_url(url: str) -> str:
    from openmodelhub.jobs.dramatiq_engine import safe_url

    return safe_url(url)


def _parse_args(args: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (1, true, null, "x", [..]) is taken as that."""
    out: dict[str, Any] = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep or not key.isidentifier():
            fail(f"job arguments are key=value pairs, not {arg!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def enqueue(data_dir: Path | None, name: str, args: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kwargs = _parse_args(args)
    svc = open_services(data_dir)
    try:
        svc.jobs.enqueue(name, **kwargs)
    except JobError as exc:
        svc.close()
        fail(str(exc))
    what = describe(name, kwargs)
    if svc.hub.settings.job_engine == "embedded":
        # Embedded jobs run in the process that enqueued them: this one, so wait for it (and its retries).
        typer.echo(f"running {what} in this process (embedded job engine)")
        done = svc.jobs.join(timeout=24 * 3600)
        svc.close()
        typer.echo(f"{what}: {'done' if done else 'not finished'} (failures are logged)")
        return
    svc.close()
    typer.echo(f"enqueued {what} on queue {svc.hub.settings.job_queue_prefix}")

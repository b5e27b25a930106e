"""The app factory for server worker processes (`omh serve --workers N` or `--server granian`).

Workers are forked by the server's master process, which is `omh serve` itself. They ask the kernel to kill
them when that process dies (even by SIGKILL), so nothing keeps listening on the port or holds the data dir.
"""

import ctypes
import os
import signal
import sys

from fastapi import FastAPI

PARENT_ENV = "OMH_SERVE_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Get SIGKILL when the `omh serve` process exits; exit now if it is already gone."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)


def create_worker_app() -> FastAPI:
    """One worker's app, on the data dir `omh serve` passed through the environment (OMH_DATA_DIR)."""
    die_with_parent()
    from openmodelhub.api.app import create_app
    from openmodelhub.services.container import Services
    from openmodelhub.settings import Settings

    return create_app(Services.open(Settings(), migrate=False))

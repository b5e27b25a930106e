"""A real `omh serve` process for end-to-end tests, plus helpers to drive the `omh` CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import stack as stacks
from tests.support.ports import free_port

OMH = [sys.executable, "-m", "openmodelhub.cli"]

__all__ = ["OMH", "HubServer", "free_port", "omh_cli", "run_client"]


class HubServer:
    """One hub: an `omh serve` process on its own port and data dir, on the run's stack (support/stack.py).

    On the scale-out stack the hub gets its own PostgreSQL database, S3 bucket and job queues, its schema is
    migrated with `omh db upgrade` before the first start, and `start` also starts an `omh worker`.
    Pass `stack="embedded"` for a test that is about the embedded layout itself."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        *,
        stack: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.stack = stack or stacks.STACK
        extra = dict(env or {})
        if self.stack == "scaleout" and not any(k in extra for k in ("OMH_DATABASE_URL", "OMH_BLOB_STORE")):
            extra = {**stacks.scaleout_env(self.data_dir.parent), **extra}
        self.env = {**os.environ, **extra}
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.worker_log_path = self.data_dir.parent / f"{self.data_dir.name}-worker.log"
        self._migrated = False
        self.log_level = "warning"  # `omh serve --log-level` (a test may ask for more before `start`)

    @property
    def uses_workers(self) -> bool:
        return self.env.get("OMH_JOB_ENGINE") == "dramatiq"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "HubServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_migrated()
        if self.uses_workers and (self.worker is None or self.worker.poll() is not None):
            self.start_worker()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                *OMH,
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                self.log_level,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"omh serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/models?limit=1", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"omh serve did not answer within {timeout}s:\n{self.log()}")

    def _ensure_migrated(self) -> None:
        """A server database is migrated deliberately (`omh db upgrade`), once, before anything uses it."""
        if not self._migrated and not self.env.get("OMH_DATABASE_URL", "sqlite").startswith("sqlite"):
            self._migrated = True
            omh_cli(self.data_dir, "db", "upgrade", env=self.env)

    def start_worker(self) -> None:
        """Start an `omh worker` for this hub's job queues."""
        log = open(self.worker_log_path, "ab")  # noqa: SIM115 - handed to the child
        self.worker = subprocess.Popen(
            [*OMH, "worker", "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill_worker(self) -> None:
        """SIGKILL the job worker."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        self.worker = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        for proc in (self.proc, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.proc = None
        self.worker = None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self._ensure_migrated()
        return omh_cli(self.data_dir, *args, check=check, env=self.env)

    def create_user(self, name: str, *, admin: bool = False) -> None:
        self.cli("user", "create", name, *(["--admin"] if admin else []))

    def create_token(self, user: str, *, write: bool = True) -> str:
        out = self.cli("token", "create", "--user", user, *(["--write"] if write else []))
        return out.stdout.strip().splitlines()[-1]


def omh_cli(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*OMH, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"omh {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def run_client(code: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run client code in a fresh interpreter (for settings huggingface_hub reads only at import time)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"client script failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def client_result(hub: HubServer, tmp: Path, code: str, args: Any, *, xet: bool = True) -> Any:
    """Run stock-client `code` against `hub` in a fresh interpreter, with `ARGS` in the code replaced by the
    JSON-decoded `args`, Xet on or off (HF_HUB_DISABLE_XET) and a Xet cache of its own under `tmp`; the code
    prints `RESULT=<json>` last, and that value is returned."""
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_XET_CACHE": str(tmp / f"xet-cache-{time.monotonic_ns()}"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_XET_TELEMETRY_ENABLED": "false",
    }
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    source = textwrap.dedent(code).replace("ARGS", f"json.loads(r'''{json.dumps(args)}''')")
    out = run_client("import json\n" + source, env).stdout
    line = next(x for x in reversed(out.splitlines()) if x.startswith("RESULT="))
    return json.loads(line[len("RESULT=") :])

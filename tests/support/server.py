"""A real `omh serve` process for end-to-end tests, plus helpers to drive the `omh` CLI."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

OMH = [sys.executable, "-m", "openmodelhub.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubServer:
    def __init__(self, data_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "HubServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
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
                "warning",
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

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
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

"""Where the browser tests save screenshots: test-artifacts/screenshots/<run>/ (git-ignored).

Loaded as a plugin by tests/conftest.py, so the folder is chosen once per run (in the xdist controller;
workers inherit it through the environment) and printed in the header of the run.
"""

import os
import time
from pathlib import Path

import pytest

ENV = "OMH_SCREENSHOT_DIR"
ROOT = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    """This run's screenshot folder (created on first use)."""
    folder = Path(os.environ.get(ENV) or ROOT / "test-artifacts" / "screenshots" / "unnamed")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(ENV):
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        os.environ[ENV] = str(ROOT / "test-artifacts" / "screenshots" / stamp)


def pytest_report_header(config: pytest.Config) -> str:
    return f"browser test screenshots: {os.environ[ENV]}"

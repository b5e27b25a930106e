"""Fixtures for the Xet protocol tests: running the real hf_xet client in a child process.

Each run gets its own HF_HOME and HF_XET_CACHE, so hf_xet's local shard cache never deduplicates one test's
upload against another's.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("hf_xet_driver.py")
HfXet = Callable[..., Any]


def run_hf_xet(home: Path, *args: str) -> Any:
    """Run hf_xet_driver.py with an isolated cache; return its JSON output (fails the test on error)."""
    env = dict(os.environ, HF_HOME=str(home / "hf"), HF_XET_CACHE=str(home / "xet-cache"))
    env.pop("HF_ENDPOINT", None)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"hf_xet {args[0]} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


@pytest.fixture
def hf_xet(tmp_path: Path) -> HfXet:
    """Call as ``hf_xet("upload", token_url, *paths)``; see hf_xet_driver.py."""
    return lambda *args: run_hf_xet(tmp_path, *args)

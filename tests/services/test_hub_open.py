"""Processes that open one new embedded hub at the same moment (`omh serve` and `omh worker` starting
together) all get a migrated database: the migrations run one at a time (services/hub.py)."""

import subprocess
import sys
from pathlib import Path

OPEN = """
import sys
from pathlib import Path
from openmodelhub.services.hub import Hub
from openmodelhub.settings import Settings
Hub.open(Settings(data_dir=Path(sys.argv[1]))).close()
print("opened")
"""


def test_concurrent_first_opens_of_a_sqlite_hub_all_succeed(tmp_path: Path) -> None:
    for attempt in range(3):
        data = tmp_path / f"hub{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, str(data)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 and "opened" in out, err[-2000:]

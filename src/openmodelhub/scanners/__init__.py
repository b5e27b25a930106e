"""Security scanners: pure functions over files, bytes in and findings out.

Nothing here imports the rest of the hub except `protocol`; the hub calls `scan_file` and stores the result.
Formats are detected by content, never by file name alone; nothing is ever unpickled or executed.
"""

from __future__ import annotations

import os
from typing import IO

from openmodelhub.scanners._engine import scan_source
from openmodelhub.scanners._source import BytesSource, FileSource
from openmodelhub.scanners.types import (
    DEFAULT_LIMITS,
    SCANNER_VERSION,
    Finding,
    Limits,
    PickleImport,
    ScanResult,
    Verdict,
)

__all__ = [
    "DEFAULT_LIMITS",
    "SCANNER_VERSION",
    "Finding",
    "Limits",
    "PickleImport",
    "ScanResult",
    "Verdict",
    "scan_bytes",
    "scan_file",
    "scan_fileobj",
]


def scan_file(
    path: str | os.PathLike[str], name: str | None = None, *, limits: Limits = DEFAULT_LIMITS
) -> ScanResult:
    """Scan one file. `name` is its path inside the repo (a hint only: `.py`, `.safetensors`, `config.json`);
    without it the file's own base name is the hint. Reads only what each format needs."""
    hint = name if name is not None else os.path.basename(os.fspath(path))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return scan_source(FileSource(f, size), hint, limits)


def scan_fileobj(f: IO[bytes], name: str, *, limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Scan a seekable binary file object (a blob in a remote store, read with ranged reads): like
    `scan_file`, only what each format needs is read."""
    return scan_source(FileSource(f), name, limits)


def scan_bytes(data: bytes, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Scan content held in memory (tests, small uploads)."""
    return scan_source(BytesSource(data), name, limits)

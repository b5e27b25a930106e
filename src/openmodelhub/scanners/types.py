"""The scanner vocabulary shared by every format module and by the hub."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Bump whenever a rule, the allowlist or a limit changes: stored results of older versions are re-scanned.
SCANNER_VERSION = "1"


class Verdict(StrEnum):
    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    UNSAFE = "unsafe"
    UNSCANNABLE = "unscannable"

    @property
    def rank(self) -> int:
        return {"safe": 0, "unscannable": 1, "suspicious": 2, "unsafe": 3}[self.value]

    @staticmethod
    def worst(verdicts: "list[Verdict]") -> "Verdict":
        return max(verdicts, key=lambda v: v.rank, default=Verdict.SAFE)


@dataclass(frozen=True)
class Finding:
    """One reason for a verdict."""

    verdict: Verdict  # the verdict this finding alone implies
    code: str  # short machine-readable id, e.g. "pickle.dangerous_global", "safetensors.overlap"
    message: str  # a sentence a person understands, naming the thing found
    location: str = ""  # e.g. "archive/data.pkl", "byte 1234", "tensor 'w'"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PickleImport:
    module: str
    name: str
    safety: str  # "innocuous" | "suspicious" | "dangerous" (picklescan's words, as the Hub shows them)


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    format: (
        str  # detected format: "pickle", "pytorch-zip", "safetensors", "gguf", "python", "text", "unknown"…
    )
    findings: tuple[Finding, ...] = ()
    pickle_imports: tuple[PickleImport, ...] = ()
    scanner_version: str = SCANNER_VERSION


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile file from costing unbounded time, memory or disk (exceeded: unscannable)."""

    max_archive_depth: int = 4
    max_archive_members: int = 10_000
    max_decompressed_bytes: int = 8 * 1024**3
    max_compression_ratio: float = 200.0
    max_pickle_bytes: int = 4 * 1024**3
    max_safetensors_header: int = 100 * 1024**2
    max_python_bytes: int = 5 * 1024**2
    # compression ratios are only judged past this many output bytes (small members compress arbitrarily well)
    min_bomb_bytes: int = 16 * 1024**2
    max_pickle_opcodes: int = 10_000_000  # each opcode costs the symbolic stack some memory
    max_pickle_nesting: int = 10_000  # MARK depth and nested pickles
    max_json_bytes: int = 64 * 1024**2
    max_template_bytes: int = 1024**2
    max_gguf_array_items: int = 16_000_000
    max_findings: int = 200
    max_seconds: float = 600.0  # wall-clock budget for one scan_file call, nested members included


DEFAULT_LIMITS = Limits()

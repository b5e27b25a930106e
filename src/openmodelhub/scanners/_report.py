"""What format scanners share: the findings they accumulate and the limits and clock they answer to."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openmodelhub.scanners.types import Finding, Limits, PickleImport, ScanResult, Verdict

_SAFETY_RANK = {"innocuous": 0, "suspicious": 1, "dangerous": 2}


class LimitExceeded(Exception):
    """A bound from `Limits` was hit: the scan stops and the file is unscannable (or worse)."""


class Report:
    """Findings and pickle imports of one file, in the order found."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.findings: list[Finding] = []
        self.imports: dict[tuple[str, str], PickleImport] = {}
        self._omitted = 0
        self._omitted_worst = Verdict.SAFE

    def add(self, verdict: Verdict, code: str, message: str, location: str = "", /, **detail: Any) -> None:
        if len(self.findings) >= self.limits.max_findings:
            # Keep counting so the verdict still reflects what was omitted.
            self._omitted += 1
            if verdict.rank > self._omitted_worst.rank:
                self._omitted_worst = verdict
            return
        self.findings.append(Finding(verdict, code, message, location, dict(detail)))

    def add_import(self, module: str, name: str, safety: str) -> None:
        key = (module, name)
        old = self.imports.get(key)
        if old is None or _SAFETY_RANK[safety] > _SAFETY_RANK[old.safety]:
            self.imports[key] = PickleImport(module, name, safety)

    def merge(self, result: ScanResult, prefix: str | None) -> None:
        """Fold a nested member's result in, its locations prefixed by the member's path (if any)."""
        for f in result.findings:
            loc = f.location if prefix is None else f"{prefix}: {f.location}" if f.location else prefix
            self.add(f.verdict, f.code, f.message, loc, **f.detail)
        for imp in result.pickle_imports:
            self.add_import(imp.module, imp.name, imp.safety)

    @property
    def verdict(self) -> Verdict:
        return Verdict.worst([f.verdict for f in self.findings] + [self._omitted_worst])

    def result(self, fmt: str) -> ScanResult:
        findings = list(self.findings)
        if self._omitted:
            findings.append(
                Finding(
                    self._omitted_worst,
                    "scan.findings_omitted",
                    f"{self._omitted} more findings were left out of this report",
                )
            )
        return ScanResult(
            verdict=self.verdict,
            format=fmt,
            findings=tuple(findings),
            pickle_imports=tuple(self.imports.values()),
        )


@dataclass
class _Budget:
    unpacked: int = 0


@dataclass
class Ctx:
    """Limits, the shared deadline and unpack budget, and how to scan a nested member."""

    limits: Limits
    deadline: float
    nested: Callable[[Any, str | None, Ctx], ScanResult]
    depth: int = 0
    budget: _Budget = field(default_factory=_Budget)

    def child(self) -> Ctx:
        return Ctx(self.limits, self.deadline, self.nested, self.depth + 1, self.budget)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"the scan took longer than {self.limits.max_seconds:g} s")

    def spend(self, n: int) -> None:
        """Count unpacked bytes against the whole scan's budget (nested archives share it)."""
        self.budget.unpacked += n
        if self.budget.unpacked > self.limits.max_decompressed_bytes:
            raise LimitExceeded(
                f"more than {self.limits.max_decompressed_bytes} bytes would be unpacked in total"
            )

    def scan_member(self, src: Any, name: str | None) -> ScanResult:
        return self.nested(src, name, self.child())

"""Every synthetic malicious or malformed file gets its verdict; every benign one is safe (no false
positives).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openmodelhub.scanners import ScanResult, Verdict, scan_bytes, scan_file
from tests.scanners.fixtures import BENIGN, MALICIOUS, Case


def _explain(r: ScanResult) -> str:
    return "\n".join(f"  {f.verdict.value:<11} {f.code}: {f.message} [{f.location}]" for f in r.findings)


def _scan(case: Case, tmp_path: Path) -> ScanResult:
    path = case.materialize(tmp_path)
    return scan_file(path, case.name)


@pytest.mark.parametrize("case", MALICIOUS, ids=lambda c: c.id)
def test_malicious_or_malformed_file_gets_its_verdict(case: Case, tmp_path: Path) -> None:
    result = _scan(case, tmp_path)
    assert result.verdict is not Verdict.SAFE, _explain(result)
    assert result.verdict is case.expected, f"{case.id}: got {result.verdict.value}\n{_explain(result)}"
    if case.code:
        assert case.code in {f.code for f in result.findings}, _explain(result)
    # the deciding finding says what and where
    deciding = [f for f in result.findings if f.verdict is result.verdict]
    assert deciding and all(f.message for f in deciding)


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.id)
def test_benign_file_is_safe(case: Case, tmp_path: Path) -> None:
    result = _scan(case, tmp_path)
    assert result.verdict is Verdict.SAFE, f"{case.id} ({result.format})\n{_explain(result)}"
    assert all(i.safety == "innocuous" for i in result.pickle_imports)


def test_the_catalogue_covers_the_acceptance_list() -> None:
    ids = {c.id for c in MALICIOUS}
    required = {
        "reduce-os-system-p2",
        "stack-global-memo-obfuscated",
        "torch-zip-inert",
        "torch-legacy-payload",
        "7z-wrapped-pickle",
        "zlib-wrapped-pickle",
        "nested-zip",
        "npy-object-payload",
        "joblib-payload",
        "st-overlap",
        "st-header-beyond-file",
        "st-200mb-header",
        "st-non-utf8",
        "st-dtype-shape-mismatch",
        "st-trailing-bytes",
        "st-negative-shape",
        "st-huge-shape",
        "gguf-ssti-template",
        "gguf-truncated-header",
        "keras-lambda",
        "onnx-external-escape",
        "zip-slip",
        "tar-symlink",
        "modeling-subprocess",
    }
    assert required <= ids, required - ids
    assert len(MALICIOUS) >= 20
    assert len(ids) == len(MALICIOUS), "fixture ids must be unique"


@pytest.mark.parametrize(
    "case", [c for c in MALICIOUS + BENIGN if c.build is not None][::7], ids=lambda c: c.id
)
def test_scan_bytes_agrees_with_scan_file(case: Case, tmp_path: Path) -> None:
    assert case.build is not None
    data = case.build()
    from_file = scan_file(case.materialize(tmp_path), case.name)
    from_bytes = scan_bytes(data, case.name)
    assert (from_bytes.verdict, from_bytes.format) == (from_file.verdict, from_file.format)
    assert [f.code for f in from_bytes.findings] == [f.code for f in from_file.findings]

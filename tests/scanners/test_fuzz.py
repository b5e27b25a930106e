"""Bounded-time fuzzing of the safetensors, pickle and GGUF parsers with mutated valid inputs.

Properties: no exception escapes (a "scan.error" finding would mean a parser raised something unexpected),
every call returns a ScanResult, and no input takes long. The examples are mutations (bit flips, truncations,
insertions, extreme integers) of real files, so the parsers are exercised past their first check.
"""

from __future__ import annotations

import struct
import time
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmodelhub.scanners import Limits, ScanResult, Verdict, scan_bytes
from openmodelhub.scanners import gguf as gguf_scan
from openmodelhub.scanners import pickle as pickle_scan
from openmodelhub.scanners import safetensors as st_scan
from openmodelhub.scanners._engine import scan_nested
from openmodelhub.scanners._report import Ctx, LimitExceeded, Report
from openmodelhub.scanners._source import BytesSource
from tests.scanners.fixtures import (
    CHATML,
    INERT_P0,
    _gguf_tensor_info,
    gguf_bytes,
    gguf_str,
    safetensors_bytes,
    torch_save,
)

LIMITS = Limits(max_seconds=10.0)
EXTREMES = [0, 1, 2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]


@cache
def seeds() -> dict[str, list[bytes]]:
    torch = __import__("torch")
    st_seed = safetensors_bytes(
        {
            "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
            "__metadata__": {"format": "pt"},
        },
        b"\1" * 22,
    )
    import io
    import zipfile

    state = torch_save({"w": torch.ones(2, 2), "b": torch.zeros(3, dtype=torch.int8)})
    data_pkl = zipfile.ZipFile(io.BytesIO(state)).read("archive/data.pkl")
    legacy = torch_save({"w": torch.ones(2)}, _use_new_zipfile_serialization=False)
    gguf_seed = gguf_bytes(
        [
            gguf_str("general.architecture", "llama"),
            gguf_str("tokenizer.chat_template", CHATML),
            ("general.alignment", 4, struct.pack("<I", 32)),
        ],
        _gguf_tensor_info("t", [32, 2], 0, 0) + _gguf_tensor_info("q", [64], 8, 256),
        2,
    )
    pad = (-len(gguf_seed)) % 32
    gguf_seed += b"\0" * (pad + 256 + 68 + 28)
    return {
        "safetensors": [st_seed, safetensors_bytes({})],
        "pickle": [data_pkl, legacy, INERT_P0, b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93."],
        "gguf": [gguf_seed],
    }


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 4095), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 4095), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 4095), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("u64"), st.integers(0, 4095), st.sampled_from(EXTREMES)),
    st.tuples(st.just("u32"), st.integers(0, 4095), st.sampled_from(EXTREMES[:4])),
)


def mutate(data: bytes, muts: list[tuple[str, int, Any]]) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in muts:
        if not b:
            break
        i = pos % len(b)
        if kind == "flip":
            b[i] ^= int(arg)
        elif kind == "truncate":
            del b[i:]
        elif kind == "insert":
            b[i:i] = arg
        elif kind == "u64":
            b[i : i + 8] = struct.pack("<Q", int(arg))
        elif kind == "u32":
            b[i : i + 4] = struct.pack("<I", int(arg))
    return bytes(b)


def _direct(parser: str, data: bytes) -> ScanResult:
    """Run one format parser directly (not through the engine's catch-all): only LimitExceeded may escape."""
    rep = Report(LIMITS)
    ctx = Ctx(LIMITS, time.monotonic() + LIMITS.max_seconds, scan_nested)
    src = BytesSource(data)
    try:
        if parser == "safetensors":
            st_scan.scan(src, ctx, rep)
        elif parser == "gguf":
            gguf_scan.scan(src, ctx, rep)
        else:
            pickle_scan.scan(src, ctx, rep)
    except LimitExceeded:
        rep.add(Verdict.UNSCANNABLE, "scan.limit", "limit")
    return rep.result(parser)


def _check(parser: str, seed_index: int, muts: list[tuple[str, int, object]]) -> None:
    pool = seeds()[parser]
    data = mutate(pool[seed_index % len(pool)], muts)
    start = time.monotonic()
    direct = _direct(parser, data)
    via_engine = scan_bytes(data, limits=LIMITS)
    elapsed = time.monotonic() - start
    for r in (direct, via_engine):
        assert isinstance(r, ScanResult)
        errors = [f.message for f in r.findings if f.code == "scan.error"]
        assert not errors, errors
    assert elapsed < 5.0, f"{parser} took {elapsed:.2f} s"


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@FUZZ
@given(st.integers(0, 10), st.lists(mutation, min_size=1, max_size=4))
def test_safetensors_parser_survives_mutations(seed: int, muts: list[tuple[str, int, object]]) -> None:
    _check("safetensors", seed, muts)


@FUZZ
@given(st.integers(0, 10), st.lists(mutation, min_size=1, max_size=4))
def test_pickle_scanner_survives_mutations(seed: int, muts: list[tuple[str, int, object]]) -> None:
    _check("pickle", seed, muts)


@FUZZ
@given(st.integers(0, 10), st.lists(mutation, min_size=1, max_size=4))
def test_gguf_parser_survives_mutations(seed: int, muts: list[tuple[str, int, object]]) -> None:
    _check("gguf", seed, muts)


def test_fuzz_seeds_are_valid() -> None:
    for parser, pool in seeds().items():
        for data in pool:
            r = _direct(parser, data)
            assert r.verdict is not Verdict.UNSCANNABLE, (parser, r.findings)  # the seed parses


@settings(max_examples=60, deadline=None, database=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash_the_engine(data: bytes) -> None:
    r = scan_bytes(data, limits=LIMITS)
    assert not [f for f in r.findings if f.code == "scan.error"], r.findings

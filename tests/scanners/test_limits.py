"""Bounds: huge sparse files answer in milliseconds, header formats never read tensor data, limits hold."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import time
import zipfile
from pathlib import Path

from openmodelhub.scanners import Limits, Verdict, scan_bytes, scan_file
from openmodelhub.scanners._engine import scan_source
from openmodelhub.scanners._source import BytesSource, FileSource, Source
from tests.scanners.fixtures import INERT_P0, ten_gb_safetensors, torch_like_zip, torch_save, zip_of


class CountingSource(Source):
    """Counts the bytes scanners read, to prove header-only formats skip the data."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.size = inner.size
        self.read_bytes = 0

    def read_at(self, offset: int, n: int) -> bytes:
        out = self.inner.read_at(offset, n)
        self.read_bytes += len(out)
        return out


def test_ten_gigabyte_sparse_safetensors_is_rejected_in_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    ten_gb_safetensors(path)
    assert os.path.getsize(path) == 10 * 1024**3
    start = time.monotonic()
    result = scan_file(path)
    elapsed = time.monotonic() - start
    assert result.verdict is Verdict.UNSCANNABLE
    assert "safetensors.trailing_data" in {f.code for f in result.findings}
    assert elapsed < 1.0, f"took {elapsed:.3f} s"


def test_safetensors_scan_reads_only_the_header(tmp_path: Path) -> None:
    h = json.dumps({"w": {"dtype": "F32", "shape": [16, 1024, 1024], "data_offsets": [0, 64 << 20]}}).encode()
    path = tmp_path / "model.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + (64 << 20))
    with open(path, "rb") as f:
        src = CountingSource(FileSource(f))
        result = scan_source(src, "model.safetensors", Limits())
    assert result.verdict is Verdict.SAFE
    assert src.read_bytes < 256 * 1024, src.read_bytes


def test_torch_zip_scan_does_not_read_tensor_data() -> None:
    torch = __import__("torch")
    data = torch_save({"w": torch.zeros(8 << 20)})  # 32 MiB of storage
    src = CountingSource(BytesSource(data))
    result = scan_source(src, "pytorch_model.bin", Limits())
    assert result.verdict is Verdict.SAFE
    assert src.read_bytes < 2 << 20, src.read_bytes


def test_deadline_stops_a_long_scan() -> None:
    many = b"\x80\x02" + b"N0" * 300_000 + b"N."
    assert scan_bytes(many).verdict is Verdict.SAFE
    result = scan_bytes(many, limits=Limits(max_seconds=0.0))
    assert result.verdict is Verdict.UNSCANNABLE
    assert "scan.limit" in {f.code for f in result.findings}


def test_opcode_limit() -> None:
    many = b"\x80\x02" + b"N0" * 300_000 + b"N."
    result = scan_bytes(many, limits=Limits(max_pickle_opcodes=100_000))
    assert result.verdict is Verdict.UNSCANNABLE


def test_nesting_deeper_than_the_limit_is_unscannable_and_a_payload_inside_still_counts() -> None:
    data = torch_like_zip(INERT_P0)
    for i in range(6):
        data = zip_of({f"level{i}.zip": data})
    result = scan_bytes(data)
    assert result.verdict is Verdict.UNSCANNABLE
    assert "archive.too_deep" in {f.code for f in result.findings}
    shallow = zip_of({"a.zip": zip_of({"m.pt": torch_like_zip(INERT_P0)})})
    assert scan_bytes(shallow).verdict is Verdict.UNSAFE


def test_member_count_limit() -> None:
    data = zip_of({f"f{i}.txt": b"x" for i in range(20)})
    assert scan_bytes(data).verdict is Verdict.SAFE
    result = scan_bytes(data, limits=Limits(max_archive_members=5))
    assert result.verdict is Verdict.UNSCANNABLE


def test_unpacked_bytes_limit_and_gzip_bomb() -> None:
    data = gzip.compress(b"\0" * (64 << 20))
    result = scan_bytes(data)
    assert result.verdict is Verdict.UNSCANNABLE
    assert "gzip.bomb" in {f.code for f in result.findings}
    small = gzip.compress(os.urandom(2 << 20))
    result = scan_bytes(small, limits=Limits(max_decompressed_bytes=1 << 20))
    assert result.verdict is Verdict.UNSCANNABLE


def test_declared_zip_bomb_is_not_unpacked() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.pkl", b"\0" * (64 << 20))
    src = CountingSource(BytesSource(buf.getvalue()))
    result = scan_source(src, None, Limits())
    assert result.verdict is Verdict.UNSCANNABLE
    assert src.read_bytes < 2 * len(buf.getvalue()) + 200_000


def test_findings_are_capped_but_the_verdict_keeps_counting() -> None:
    body = b"".join(f"cmod{i}\nName\n0".encode() for i in range(400)) + b"cos\nsystem\n0N."
    result = scan_bytes(body, limits=Limits(max_findings=50))
    assert len(result.findings) == 51
    assert result.findings[-1].code == "scan.findings_omitted"
    assert result.verdict is Verdict.UNSAFE


def test_gguf_array_item_limit() -> None:
    count = 1000
    arr = struct.pack("<IQ", 4, count) + b"\0" * (4 * count)
    kv = struct.pack("<Q", 3) + b"arr" + struct.pack("<I", 9) + arr
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv
    assert scan_bytes(data).verdict is Verdict.SAFE
    assert scan_bytes(data, limits=Limits(max_gguf_array_items=10)).verdict is Verdict.UNSCANNABLE

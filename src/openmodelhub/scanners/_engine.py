"""Format detection by content and dispatch to the format scanners; nested members come back through here.

Magic bytes decide; the name only adds hints (`.py` → Python, `.safetensors` → validate even a file too short
to sniff). Where a file could be read two ways (a pickle that is also a zip, a safetensors header that is also
a pickle start), both readings are scanned and the worst verdict wins. No scanner raises out of here: anything
unexpected becomes an "unscannable" finding.
"""

from __future__ import annotations

import struct
import time

from openmodelhub.scanners import (
    config,
    containers,
    gguf,
    keras,
    npy,
    onnx,
    pickle,
    python,
    safetensors,
    savedmodel,
    templates,
)
from openmodelhub.scanners._report import Ctx, LimitExceeded, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Limits, ScanResult, Verdict

_EXEC_MAGIC = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
TEXT_SAMPLE = 1 << 16


def scan_source(src: Source, name: str | None, limits: Limits) -> ScanResult:
    ctx = Ctx(limits, time.monotonic() + limits.max_seconds, scan_nested)
    return scan_nested(src, name, ctx)


def scan_nested(src: Source, name: str | None, ctx: Ctx) -> ScanResult:
    """Scan one file or archive member; never raises."""
    rep = Report(ctx.limits)
    fmt = "unknown"
    if ctx.depth > ctx.limits.max_archive_depth:
        rep.add(
            Verdict.UNSCANNABLE,
            "archive.too_deep",
            f"archives nested more than {ctx.limits.max_archive_depth} deep are not opened",
        )
        return rep.result(fmt)
    try:
        fmt = _dispatch(src, name, ctx, rep)
    except LimitExceeded as exc:
        rep.add(Verdict.UNSCANNABLE, "scan.limit", f"scan stopped: {exc}")
    except Exception as exc:  # a hostile file must never crash the caller
        rep.add(
            Verdict.UNSCANNABLE,
            "scan.error",
            f"the scanner failed on this content: {type(exc).__name__}: {exc}",
        )
    return rep.result(fmt)


def _is_text(sample: bytes, complete: bool) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of the sample is still text
        return not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


def _is_pe(src: Source, head: bytes) -> bool:
    if not head.startswith(b"MZ") or len(head) < 64:
        return False
    off = struct.unpack("<I", head[60:64])[0]
    return src.read_at(off, 4) == b"PE\x00\x00"


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _dispatch(src: Source, name: str | None, ctx: Ctx, rep: Report) -> str:
    lname = (name or "").lower()
    size = src.size
    if size == 0:
        return safetensors.scan(src, ctx, rep) if lname.endswith(".safetensors") else "empty"
    head = src.head(64)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return containers.scan_zip(src, name, ctx, rep, strict=True) or "zip"
    if safetensors.looks_like(head, size) or lname.endswith(".safetensors"):
        fmt = safetensors.scan(src, ctx, rep)
        if pickle.is_pickle_start(head):
            pickle.scan_tentative(src, ctx, rep, text=False)
        return fmt
    if pickle.is_pickle_start(head):
        fmt = pickle.scan(src, ctx, rep)
        if containers.has_zip_tail(src):
            containers.scan_zip(src, name, ctx, rep, strict=False)
        return fmt
    if head.startswith(npy.MAGIC):
        return npy.scan(src, ctx, rep)
    if head.startswith(b"GGUF"):
        return gguf.scan(src, ctx, rep)
    if keras.is_hdf5(src):
        return keras.scan_hdf5(src, ctx, rep)
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return containers.scan_7z(src, ctx, rep)
    if head.startswith(b"\x1f\x8b"):
        return containers.scan_compressed(src, "gzip", name, ctx, rep) or "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return containers.scan_compressed(src, "bz2", name, ctx, rep) or "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return containers.scan_compressed(src, "xz", name, ctx, rep) or "xz"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return containers.scan_refused("lz4", rep)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return containers.scan_refused("zstd", rep)
    if size > 262 and src.read_at(257, 5) == b"ustar":
        return containers.scan_tar(src, ctx, rep)
    if head.startswith(_EXEC_MAGIC) or _is_pe(src, head):
        rep.add(
            Verdict.SUSPICIOUS,
            "executable",
            "a native executable or library: it runs code if anything loads or starts it",
        )
        return "executable"
    if _is_zlib(head):
        fmt_c = containers.scan_compressed(src, "zlib", name, ctx, rep)
        if fmt_c:
            return fmt_c
    if onnx.looks_like(src, name):
        return onnx.scan(src, ctx, rep)
    if savedmodel.looks_like(src, name):
        return savedmodel.scan(src, ctx, rep)
    if savedmodel.looks_like_graphdef(src, name):
        return savedmodel.scan(src, ctx, rep, graphdef=True)
    sample = src.head(TEXT_SAMPLE)
    text = _is_text(sample, complete=len(sample) == size)
    fmt_p = pickle.scan_tentative(src, ctx, rep, text=text) if head[0] in pickle.PROTO01_FIRST else None
    fmt_z = containers.scan_zip(src, name, ctx, rep, strict=False) if containers.has_zip_tail(src) else None
    if fmt_p or fmt_z:
        return fmt_p or fmt_z or "binary"
    if lname.endswith((".py", ".pyw")):
        return python.scan(src.read_at(0, ctx.limits.max_python_bytes + 1), rep, ctx.limits.max_python_bytes)
    if text:
        return _scan_text(src, name, sample, ctx, rep)
    if lname.endswith(".pb"):
        keras.scan_embedded_configs(src, ctx, rep)
    return "binary"


def _scan_text(src: Source, name: str | None, sample: bytes, ctx: Ctx, rep: Report) -> str:
    lname = (name or "").lower()
    if lname.endswith((".jinja", ".jinja2", ".j2")):
        raw = src.read_at(0, ctx.limits.max_template_bytes + 1)
        templates.check(raw.decode("utf-8", "replace"), rep, "", ctx.limits.max_template_bytes)
        return "jinja"
    first = sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"["):
        fmt = config.scan_json(src, name, ctx, rep)
        if fmt:
            return fmt
    return "text"

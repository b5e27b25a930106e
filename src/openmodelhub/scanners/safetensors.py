"""safetensors: validate the header strictly, never read tensor data.

safetensors holds no code, so a valid file is safe; the risk is in files that lie about themselves (allocation
DoS through overlapping or oversized ranges, polyglots hiding data in holes or after the buffer, headers that
different parsers read differently). The rules are those of the reference (`Metadata::validate` of the Rust
library plus the hub's stricter ones: leading `{`, duplicate keys, NaN, integer types, non-empty names). Only
the first 8 + N bytes are read; the data region is checked against the file size alone.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Verdict

# dtype → bits per element (safetensors 0.8.0 `Dtype`).
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip
MAX_RANK = 16
U64 = 1 << 64
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def looks_like(head: bytes, size: int) -> bool:
    """Eight-byte little-endian header length, then (whitespace or a BOM and) a JSON object."""
    if len(head) < 9:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    if n < 2 or n >= 1 << 40:  # text that happens to have a '{' at byte 8 decodes to a huge length
        return False
    rest = head[8:].lstrip(b" \t\r\n")
    return rest.startswith(b"{") or head[8:11] == b"\xef\xbb\xbf"


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Invalid("safetensors.duplicate_key", f"the key {k!r} appears twice in the header")
        out[k] = v
    return out


def _no_constant(token: str) -> Any:
    raise _Invalid("safetensors.json", f"the header uses the non-JSON number {token}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse(raw: bytes) -> dict[str, Any]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _Invalid("safetensors.json", "the header starts with a UTF-8 byte order mark")
    if not raw.startswith(b"{"):
        raise _Invalid("safetensors.json", "the header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(
            "safetensors.utf8", f"the header is not valid UTF-8 ({exc.reason} at {exc.start})"
        ) from exc
    try:
        obj, end = json.JSONDecoder(object_pairs_hook=_no_dupes, parse_constant=_no_constant).raw_decode(text)
    except _Invalid:
        raise
    except (ValueError, RecursionError) as exc:
        raise _Invalid("safetensors.json", f"the header is not valid JSON: {exc}") from exc
    if text[end:].strip(" \t\r\n"):
        raise _Invalid("safetensors.json", "the header has bytes after its JSON object other than spaces")
    if not isinstance(obj, dict):
        raise _Invalid("safetensors.json", "the header is not a JSON object")
    return obj


def _check_metadata(meta: Any) -> None:
    if meta is None:
        return
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _Invalid("safetensors.metadata", "__metadata__ must map strings to strings")


def _entry(name: str, entry: Any, rep: Report) -> tuple[int, int, str]:
    where = f"tensor {name!r}"
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise _Invalid("safetensors.name", f"tensor name {name!r} is empty or has control characters")
    if not isinstance(entry, dict):
        raise _Invalid("safetensors.entry", f"{where} is not an object")
    missing = _ENTRY_KEYS - entry.keys()
    if missing:
        raise _Invalid("safetensors.entry", f"{where} lacks {', '.join(sorted(missing))}")
    extra = entry.keys() - _ENTRY_KEYS
    if extra:
        rep.add(
            Verdict.SUSPICIOUS,
            "safetensors.extra_key",
            f"{where} has keys no safetensors writer produces: {', '.join(sorted(extra))}",
            where,
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _Invalid("safetensors.dtype", f"{where} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise _Invalid("safetensors.shape", f"{where} shape is not a list of at most {MAX_RANK} dimensions")
    numel = 1
    for d in shape:
        if not _is_int(d) or d < 0 or d >= U64:
            raise _Invalid("safetensors.shape", f"{where} has dimension {d!r}: not a non-negative integer")
        numel *= d
    bits = numel * DTYPE_BITS[dtype]
    if bits >= U64 * 8:
        raise _Invalid("safetensors.shape", f"{where} shape {shape} overflows a 64-bit byte count")
    if bits % 8:
        raise _Invalid("safetensors.shape", f"{where}: {numel} elements of {dtype} do not fill whole bytes")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and 0 <= o < U64 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _Invalid(
            "safetensors.offsets", f"{where} data_offsets {offsets!r} are not [begin, end] with begin <= end"
        )
    begin, end = offsets
    if end - begin != bits // 8:
        raise _Invalid(
            "safetensors.size_mismatch",
            f"{where}: {dtype} {shape} needs {bits // 8} bytes but data_offsets span {end - begin}",
        )
    return begin, end, name


def scan(src: Source, ctx: Ctx, rep: Report) -> str:
    """Validate a safetensors header and the layout of its buffer."""
    try:
        _validate(src, ctx, rep)
    except _Invalid as exc:
        rep.add(Verdict.UNSCANNABLE, exc.code, f"invalid safetensors: {exc}")
    return "safetensors"


def _validate(src: Source, ctx: Ctx, rep: Report) -> None:
    size = src.size
    if size < 8:
        raise _Invalid("safetensors.truncated", f"{size} bytes: too small for the 8-byte header length")
    n = struct.unpack("<Q", src.read_at(0, 8))[0]
    if n == 0:
        raise _Invalid("safetensors.header_length", "the header length is 0")
    cap = ctx.limits.max_safetensors_header
    if n > cap:
        raise _Invalid(
            "safetensors.header_too_large", f"the header claims {n} bytes, more than the {cap} allowed"
        )
    if n > size - 8:
        raise _Invalid(
            "safetensors.header_length", f"the header claims {n} bytes but the file has {size - 8} left"
        )
    header = _parse(src.read_at(8, n))
    _check_metadata(header.pop("__metadata__", None))
    spans = sorted(_entry(name, entry, rep) for name, entry in header.items())
    ctx.check_time()
    buffer_end = 0
    for begin, end, name in spans:
        if begin < buffer_end:
            raise _Invalid("safetensors.overlap", f"tensor {name!r} overlaps the tensor before it")
        if begin > buffer_end:
            raise _Invalid("safetensors.gap", f"{begin - buffer_end} unindexed bytes before tensor {name!r}")
        buffer_end = end
    data = size - 8 - n
    if buffer_end > data:
        raise _Invalid(
            "safetensors.out_of_bounds",
            f"the tensors need {buffer_end} bytes of data but the file has {data}",
        )
    if buffer_end < data:
        raise _Invalid(
            "safetensors.trailing_data",
            f"{data - buffer_end} bytes after the last tensor that nothing indexes",
        )

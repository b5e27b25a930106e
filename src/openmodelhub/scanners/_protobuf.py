"""A minimal protobuf wire-format walker (ONNX, TensorFlow SavedModel) that reads only the fields it is asked
for.

No generated classes and no `protobuf` dependency: messages are walked by field number over the file with a
small block cache, big `bytes` fields (weights) are skipped by length, and every length is checked against the
enclosing message.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from openmodelhub.scanners._source import BLOCK, Source

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class ProtoError(Exception):
    """Not a well-formed protobuf message."""


class Blocks:
    """Reads through a small cache of aligned blocks: protobuf walks make many tiny reads close together."""

    def __init__(self, src: Source, keep: int = 16) -> None:
        self.src = src
        self.size = src.size
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._keep = keep

    def _block(self, i: int) -> bytes:
        b = self._cache.get(i)
        if b is None:
            b = self.src.read_at(i * BLOCK, BLOCK)
            self._cache[i] = b
            if len(self._cache) > self._keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return b

    def read(self, off: int, n: int) -> bytes:
        if n <= 0:
            return b""
        if n > BLOCK:
            return self.src.read_at(off, n)
        first, last = off // BLOCK, (off + n - 1) // BLOCK
        data = (
            self._block(first) if first == last else b"".join(self._block(i) for i in range(first, last + 1))
        )
        start = off - first * BLOCK
        return data[start : start + n]


def _varint(blocks: Blocks, pos: int, end: int) -> tuple[int, int]:
    raw = blocks.read(pos, min(10, end - pos))
    result = 0
    for i, b in enumerate(raw):
        result |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return result, pos + i + 1
    raise ProtoError(f"bad varint at byte {pos}")


def fields(blocks: Blocks, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value or offset, length) for each field of the message in [start, end)."""
    pos = start
    while pos < end:
        key, pos = _varint(blocks, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError(f"field number 0 at byte {pos}")
        if wire == VARINT:
            value, pos = _varint(blocks, pos, end)
            yield number, wire, value, 0
        elif wire == I64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            yield number, wire, pos, 8
            pos += 8
        elif wire == I32:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            yield number, wire, pos, 4
            pos += 4
        elif wire == LEN:
            n, pos = _varint(blocks, pos, end)
            if n > end - pos:
                raise ProtoError(f"a field of {n} bytes at byte {pos} runs past its message")
            yield number, wire, pos, n
            pos += n
        else:
            raise ProtoError(f"wire type {wire} at byte {pos} (groups are not used by ONNX or TensorFlow)")


def top_level(src: Source) -> list[tuple[int, int, int, int]] | None:
    """The top-level fields of the whole file if it parses as one message (few fields: cheap), else None."""
    blocks = Blocks(src, keep=4)
    out = []
    try:
        for f in fields(blocks, 0, src.size):
            out.append(f)
            if len(out) > 100_000:
                return None
    except ProtoError:
        return None
    return out


def text(blocks: Blocks, off: int, n: int, cap: int = 65536) -> str:
    return blocks.read(off, min(n, cap)).decode("utf-8", "replace")

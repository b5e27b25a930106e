"""GGUF (llama.cpp): bounded header parsing and chat-template checks.

GGUF holds no code, but native loaders have had integer overflows on lying counts and lengths (CVE-2025-53630,
CVE-2024-21802), and its `tokenizer.chat_template` is a Jinja program that some runtimes render unsandboxed.
So every count and length is checked against the bytes left before anything is read, tensor extents are
checked against the data section, and templates go through `templates.check`. Tensor data is never read.
"""

from __future__ import annotations

import struct

from openmodelhub.scanners import templates
from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Cursor, Source
from openmodelhub.scanners.types import Verdict

# ggml_type → (block size in elements, bytes per block); gguf 0.19.0 GGML_QUANT_SIZES.
GGML_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
# value type → fixed size in bytes (8 = string and 9 = array are variable).
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY, UINT32 = 8, 9, 4
MAX_KEY = 65535
MAX_NAME = 63  # GGML_MAX_NAME is 64 including the NUL
MAX_DIMS = 4
MAX_ARRAY_DEPTH = 3
MIN_KV = 8 + 1 + 4 + 1
MIN_TENSOR = 8 + 1 + 4 + 4 + 8


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser:
    def __init__(self, src: Source, ctx: Ctx, rep: Report) -> None:
        self.cur = Cursor(src)
        self.ctx = ctx
        self.rep = rep
        self.endian = "<"
        self.wide = True  # v2+: 64-bit counts and lengths
        self.items = 0

    def u32(self) -> int:
        return int(struct.unpack(self.endian + "I", self.cur.read(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(self.endian + "Q", self.cur.read(8))[0])

    def count(self) -> int:
        return self.u64() if self.wide else self.u32()

    def length(self, what: str, limit: int | None = None) -> int:
        n = self.count()
        if n > self.cur.remaining:
            raise _Invalid("gguf.length", f"{what} claims {n} bytes, only {self.cur.remaining} are left")
        if limit is not None and n > limit:
            raise _Invalid("gguf.length", f"{what} is {n} bytes long, more than {limit}")
        return n

    def string(self, what: str, limit: int | None = None) -> str:
        raw = self.cur.read(self.length(what, limit))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Invalid("gguf.utf8", f"{what} is not valid UTF-8") from exc

    def skip_value(self, vtype: int, depth: int) -> None:
        if vtype in _FIXED:
            raw = self.cur.read(_FIXED[vtype])
            if vtype == 7 and raw[0] > 1:
                raise _Invalid("gguf.bool", f"a bool holds {raw[0]}")
        elif vtype == STRING:
            self.cur.skip(self.length("a string"))
        elif vtype == ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                raise _Invalid("gguf.array", f"arrays nested more than {MAX_ARRAY_DEPTH} deep")
            etype = self.u32()
            n = self.count()
            self.items += n
            if self.items > self.ctx.limits.max_gguf_array_items:
                raise _Invalid("gguf.array", f"more than {self.ctx.limits.max_gguf_array_items} array items")
            if etype in _FIXED:
                if n * _FIXED[etype] > self.cur.remaining:
                    raise _Invalid("gguf.length", f"an array of {n} items does not fit in the file")
                raw = self.cur.read(n * _FIXED[etype])
                if etype == 7 and raw.translate(None, b"\x00\x01"):
                    raise _Invalid("gguf.bool", "a bool array holds values other than 0 and 1")
            elif etype in (STRING, ARRAY):
                if n * (8 if self.wide else 4) > self.cur.remaining:
                    raise _Invalid("gguf.length", f"an array of {n} items does not fit in the file")
                for i in range(n):
                    if i & 0xFFFF == 0xFFFF:
                        self.ctx.check_time()
                    self.skip_value(etype, depth + 1)
            else:
                raise _Invalid("gguf.type", f"array element type {etype} is unknown")
        else:
            raise _Invalid("gguf.type", f"value type {vtype} is unknown")

    def parse(self) -> None:
        cur = self.cur
        if cur.read(4) != b"GGUF":
            raise _Invalid("gguf.magic", "does not start with GGUF")
        raw = cur.read(4)
        version = struct.unpack("<I", raw)[0]
        if version not in (1, 2, 3):
            if struct.unpack(">I", raw)[0] in (2, 3):
                self.endian = ">"
                version = struct.unpack(">I", raw)[0]
            else:
                raise _Invalid("gguf.version", f"unknown GGUF version {version}")
        self.wide = version >= 2
        n_tensors = self.count()
        n_kv = self.count()
        if n_kv * MIN_KV + n_tensors * MIN_TENSOR > cur.remaining:
            raise _Invalid(
                "gguf.count",
                f"{n_kv} metadata entries and {n_tensors} tensors cannot fit in {cur.remaining} bytes",
            )
        alignment = 32
        keys: set[str] = set()
        for i in range(n_kv):
            if i & 0x3FF == 0x3FF:
                self.ctx.check_time()
            key = self.string("a metadata key", MAX_KEY)
            if key in keys:
                raise _Invalid("gguf.duplicate_key", f"metadata key {key!r} appears twice")
            keys.add(key)
            vtype = self.u32()
            where = f"metadata {key!r}"
            if key == "general.alignment":
                if vtype != UINT32:
                    raise _Invalid("gguf.alignment", "general.alignment is not a uint32")
                alignment = self.u32()
                if alignment == 0 or alignment & (alignment - 1) or alignment % 8:
                    raise _Invalid(
                        "gguf.alignment", f"general.alignment {alignment} is not a power of two >= 8"
                    )
            elif vtype == STRING and (
                key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")
            ):
                n = self.length(where)
                raw = cur.read(n)
                templates.check(
                    raw.decode("utf-8", "replace"), self.rep, where, self.ctx.limits.max_template_bytes
                )
            else:
                self.skip_value(vtype, 0)
        infos: list[tuple[int, int, str]] = []
        names: set[str] = set()
        for i in range(n_tensors):
            if i & 0x3FF == 0x3FF:
                self.ctx.check_time()
            name = self.string("a tensor name", MAX_NAME)
            if name in names:
                raise _Invalid("gguf.duplicate_tensor", f"tensor {name!r} appears twice")
            names.add(name)
            n_dims = self.u32()
            if n_dims > MAX_DIMS:
                raise _Invalid("gguf.dims", f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
            dims = [self.count() for _ in range(n_dims)]
            gtype = self.u32()
            offset = self.u64()
            if gtype not in GGML_TYPES:
                raise _Invalid("gguf.ggml_type", f"tensor {name!r} has unknown ggml type {gtype}")
            block, block_bytes = GGML_TYPES[gtype]
            numel = 1
            for d in dims:
                numel *= d
                if numel >= 1 << 63:
                    raise _Invalid("gguf.dims", f"tensor {name!r} dimensions {dims} overflow")
            if dims and dims[0] % block:
                raise _Invalid("gguf.dims", f"tensor {name!r}: row of {dims[0]} is not a multiple of {block}")
            nbytes = numel // block * block_bytes
            if offset % alignment:
                raise _Invalid(
                    "gguf.offset", f"tensor {name!r} offset {offset} is not aligned to {alignment}"
                )
            infos.append((offset, offset + nbytes, name))
        data_start = _align(cur.pos, alignment)
        data_size = cur.end - data_start
        end = 0
        for begin, stop, name in sorted(infos):
            if begin < end:
                raise _Invalid("gguf.overlap", f"tensor {name!r} overlaps the tensor before it")
            if stop > data_size:
                raise _Invalid("gguf.out_of_bounds", f"tensor {name!r} ends past the end of the file")
            end = stop
        if infos:
            trailing = cur.end - _align(data_start + end, alignment)
        else:
            trailing = cur.end - max(cur.pos, min(cur.end, data_start))
        if trailing > 0:
            raise _Invalid(
                "gguf.trailing_data", f"{trailing} bytes after the last tensor that nothing indexes"
            )


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def scan(src: Source, ctx: Ctx, rep: Report) -> str:
    """Validate a GGUF header and its chat templates."""
    try:
        _Parser(src, ctx, rep).parse()
    except EOFError as exc:
        rep.add(Verdict.UNSCANNABLE, "gguf.truncated", f"GGUF header is truncated: {exc}")
    except _Invalid as exc:
        rep.add(Verdict.UNSCANNABLE, exc.code, f"invalid GGUF: {exc}")
    return "gguf"

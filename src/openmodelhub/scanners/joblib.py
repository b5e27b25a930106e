"""joblib files: a pickle stream with raw numpy array bytes written in the middle of it.

`joblib.dump` pickles a `NumpyArrayWrapper` (shape, dtype, order, alignment) for each array and then writes
the array's bytes directly into the stream (object arrays: a complete inline pickle instead). To keep
disassembling after an array the scanner must know its byte length, computed here from the wrapper's pickled
state. Compressed joblib files (zlib, gzip, bz2, xz) are unpacked by `containers`; lz4 is unscannable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CODE = re.compile(r"^[<>|=]?([biufcmMOSUVa?])(\d*)$")
# Item size of type codes without an explicit size (numpy's defaults).
_DEFAULT_SIZE = {"b": 1, "?": 1, "i": 8, "u": 8, "f": 8, "c": 16, "M": 8, "m": 8, "O": 8}


@dataclass(frozen=True)
class ArrayLayout:
    nbytes: int
    is_object: bool
    aligned: bool  # a padding-length byte (and padding) precedes the data


def _get(state: Any, key: str) -> Any:
    items = getattr(state, "items", None)
    if not isinstance(items, list):
        return None
    for k, v in items:
        if k == key:
            return v
    return None


def itemsize(code: str) -> int | None:
    """Bytes per element of a numpy type code such as '<f4', '|b1', '<U5', 'V16'."""
    m = _CODE.match(code)
    if m is None:
        return None
    kind, digits = m.group(1), m.group(2)
    if digits:
        n = int(digits)
        return n * 4 if kind == "U" else n
    return _DEFAULT_SIZE.get(kind)


def array_layout(state: Any) -> ArrayLayout | None:
    """Where the array bytes after a NumpyArrayWrapper end, or None if its state is not understood."""
    shape = _get(state, "shape")
    dtype = _get(state, "dtype")
    args = getattr(dtype, "args", None)
    code = args[0] if isinstance(args, tuple) and args else None
    if not isinstance(shape, tuple) or not isinstance(code, str):
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return None
    m = _CODE.match(code)
    if m is None:
        return None
    aligned = _get(state, "numpy_array_alignment_bytes") is not None
    if m.group(1) == "O":
        return ArrayLayout(0, True, aligned)
    size = itemsize(code)
    if size is None:
        return None
    n = size
    for d in shape:
        n *= d
        if n > 1 << 62:
            return None
    return ArrayLayout(n, False, aligned)

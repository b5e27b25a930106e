"""NumPy `.npy` (and, through `containers`, `.npz`): object arrays are pickles.

The header is a Python dict literal, read with `ast.literal_eval` (which evaluates no code) under a size cap.
An object dtype means the body is a pickle that `np.load(allow_pickle=True)` would run: it is scanned like any
pickle. Any other dtype must account for exactly the bytes that follow (no hidden payload after the data).
"""

from __future__ import annotations

import ast
import struct
from typing import Any

from openmodelhub.scanners import joblib, pickle
from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Verdict

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 16


def _has_object(descr: Any, depth: int = 0) -> bool:
    if depth > 32:
        return True
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_has_object(d, depth + 1) for d in descr)
    return False


def scan(src: Source, ctx: Ctx, rep: Report) -> str:
    head = src.read_at(0, 12)
    if len(head) < 10:
        rep.add(Verdict.UNSCANNABLE, "npy.truncated", "npy header is truncated")
        return "numpy"
    major = head[6]
    if major == 1:
        hlen, start = struct.unpack("<H", head[8:10])[0], 10
    elif major in (2, 3) and len(head) >= 12:
        hlen, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        rep.add(Verdict.UNSCANNABLE, "npy.version", f"unknown npy format version {major}")
        return "numpy"
    if hlen > MAX_HEADER or start + hlen > src.size:
        rep.add(Verdict.UNSCANNABLE, "npy.header", f"npy header of {hlen} bytes is too long or truncated")
        return "numpy"
    text = src.read_at(start, hlen).decode("utf-8" if major == 3 else "latin-1", "replace")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
        header = None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
        rep.add(Verdict.UNSCANNABLE, "npy.header", "npy header is not the dict numpy writes")
        return "numpy"
    descr, shape = header["descr"], header["shape"]
    body = src.slice(start + hlen, src.size - start - hlen)
    if _has_object(descr):
        rep.add(
            Verdict.SUSPICIOUS,
            "npy.object_array",
            "object array: the data is a pickle that np.load only runs with allow_pickle=True",
        )
        sub = Report(rep.limits)
        pickle.scan(body, ctx, sub)
        rep.merge(sub.result("pickle"), f"pickle at byte {start + hlen}")
        return "numpy"
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        rep.add(Verdict.UNSCANNABLE, "npy.header", f"npy shape {shape!r} is not a tuple of sizes")
        return "numpy"
    size = joblib.itemsize(descr) if isinstance(descr, str) else None
    if size is not None:
        n = size
        for d in shape:
            n *= d
        if n != body.size:
            rep.add(
                Verdict.UNSCANNABLE,
                "npy.size_mismatch",
                f"{descr} {shape} needs {n} bytes of data but {body.size} follow the header",
            )
    return "numpy"

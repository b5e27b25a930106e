"""ONNX models: external-data paths and custom operator domains, from the protobuf alone.

A tensor may keep its data in another file (`data_location = EXTERNAL`, `external_data["location"]`); a
location that is absolute or climbs with `..` makes the loader read (or, with symlinks, write) outside the
model folder (CVE-2022-25882, CVE-2024-27318, CVE-2026-27489). Every tensor is visited: graph initializers,
sparse initializers, node attributes, subgraphs of If/Loop/Scan, functions and training graphs. Nodes in a
domain other than the standard ones need a custom operator library (native code) to run.
"""

from __future__ import annotations

import re

from openmodelhub.scanners._protobuf import LEN, VARINT, Blocks, ProtoError, fields, text, top_level
from openmodelhub.scanners._report import Ctx, LimitExceeded, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.containers import bad_path
from openmodelhub.scanners.types import Verdict

STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "ai.onnx.preview",
     "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc"}
)  # fmt: skip
_MODEL_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26})
MAX_DEPTH = 64


def looks_like(src: Source, name: str | None) -> bool:
    """A ModelProto: starts with ir_version (field 1), parses to the end, has a graph (field 7)."""
    head = src.head(1)
    if head != b"\x08" and not (name or "").lower().endswith(".onnx"):
        return False
    top = top_level(src)
    if not top:
        return False
    numbers = {f[0] for f in top}
    return 7 in numbers and 1 in numbers and numbers <= _MODEL_FIELDS and any(f[:2] == (7, LEN) for f in top)


class _Walker:
    def __init__(self, src: Source, ctx: Ctx, rep: Report) -> None:
        self.b = Blocks(src)
        self.ctx = ctx
        self.rep = rep
        self.domains: set[str] = set()
        self.external: set[str] = set()
        self.visited = 0

    def _tick(self, depth: int) -> None:
        self.visited += 1
        if self.visited & 0x3FF == 0:
            self.ctx.check_time()
        if depth > MAX_DEPTH:
            raise LimitExceeded(f"ONNX graphs nested more than {MAX_DEPTH} deep")

    def model(self, start: int, end: int) -> None:
        for num, wire, off, n in fields(self.b, start, end):
            if wire != LEN:
                continue
            if num == 7:
                self.graph(off, off + n, 1)
            elif num == 25:  # FunctionProto: node = 7
                self.nodes_of(off, off + n, 7, 1)
            elif num == 20:  # TrainingInfoProto: initialization = 1, algorithm = 2
                for num2, w2, off2, n2 in fields(self.b, off, off + n):
                    if w2 == LEN and num2 in (1, 2):
                        self.graph(off2, off2 + n2, 1)

    def nodes_of(self, start: int, end: int, node_field: int, depth: int) -> None:
        for num, wire, off, n in fields(self.b, start, end):
            if wire == LEN and num == node_field:
                self.node(off, off + n, depth + 1)

    def graph(self, start: int, end: int, depth: int) -> None:
        self._tick(depth)
        for num, wire, off, n in fields(self.b, start, end):
            if wire != LEN:
                continue
            if num == 1:
                self.node(off, off + n, depth + 1)
            elif num == 5:
                self.tensor(off, off + n)
            elif num == 15:
                self.sparse(off, off + n)

    def node(self, start: int, end: int, depth: int) -> None:
        self._tick(depth)
        op, domain = "", ""
        for num, wire, off, n in fields(self.b, start, end):
            if wire != LEN:
                continue
            if num == 4:
                op = text(self.b, off, n, 1024)
            elif num == 7:
                domain = text(self.b, off, n, 1024)
            elif num == 5:
                self.attribute(off, off + n, depth + 1)
        if domain not in STANDARD_DOMAINS:
            self.domains.add(f"{domain}::{op}")

    def attribute(self, start: int, end: int, depth: int) -> None:
        for num, wire, off, n in fields(self.b, start, end):
            if wire != LEN:
                continue
            if num in (5, 10):
                self.tensor(off, off + n)
            elif num in (6, 11):
                self.graph(off, off + n, depth + 1)
            elif num in (22, 23):
                self.sparse(off, off + n)

    def sparse(self, start: int, end: int) -> None:
        for num, wire, off, n in fields(self.b, start, end):
            if wire == LEN and num in (1, 2):
                self.tensor(off, off + n)

    def tensor(self, start: int, end: int) -> None:
        name = ""
        entries: dict[str, str] = {}
        external = False
        for num, wire, off, n in fields(self.b, start, end):
            if num == 8 and wire == LEN:
                name = text(self.b, off, n, 1024)
            elif num == 14 and wire == VARINT:
                external = off == 1
            elif num == 13 and wire == LEN:
                key = value = ""
                for num2, w2, off2, n2 in fields(self.b, off, off + n):
                    if w2 == LEN and num2 == 1:
                        key = text(self.b, off2, n2, 1024)
                    elif w2 == LEN and num2 == 2:
                        value = text(self.b, off2, n2, 4096)
                entries[key] = value
        if not (external or entries):
            return
        where = f"tensor {name!r}"
        location = entries.get("location")
        if location is None:
            self.rep.add(Verdict.UNSCANNABLE, "onnx.external_data", "external data without a location", where)
            return
        why = bad_path(location) or ("a home-relative path" if location.startswith("~") else None)
        if why:
            self.rep.add(
                Verdict.UNSAFE,
                "onnx.external_data_escape",
                f"external data location {location!r} points outside the model folder ({why})",
                where,
                path=location,
            )
            return
        for key in ("offset", "length"):
            if key in entries and not re.fullmatch(r"\d{1,20}", entries[key]):
                self.rep.add(
                    Verdict.UNSCANNABLE,
                    "onnx.external_data",
                    f"external data {key} {entries[key]!r} is not a non-negative integer",
                    where,
                )
        self.external.add(location)


def scan(src: Source, ctx: Ctx, rep: Report) -> str:
    """Walk an ONNX ModelProto without loading external data or running anything."""
    w = _Walker(src, ctx, rep)
    try:
        w.model(0, src.size)
    except ProtoError as exc:
        rep.add(Verdict.UNSCANNABLE, "onnx.invalid", f"not a valid ONNX protobuf: {exc}")
    if w.domains:
        rep.add(
            Verdict.SUSPICIOUS,
            "onnx.custom_op",
            "uses operators from non-standard domains (they need a native custom-op library): "
            + ", ".join(sorted(w.domains)[:20]),
            ops=sorted(w.domains),
        )
    if w.external:
        rep.add(
            Verdict.SAFE,
            "onnx.external_files",
            "reads tensor data from files next to the model: " + ", ".join(sorted(w.external)[:20]),
            files=sorted(w.external),
        )
    return "onnx"

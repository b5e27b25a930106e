"""TensorFlow SavedModel (`saved_model.pb`): the ops of every graph and function, from the protobuf alone.

Loading a SavedModel and calling it runs its graph; graph ops can read and write files (`ReadFile`,
`WriteFile`) or call back into Python (`PyFunc`, `EagerPyFunc`). Those are what ModelScan flags, and what this
scanner looks for in every meta-graph's GraphDef and function library. The save/restore ops every SavedModel
has (`SaveV2`, `RestoreV2`, …) only touch the model's own checkpoint and are not findings. Keras layer
metadata embedded in the object graph is checked for Lambda layers like `.h5` files are.
"""

from __future__ import annotations

from openmodelhub.scanners import keras
from openmodelhub.scanners._protobuf import LEN, Blocks, ProtoError, fields, text, top_level
from openmodelhub.scanners._report import Ctx, Report
from openmodelhub.scanners._source import Source
from openmodelhub.scanners.types import Verdict

UNSAFE_OPS = {
    "ReadFile": "reads any file the process can read",
    "WriteFile": "writes any file the process can write",
    "PyFunc": "runs a Python function",
    "PyFuncStateless": "runs a Python function",
    "EagerPyFunc": "runs a Python function",
}
SUSPICIOUS_OPS = {
    "MatchingFiles": "lists files on the host",
    "ImmutableConst": "memory-maps a file by path",
    "WholeFileReader": "reads files by path",
    "WholeFileReaderV2": "reads files by path",
    "TextLineReader": "reads files by path",
    "TextLineReaderV2": "reads files by path",
    "FixedLengthRecordReader": "reads files by path",
    "FixedLengthRecordReaderV2": "reads files by path",
    "TFRecordReader": "reads files by path",
    "TFRecordReaderV2": "reads files by path",
    "DebugIdentity": "can send tensors to debug URLs",
    "DebugIdentityV2": "can write tensors to a dump directory",
}
_META_FIELDS = frozenset(range(1, 10))


def looks_like(src: Source, name: str | None) -> bool:
    """SavedModel: field 1 (schema version) and field 2 (MetaGraphDef, whose field 2 is a GraphDef)."""
    if src.head(1) != b"\x08" and not (name or "").endswith(".pb"):
        return False
    top = top_level(src)
    if not top:
        return False
    if {f[0] for f in top} - {1, 2} or not any(f[:2] == (2, LEN) for f in top):
        return False
    blocks = Blocks(src, keep=4)
    _, _, off, n = next(f for f in top if f[:2] == (2, LEN))
    try:
        meta = [(num, wire) for num, wire, _, _ in fields(blocks, off, off + n)]
    except ProtoError:
        return False
    return bool(meta) and {m[0] for m in meta} <= _META_FIELDS and (2, LEN) in meta


def looks_like_graphdef(src: Source, name: str | None) -> bool:
    """A bare (frozen) TF1 GraphDef `*.pb`: nodes (field 1) whose field 2 is an op name, versions (4)."""
    if not (name or "").lower().endswith(".pb") or src.head(1) != b"\x0a":
        return False
    top = top_level(src)
    if not top:
        return False
    return {f[0] for f in top} <= {1, 2, 3, 4} and all(f[1] in (LEN, 0) for f in top)


def scan(src: Source, ctx: Ctx, rep: Report, *, graphdef: bool = False) -> str:
    """Collect every op name and judge the file-system and Python ones."""
    b = Blocks(src)
    ops: dict[str, int] = {}

    def node(off: int, n: int, op_field: int = 2) -> None:
        for num, wire, o, k in fields(b, off, off + n):
            if num == op_field and wire == LEN:
                op = text(b, o, k, 1024)
                ops[op] = ops.get(op, 0) + 1

    def graph(off: int, n: int) -> None:
        for num, wire, o, k in fields(b, off, off + n):
            if wire != LEN:
                continue
            if num == 1:
                node(o, k)
            elif num == 2:  # FunctionDefLibrary: function = 1 → FunctionDef: node_def = 3
                for num2, w2, o2, k2 in fields(b, o, o + k):
                    if num2 == 1 and w2 == LEN:
                        for num3, w3, o3, k3 in fields(b, o2, o2 + k2):
                            if num3 == 3 and w3 == LEN:
                                node(o3, k3)
            if len(ops) & 0xFF == 0:
                ctx.check_time()

    try:
        if graphdef:
            graph(0, src.size)
        for num, wire, off, n in [] if graphdef else fields(b, 0, src.size):
            if num == 2 and wire == LEN:
                for num2, w2, o2, k2 in fields(b, off, off + n):
                    if num2 == 2 and w2 == LEN:
                        graph(o2, k2)
    except ProtoError as exc:
        rep.add(Verdict.UNSCANNABLE, "savedmodel.invalid", f"not a valid SavedModel protobuf: {exc}")
    for op, why in UNSAFE_OPS.items():
        if op in ops:
            rep.add(
                Verdict.UNSAFE, "savedmodel.op", f"graph uses {op} ({ops[op]} times), which {why}", f"op {op}"
            )
    for op, why in SUSPICIOUS_OPS.items():
        if op in ops:
            rep.add(
                Verdict.SUSPICIOUS,
                "savedmodel.op",
                f"graph uses {op} ({ops[op]} times), which {why}",
                f"op {op}",
            )
    keras.scan_embedded_configs(src, ctx, rep)
    return "tf-graphdef" if graphdef else "savedmodel"

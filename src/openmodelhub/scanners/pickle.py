"""Pickle streams, disassembled with `pickletools.genops` and run on a symbolic stack: nothing is ever
unpickled.

The stack simulation exists so that `STACK_GLOBAL` operands are resolved the way the unpickler would resolve
them (through the memo), persistent ids and call arguments can be checked, legacy torch files and joblib
arrays can be walked, and nested pickles (`torch.storage._load_from_bytes`, joblib object arrays) can be
scanned too. Every imported global is classified by `pickle_policy`; a stream that breaks after a dangerous
global is still unsafe (the payload ran before the break), one that breaks before anything is found is
unscannable.
"""

from __future__ import annotations

import pickletools
import re
from dataclasses import dataclass, field
from typing import IO, Any, cast

from openmodelhub.scanners import joblib as joblib_arrays
from openmodelhub.scanners import pickle_policy as policy
from openmodelhub.scanners._report import Ctx, LimitExceeded, Report
from openmodelhub.scanners._source import BLOCK, BytesSource, Source
from openmodelhub.scanners.types import Verdict

# The first pickle of a legacy (non-zip) torch.save file holds this integer.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Byte arguments longer than this are skipped (recorded by offset), never loaded into memory.
BIG_ARG = 1 << 20
MAX_LINE = 16 << 20

# Opcodes a protocol 0/1 pickle can start with (protocol >= 2 starts with PROTO, b"\x80").
PROTO01_FIRST = frozenset(b"(]})cNILFSVKJMXUTG")
_DTYPE_CODE = re.compile(r"^[<>|=]?([biufcmMOSUVa?])(\d*)$")


class _VMError(Exception):
    """The stream is not a pickle the unpickler could finish (it would raise there too)."""


class _Skipped(bytes):
    """Stands in for a long byte argument that was skipped: reports the length pickletools expects."""

    _n: int

    def __new__(cls, n: int) -> _Skipped:
        obj = super().__new__(cls, b"")
        obj._n = n
        return obj

    def __len__(self) -> int:
        return self._n


@dataclass(frozen=True)
class Big:
    """A string or bytes argument left in the file: where it is and how long."""

    offset: int
    length: int


@dataclass(eq=False)
class Global:
    module: str
    name: str
    safety: str


@dataclass(eq=False)
class Call:
    func: Any
    args: Any
    kind: str
    state: Any = None


@dataclass(eq=False)
class PersId:
    pid: Any


@dataclass(eq=False)
class Dict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return None


class Unknown:
    """A value the scanner does not model (buffers, extension registry objects)."""


class _Reader:
    """The file object genops reads: bounded readline, long arguments skipped rather than read."""

    def __init__(self, src: Source, pos: int) -> None:
        self.src = src
        self.pos = pos
        self.skipped: Big | None = None
        self._buf = b""
        self._buf_start = 0

    def tell(self) -> int:
        return self.pos

    def _get(self, n: int) -> bytes:
        rel = self.pos - self._buf_start
        if rel >= 0 and rel + n <= len(self._buf):
            out = self._buf[rel : rel + n]
        elif n > BLOCK:
            out = self.src.read_at(self.pos, n)
        else:
            self._buf_start = self.pos
            self._buf = self.src.read_at(self.pos, BLOCK)
            out = self._buf[:n]
        self.pos += len(out)
        return out

    def read(self, n: int = -1) -> bytes:
        avail = self.src.size - self.pos
        if n < 0:
            n = avail
        if n > BIG_ARG:
            if n > avail:
                return b""  # genops then reports the truncated argument
            self.skipped = Big(self.pos, n)
            self.pos += n
            return _Skipped(n)
        return self._get(min(n, avail))

    def readline(self, limit: int = -1) -> bytes:
        out = bytearray()
        while len(out) < MAX_LINE:
            chunk = self._get(min(4096, MAX_LINE - len(out)))
            if not chunk:
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                out += chunk[: nl + 1]
                self.pos -= len(chunk) - nl - 1
                break
            out += chunk
        return bytes(out)


@dataclass
class PickleRun:
    """One pickle of a stream, from its first opcode to STOP (or to the error that ended it)."""

    start: int
    end: int = 0
    ok: bool = False
    value: Any = None
    error: str = ""
    globals: int = 0
    calls: int = 0  # calls of imported globals: where a payload runs
    dangerous: bool = False
    persids: list[Any] = field(default_factory=list)


def is_pickle_start(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


class PickleScanner:
    """Scans the pickles of one stream into a Report; `mode` says which loader will read them."""

    def __init__(self, src: Source, ctx: Ctx, rep: Report, mode: str = "plain") -> None:
        self.src = src
        self.ctx = ctx
        self.rep = rep
        self.mode = mode  # "plain" | "torch-zip" | "torch-legacy"
        self.opcodes = 0
        self.depth = 0
        self.seen: set[tuple[str, str]] = set()
        self.once: set[str] = set()
        self.joblib = False
        self.persids: list[Any] = []  # every persistent id of the stream (torch storage references)

    # -- findings ------------------------------------------------------------------------------------------
    def _once(self, key: str, verdict: Verdict, code: str, message: str, pos: int, **detail: Any) -> None:
        if key in self.once:
            return
        self.once.add(key)
        self.rep.add(verdict, code, message, f"byte {pos}", **detail)

    def _global(self, module: str, name: str, pos: int, opcode: str, run: PickleRun) -> Global:
        module, name = policy.canonical(module, name)
        safety, reason = policy.classify(module, name)
        run.globals += 1
        self.rep.add_import(module, name, safety)
        if safety == policy.DANGEROUS:
            run.dangerous = True
        if (module, name) not in self.seen:
            self.seen.add((module, name))
            if safety == policy.DANGEROUS:
                self.rep.add(
                    Verdict.UNSAFE,
                    "pickle.dangerous_global",
                    f"imports {module}.{name} ({opcode}): {reason}",
                    f"byte {pos}",
                    module=module,
                    name=name,
                    opcode=opcode,
                )
            elif safety == policy.SUSPICIOUS:
                self.rep.add(
                    Verdict.SUSPICIOUS,
                    "pickle.unknown_global",
                    f"imports {module}.{name} ({opcode}): {reason}",
                    f"byte {pos}",
                    module=module,
                    name=name,
                    opcode=opcode,
                )
        if module == "joblib.numpy_pickle":
            self.joblib = True
        return Global(module, name, safety)

    def _read_global_arg(self, pos: int) -> tuple[str, str]:
        """Module and name lines after a GLOBAL/INST opcode, decoded as the unpickler decodes them."""
        raw = self.src.read_at(pos + 1, 4096)
        parts = raw.split(b"\n", 2)
        if len(parts) < 3:
            raise _VMError("GLOBAL without two lines")
        return parts[0].decode("utf-8", "replace"), parts[1].decode("utf-8", "replace")

    # -- one pickle ----------------------------------------------------------------------------------------
    def run(self, pos: int) -> PickleRun:
        """Simulate one pickle starting at `pos`."""
        self.depth += 1
        if self.depth > 64:
            raise LimitExceeded("pickles nested more than 64 deep")
        try:
            return self._run(pos)
        finally:
            self.depth -= 1

    def _run(self, start: int) -> PickleRun:
        run = PickleRun(start=start)
        reader = _Reader(self.src, start)
        stack: list[Any] = []
        metastack: list[list[Any]] = []
        memo: dict[int, Any] = {}
        limits = self.ctx.limits

        def pop() -> Any:
            if not stack:
                raise _VMError("stack underflow")
            return stack.pop()

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise _VMError("no MARK to pop to")
            items = stack
            stack = metastack.pop()
            return items

        def top() -> Any:
            if not stack:
                raise _VMError("stack underflow")
            return stack[-1]

        try:
            for op, arg, opos in pickletools.genops(cast(IO[bytes], reader)):
                self.opcodes += 1
                if self.opcodes & 0xFFFF == 0:
                    self.ctx.check_time()
                    if self.opcodes > limits.max_pickle_opcodes:
                        raise LimitExceeded(f"more than {limits.max_pickle_opcodes} pickle opcodes")
                pos = int(opos) if opos is not None else reader.pos
                if reader.skipped is not None:
                    arg = reader.skipped
                    reader.skipped = None
                name = op.name
                if name in _LITERALS:
                    stack.append(arg)
                elif name == "NONE":
                    stack.append(None)
                elif name == "NEWTRUE":
                    stack.append(True)
                elif name == "NEWFALSE":
                    stack.append(False)
                elif name == "EMPTY_LIST":
                    stack.append([])
                elif name == "EMPTY_TUPLE":
                    stack.append(())
                elif name in ("EMPTY_DICT",):
                    stack.append(Dict())
                elif name == "EMPTY_SET":
                    stack.append([])
                elif name == "MARK":
                    if len(metastack) >= limits.max_pickle_nesting:
                        raise LimitExceeded(f"more than {limits.max_pickle_nesting} nested MARKs")
                    metastack.append(stack)
                    stack = []
                elif name == "POP":
                    if stack:
                        stack.pop()
                    else:
                        pop_mark()
                elif name == "POP_MARK":
                    pop_mark()
                elif name == "DUP":
                    stack.append(top())
                elif name in ("TUPLE", "LIST", "FROZENSET"):
                    items = pop_mark()
                    stack.append(tuple(items) if name != "LIST" else items)
                elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                    n = int(name[-1])
                    if len(stack) < n:
                        raise _VMError("stack underflow")
                    items = stack[-n:]
                    del stack[-n:]
                    stack.append(tuple(items))
                elif name == "DICT":
                    items = pop_mark()
                    stack.append(Dict(list(zip(items[::2], items[1::2], strict=False))))
                elif name == "APPEND":
                    v = pop()
                    t = top()
                    if isinstance(t, list):
                        t.append(v)
                elif name in ("APPENDS", "ADDITEMS"):
                    items = pop_mark()
                    t = top()
                    if isinstance(t, list):
                        t.extend(items)
                elif name == "SETITEM":
                    v = pop()
                    k = pop()
                    t = top()
                    if isinstance(t, Dict):
                        t.items.append((k, v))
                elif name == "SETITEMS":
                    items = pop_mark()
                    t = top()
                    if isinstance(t, Dict):
                        t.items.extend(zip(items[::2], items[1::2], strict=False))
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    if arg not in memo:
                        raise _VMError(f"memo key {arg} missing")
                    stack.append(memo[arg])
                elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    idx = arg if isinstance(arg, int) else -1
                    if idx > 4 * self.opcodes + 1024:
                        self._once(
                            "memo",
                            Verdict.UNSCANNABLE,
                            "pickle.memo_index",
                            f"memo index {arg} is far beyond anything a pickler writes (an allocation attack "
                            "on some unpicklers)",
                            pos,
                        )
                    memo[idx] = top()
                elif name == "MEMOIZE":
                    memo[len(memo)] = top()
                elif name in ("EXT1", "EXT2", "EXT4"):
                    run.dangerous = True
                    self.rep.add_import("copyreg", f"extension code {arg}", policy.DANGEROUS)
                    self.rep.add(
                        Verdict.UNSAFE,
                        "pickle.extension_opcode",
                        f"{name} loads a global from the copyreg extension registry (code {arg}), which the "
                        "scanner cannot see",
                        f"byte {pos}",
                    )
                    stack.append(Unknown())
                elif name == "GLOBAL":
                    module, gname = self._read_global_arg(pos)
                    stack.append(self._global(module, gname, pos, name, run))
                elif name == "STACK_GLOBAL":
                    gname_v = pop()
                    module_v = pop()
                    if isinstance(gname_v, str) and isinstance(module_v, str):
                        stack.append(self._global(module_v, gname_v, pos, name, run))
                    else:
                        run.dangerous = True
                        run.globals += 1
                        self.rep.add_import("<unresolved>", "<unresolved>", policy.DANGEROUS)
                        self.rep.add(
                            Verdict.UNSAFE,
                            "pickle.unresolved_global",
                            "STACK_GLOBAL takes its module or name from something other than a string "
                            "literal: the import cannot be checked",
                            f"byte {pos}",
                        )
                        stack.append(Global("<unresolved>", "<unresolved>", policy.DANGEROUS))
                elif name == "INST":
                    module, gname = self._read_global_arg(pos)
                    g = self._global(module, gname, pos, name, run)
                    args = pop_mark()
                    run.calls += 1
                    stack.append(self._call(g, tuple(args), "inst", pos))
                elif name == "OBJ":
                    items = pop_mark()
                    if not items:
                        raise _VMError("OBJ without a class")
                    run.calls += 1
                    stack.append(self._call(items[0], tuple(items[1:]), "obj", pos))
                elif name == "REDUCE":
                    args = pop()
                    func = pop()
                    run.calls += 1
                    stack.append(self._call(func, args, "reduce", pos))
                elif name == "NEWOBJ":
                    args = pop()
                    cls = pop()
                    run.calls += 1
                    stack.append(self._call(cls, args, "newobj", pos))
                elif name == "NEWOBJ_EX":
                    pop()
                    args = pop()
                    cls = pop()
                    run.calls += 1
                    stack.append(self._call(cls, args, "newobj", pos))
                elif name == "BUILD":
                    state = pop()
                    obj = top()
                    if isinstance(obj, Call):
                        obj.state = state
                        if isinstance(obj.func, Global) and (obj.func.module, obj.func.name) == (
                            "joblib.numpy_pickle",
                            "NumpyArrayWrapper",
                        ):
                            reader.pos = self._skip_joblib_array(state, reader.pos, pos)
                elif name == "PERSID":
                    stack.append(self._persid(arg, pos, run))
                elif name == "BINPERSID":
                    stack.append(self._persid(pop(), pos, run))
                elif name == "NEXT_BUFFER":
                    stack.append(Unknown())
                elif name in ("READONLY_BUFFER", "PROTO", "FRAME"):
                    pass
                elif name == "STOP":
                    run.value = pop()
                    run.ok = True
                    break
                else:  # pragma: no cover - pickletools knows no other opcodes
                    raise _VMError(f"opcode {name} not modelled")
        except (LimitExceeded, RecursionError):
            raise
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, _VMError) else str(exc)
            if not run.error.strip():
                run.error = type(exc).__name__
        if not run.ok and not run.error:
            run.error = "pickle exhausted before seeing STOP"
        run.end = reader.pos
        return run

    # -- semantics on top of the opcodes -------------------------------------------------------------------
    def _call(self, func: Any, args: Any, kind: str, pos: int) -> Call:
        call = Call(func, args, kind)
        if not isinstance(func, Global):
            self._once(
                "indirect-call",
                Verdict.SUSPICIOUS,
                "pickle.indirect_call",
                "calls an object the pickle built itself rather than an imported global (gadget chains look "
                "like this; weights files never do)",
                pos,
            )
            return call
        key = (func.module, func.name)
        if key == ("numpy", "dtype"):
            code = args[0] if isinstance(args, tuple) and args else None
            m = _DTYPE_CODE.match(code) if isinstance(code, str) else None
            if m is None:
                self._once(
                    "dtype-literal",
                    Verdict.SUSPICIOUS,
                    "pickle.numpy_dtype",
                    "numpy.dtype is called with something other than a literal type code",
                    pos,
                )
            elif m.group(1) == "O":
                self._once(
                    "dtype-object",
                    Verdict.SUSPICIOUS,
                    "pickle.numpy_object_dtype",
                    "holds a numpy array of dtype object (arbitrary pickled Python objects; numpy only loads "
                    "these with allow_pickle=True)",
                    pos,
                )
        elif func.name == "_reconstruct" and func.module.endswith("multiarray"):
            first = args[0] if isinstance(args, tuple) and args else None
            if not (isinstance(first, Global) and (first.module, first.name) == ("numpy", "ndarray")):
                self._once(
                    "reconstruct",
                    Verdict.SUSPICIOUS,
                    "pickle.numpy_subclass",
                    "numpy _reconstruct builds something other than a plain numpy.ndarray",
                    pos,
                )
        elif key == ("torch.storage", "_load_from_bytes"):
            inner = args[0] if isinstance(args, tuple) and args else None
            self._nested_bytes(inner, pos)
        return call

    def _nested_bytes(self, inner: Any, pos: int) -> None:
        """torch.storage._load_from_bytes runs torch.load(weights_only=False) on its argument: scan it."""
        if isinstance(inner, Big):
            sub: Source = self.src.slice(inner.offset, inner.length)
        elif isinstance(inner, bytes | bytearray):
            sub = BytesSource(bytes(inner))
        else:
            self.rep.add(
                Verdict.UNSAFE,
                "pickle.nested_unresolved",
                "torch.storage._load_from_bytes is given something other than literal bytes",
                f"byte {pos}",
            )
            return
        self.rep.merge(self.ctx.scan_member(sub, None), f"nested pickle at byte {pos}")

    def _persid(self, pid: Any, pos: int, run: PickleRun) -> PersId:
        run.persids.append(pid)
        self.persids.append(pid)
        if self.mode == "plain":
            self._once(
                "persid",
                Verdict.SUSPICIOUS,
                "pickle.persistent_id",
                "uses persistent ids outside a PyTorch file: what they load is up to the loading program",
                pos,
            )
        elif not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], Global)
            and isinstance(pid[2], str)
        ):
            self._once(
                "persid-shape",
                Verdict.SUSPICIOUS,
                "pickle.persistent_id",
                "a persistent id is not a ('storage', type, key, location, size) tuple as torch writes them",
                pos,
            )
        return PersId(pid)

    def _skip_joblib_array(self, state: Any, pos: int, opos: int) -> int:
        """Past the raw array joblib writes right after a NumpyArrayWrapper; object arrays are pickles."""
        info = joblib_arrays.array_layout(state)
        if info is None:
            raise _VMError("a joblib NumpyArrayWrapper whose array size cannot be determined")
        if info.is_object:
            self._once(
                "dtype-object",
                Verdict.SUSPICIOUS,
                "pickle.numpy_object_dtype",
                "holds a numpy array of dtype object (arbitrary pickled Python objects)",
                opos,
            )
            inner = self.run(pos)
            self._judge_run(inner)
            if not inner.ok:
                raise _VMError(f"the object array pickled inside the joblib stream is broken: {inner.error}")
            return inner.end
        if info.aligned:
            pad = self.src.read_at(pos, 1)
            if not pad:
                raise _VMError("joblib array padding missing")
            pos += 1 + pad[0]
        if pos + info.nbytes > self.src.size:
            raise _VMError("a joblib array runs past the end of the file")
        return pos + info.nbytes

    def _judge_run(self, run: PickleRun) -> None:
        if run.ok:
            return
        if run.dangerous:
            self.rep.add(
                Verdict.UNSAFE,
                "pickle.broken_after_payload",
                f"the stream breaks after importing a dangerous global ({run.error}); the payload runs "
                "before the break",
                f"byte {run.end}",
            )
        else:
            self.rep.add(
                Verdict.UNSCANNABLE,
                "pickle.malformed",
                f"not a complete pickle: {run.error}",
                f"byte {run.end}",
            )

    # -- whole streams -------------------------------------------------------------------------------------
    def scan(self, start: int = 0) -> str:
        """Every pickle of the stream; a legacy torch file is recognised by its first pickle."""
        size = self.src.size
        if size - start > self.ctx.limits.max_pickle_bytes:
            raise LimitExceeded(f"pickle stream larger than {self.ctx.limits.max_pickle_bytes} bytes")
        first = self.run(start)
        self._judge_run(first)
        if first.ok and self.mode == "plain" and _is_int(first.value, LEGACY_MAGIC):
            return self._legacy(first.end)
        pos = first.end
        count = 1
        while first.ok and pos < size:
            self.ctx.check_time()
            if count >= 10_000:
                raise LimitExceeded("more than 10000 pickles in one stream")
            nxt = self.run(pos)
            count += 1
            if not nxt.ok:
                if nxt.globals:
                    self._judge_run(nxt)
                else:
                    self.rep.add(
                        Verdict.UNSCANNABLE,
                        "pickle.trailing_data",
                        f"{size - pos} bytes after the last pickle that no loader explains",
                        f"byte {pos}",
                    )
                break
            pos = nxt.end
        return "joblib" if self.joblib else "pickle"

    def _legacy(self, pos: int) -> str:
        """torch.save(_use_new_zipfile_serialization=False): 5 pickles, then raw storages."""
        self.mode = "torch-legacy"
        runs: list[PickleRun] = []
        for _ in range(4):
            r = self.run(pos)
            self._judge_run(r)
            if not r.ok:
                return "pytorch-legacy"
            runs.append(r)
            pos = r.end
        proto, sys_info, _obj, keys = (r.value for r in runs)
        if not _is_int(proto, 1001) or not isinstance(sys_info, Dict):
            self.rep.add(
                Verdict.SUSPICIOUS,
                "torch.legacy_header",
                "starts like a legacy PyTorch file but its protocol/sys-info pickles are not what torch "
                "writes",
                f"byte {runs[0].start}",
            )
        little = sys_info.get("little_endian") if isinstance(sys_info, Dict) else True
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            self.rep.add(
                Verdict.UNSCANNABLE,
                "torch.legacy_keys",
                "the storage key list of a legacy PyTorch file is not a list of strings",
                f"byte {runs[3].start}",
            )
            return "pytorch-legacy"
        self._walk_legacy_storages(pos, keys, runs[2].persids, little is not False)
        return "pytorch-legacy"

    def _walk_legacy_storages(self, pos: int, keys: list[str], persids: list[Any], little: bool) -> None:
        sizes: dict[str, int] = {}
        for pid in persids:
            if (
                isinstance(pid, tuple)
                and len(pid) >= 3
                and isinstance(pid[1], Global)
                and isinstance(pid[2], str)
            ):
                stype = pid[1].name.removesuffix("Storage")
                if pid[1].module == "torch" and stype in policy.STORAGE_ELEMENT_SIZE:
                    sizes[pid[2]] = policy.STORAGE_ELEMENT_SIZE[stype]
        for key in keys:
            esize = sizes.get(key)
            if esize is None:
                self.rep.add(
                    Verdict.UNSCANNABLE,
                    "torch.legacy_storage",
                    f"storage {key!r} has no known element size: where its bytes end cannot be checked",
                    f"byte {pos}",
                )
                return
            raw = self.src.read_at(pos, 8)
            if len(raw) < 8:
                break
            numel = int.from_bytes(raw, "little" if little else "big", signed=True)
            end = pos + 8 + numel * esize
            if numel < 0 or end > self.src.size:
                self.rep.add(
                    Verdict.UNSCANNABLE,
                    "torch.legacy_storage",
                    f"storage {key!r} claims {numel} elements, past the end of the file",
                    f"byte {pos}",
                )
                return
            pos = end
        if pos != self.src.size:
            self.rep.add(
                Verdict.UNSCANNABLE,
                "pickle.trailing_data",
                f"{self.src.size - pos} bytes after the storages of a legacy PyTorch file",
                f"byte {pos}",
            )


_LITERALS = frozenset(
    [
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "FLOAT",
        "BINFLOAT",
    ]
)


def _is_int(v: Any, n: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v == n


def scan(src: Source, ctx: Ctx, rep: Report, mode: str = "plain") -> str:
    """Scan a source known to be a pickle stream; returns the format."""
    return PickleScanner(src, ctx, rep, mode).scan()


def scan_tentative(src: Source, ctx: Ctx, rep: Report, *, text: bool) -> str | None:
    """Try a source that merely starts like a protocol 0/1 pickle; keep the result only if it is one.

    A text file whose first letter happens to be an opcode is not a pickle; one that imports a dangerous
    global, or calls any imported global, is (whatever follows). Binary data that imports any global is
    taken as a pickle.
    """
    trial = Report(rep.limits)
    scanner = PickleScanner(src, ctx, trial, "plain")
    first = scanner.run(0)
    if first.globals == 0:
        return None
    if text and not (first.ok or first.dangerous or first.calls):
        return None
    if first.ok and _is_int(first.value, LEGACY_MAGIC):
        fmt = scanner._legacy(first.end)
    else:
        trial = Report(rep.limits)
        fmt = PickleScanner(src, ctx, trial, "plain").scan()
    rep.merge(trial.result(fmt), None)
    return fmt

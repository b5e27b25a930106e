"""Python source (`modeling_*.py` and friends that `trust_remote_code=True` imports).

Code in a repo is legitimate, so this never blocks on its own: it lists, with line numbers, what a reviewer
must look at before trusting the repo — imports and calls that run commands, evaluate strings, load native
code or reach the network. Only `exec`/`eval`/`compile` of decoded data (`base64`, `zlib`, `marshal`, hex) —
the shape of obfuscated payloads — is unsafe. The source is parsed with `ast`, never imported.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from openmodelhub.scanners._report import Report
from openmodelhub.scanners.types import Verdict

RISKY_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "subprocess",
        "socket",
        "ctypes",
        "cffi",
        "importlib",
        "urllib",
        "urllib2",
        "urllib3",
        "requests",
        "http",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "paramiko",
        "pty",
        "pickle",
        "marshal",
        "shelve",
        "dill",
        "cloudpickle",
        "runpy",
        "webbrowser",
        "multiprocessing",
        "builtins",
        "code",
        "codeop",
        "pdb",
        "sys",
    ]
)
# Calls worth showing even when the module import looked harmless (aliases resolved first).
RISKY_CALLS = frozenset(
    [
        "eval",
        "exec",
        "compile",
        "__import__",
        "breakpoint",
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.__import__",
        "pickle.load",
        "pickle.loads",
        "marshal.loads",
        "torch.load",
        "joblib.load",
        "numpy.load",
        "dill.load",
        "dill.loads",
    ]
)
_CODE_RUNNERS = frozenset({"eval", "exec", "compile", "builtins.eval", "builtins.exec", "builtins.compile"})
_DECODERS = frozenset(
    [
        "b64decode",
        "b32decode",
        "b85decode",
        "a85decode",
        "decodebytes",
        "decompress",
        "loads",
        "fromhex",
        "unhexlify",
        "urlsafe_b64decode",
        "decode",
    ]
)


def _harmless(call: str) -> bool:
    """os helpers every modeling file uses (paths, environment) are not worth a line in the report."""
    return call.startswith(("os.path.", "os.environ")) or call in _HARMLESS_OS


_HARMLESS_OS = frozenset(
    ["os.getenv", "os.getcwd", "os.cpu_count", "os.fspath", "os.getpid", "os.sched_getaffinity"]
)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.imports: dict[str, list[int]] = defaultdict(list)
        self.calls: dict[str, list[int]] = defaultdict(list)
        self.obfuscated: list[int] = []

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.aliases[top] = top
            if a.name.split(".")[0] in RISKY_MODULES:
                self.imports[a.name].append(node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
        if node.level == 0 and mod.split(".")[0] in RISKY_MODULES:
            self.imports[mod].append(node.lineno)

    def _resolve(self, name: str) -> str:
        head, _, rest = name.partition(".")
        full = self.aliases.get(head, head)
        return f"{full}.{rest}" if rest else full

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name is not None:
            full = self._resolve(name)
            top = full.split(".")[0]
            risky_module = top in RISKY_MODULES and top not in ("sys", "builtins")
            if full in RISKY_CALLS or (risky_module and not _harmless(full)):
                self.calls[full].append(node.lineno)
            if full in _CODE_RUNNERS and node.args and self._decodes(node.args[0]):
                self.obfuscated.append(node.lineno)
        self.generic_visit(node)

    def _decodes(self, arg: ast.AST) -> bool:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call):
                name = _dotted(sub.func) or ""
                if name.split(".")[-1] in _DECODERS or name in ("bytes", "bytearray", "chr"):
                    return True
        return False


def scan_source(data: bytes, rep: Report, where: str = "") -> bool:
    """Findings for one piece of Python source; False if it does not parse."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        rep.add(Verdict.UNSCANNABLE, "python.syntax", f"Python that does not parse: {exc}", where)
        return False
    v = _Visitor()
    try:
        v.visit(tree)
    except RecursionError:
        rep.add(Verdict.UNSCANNABLE, "python.too_deep", "Python source nested too deeply to review", where)
        return False
    loc = where + ": " if where else ""
    for mod, lines in sorted(v.imports.items()):
        rep.add(
            Verdict.SUSPICIOUS,
            "python.import",
            f"imports {mod} (line {', '.join(map(str, lines[:10]))})",
            f"{loc}line {lines[0]}",
            module=mod,
            lines=lines,
        )
    for call, lines in sorted(v.calls.items()):
        rep.add(
            Verdict.SUSPICIOUS,
            "python.call",
            f"calls {call} (line {', '.join(map(str, lines[:10]))})",
            f"{loc}line {lines[0]}",
            call=call,
            lines=lines,
        )
    for line in v.obfuscated:
        rep.add(
            Verdict.UNSAFE,
            "python.obfuscated_exec",
            "runs code decoded at run time (exec/eval of decoded data)",
            f"{loc}line {line}",
        )
    rep.add(
        Verdict.SAFE,
        "python.code",
        "Python code: runs when a user loads the repo with trust_remote_code=True",
        where,
    )
    return True


def scan(data: bytes, rep: Report, max_bytes: int) -> str:
    if len(data) > max_bytes:
        rep.add(Verdict.UNSCANNABLE, "python.too_large", f"Python file larger than {max_bytes} bytes")
        return "python"
    scan_source(data, rep)
    return "python"

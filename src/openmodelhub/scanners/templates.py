"""Jinja chat templates (GGUF `tokenizer.chat_template`, `tokenizer_config.json`, `chat_template.jinja`).

Runtimes render these with Jinja; outside Jinja's sandbox a template that walks Python internals
(`''.__class__.__mro__[1].__subclasses__()`, `cycler.__init__.__globals__`) runs code (CVE-2024-34359,
CVE-2026-5760). Ordinary chat templates only loop over messages and print strings, so the checks are static
and narrow: only the code inside `{{ }}` / `{% %}` is examined, identifiers and string literals separately, so
that "system" as a role or "tools." in prose never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from openmodelhub.scanners._report import Report
from openmodelhub.scanners.types import Verdict

_OPEN = re.compile(r"\{\{|\{%")
_BUILT_NAME = re.compile(r"\[\s*(''|\"\")?\s*~|~\s*''\s*\]|\|\s*attr\b")
_FORMAT = re.compile(r"\|\s*format\b")
_STRING = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""", re.DOTALL)
_DUNDER = re.compile(r"__\w+__")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Reaching any of these is escaping the template into Python.
_INTERNALS = frozenset(
    [
        "__class__",
        "__mro__",
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__init__",
        "__base__",
        "__bases__",
        "__dict__",
        "__getattribute__",
        "__import__",
        "__code__",
        "__func__",
        "__self__",
        "__module__",
        "__loader__",
        "__spec__",
        "__reduce__",
        "__reduce_ex__",
        "__getitem__",
        "__call__",
        "__closure__",
        "__new__",
        "__subclasshook__",
        "__init_subclass__",
    ]
)
# Names with no business in a chat template that only an escape would use.
_ESCAPE_NAMES = frozenset(
    [
        "popen",
        "subprocess",
        "eval",
        "exec",
        "__import__",
        "import_module",
        "getattr",
        "setattr",
        "globals",
        "builtins",
        "_TemplateReference__context",
        "os",
    ]
)
# Jinja globals/features that ordinary chat templates do not use and SSTI payloads do.
_ODD_NAMES = frozenset(
    ["self", "cycler", "joiner", "lipsum", "config", "request", "url_for", "get_flashed_messages", "attr"]
)
_STATEMENTS = re.compile(r"^\s*-?\s*(import|from|include|extends)\b")


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([0-7]{1,3})")


def _unescape(s: str) -> str:
    """Decode numeric escapes of a string literal: `'\\x5f\\x5fclass\\x5f\\x5f'` is `'__class__'`."""

    def one(m: re.Match[str]) -> str:
        digits, base = (m.group(4), 8) if m.group(4) else (m.group(1) or m.group(2) or m.group(3), 16)
        code = int(digits, base)
        return chr(code) if code < 0x110000 else ""

    return _ESCAPE.sub(one, s)


def _blocks(template: str) -> Iterator[tuple[bool, str]]:
    """(is a statement, code) of each `{{ }}` / `{% %}` block, in one linear pass (an unclosed block runs to
    the end: Jinja would reject the template, but the scanner still looks at it)."""
    pos = 0
    while True:
        m = _OPEN.search(template, pos)
        if m is None:
            return
        statement = m.group() == "{%"
        end = template.find("%}" if statement else "}}", m.end())
        if end < 0:
            yield statement, template[m.end() :]
            return
        yield statement, template[m.end() : end]
        pos = end + 2


def check(template: str, rep: Report, where: str, max_bytes: int) -> None:
    """Add findings for one template: unsafe for interpreter internals, suspicious for odd features."""
    if len(template) > max_bytes:
        rep.add(
            Verdict.SUSPICIOUS,
            "template.too_long",
            f"chat template of {len(template)} characters is too long to review (limit {max_bytes})",
            where,
        )
        template = template[:max_bytes]
    unsafe: set[str] = set()
    odd: set[str] = set()
    for is_statement, code in _blocks(template):
        strings = [_unescape(a if a is not None else b) for a, b in _STRING.findall(code)]
        bare = _STRING.sub(" '' ", code)
        if is_statement:
            st = _STATEMENTS.match(bare)
            if st:
                odd.add(f"{{% {st.group(1)} %}}")
        os_attr = re.search(r"\bos\s*\.", bare) is not None
        for ident in _IDENT.findall(bare):
            if ident in _INTERNALS or _DUNDER.fullmatch(ident):
                unsafe.add(ident)
            elif ident == "os" and not os_attr:
                continue
            elif ident in _ESCAPE_NAMES:
                unsafe.add(ident)
            elif ident in _ODD_NAMES:
                odd.add(ident)
        for s in strings:
            for d in _DUNDER.findall(s):
                unsafe.add(d)
            if s in _ESCAPE_NAMES - {"os"}:
                unsafe.add(s)
        if _BUILT_NAME.search(bare) or ("%c" in code and _FORMAT.search(bare)):
            odd.add("attribute name built at run time")
        if "\\x5f" in code or "\\u005f" in code or "\\137" in code:
            odd.add("escaped underscores")
    if unsafe:
        rep.add(
            Verdict.UNSAFE,
            "template.ssti",
            "chat template reaches Python internals (server-side template injection): "
            + ", ".join(sorted(unsafe)),
            where,
            names=sorted(unsafe),
        )
    if odd:
        rep.add(
            Verdict.SUSPICIOUS,
            "template.unusual",
            "chat template uses features ordinary chat templates do not: " + ", ".join(sorted(odd)),
            where,
            names=sorted(odd),
        )

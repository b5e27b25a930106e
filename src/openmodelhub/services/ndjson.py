"""A streaming reader for the commit NDJSON body.

`json.loads` needs a whole line in memory, and one line of a commit body carries a whole file as base64.
This parser reads the body through a fixed-size buffer; any string longer than `spill_at` bytes is written to
a temporary file and handed over as a `SpilledString`, so memory stays bounded whatever the file size.
"""

import base64
import binascii
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

MAX_DEPTH = 32
MAX_KEY_BYTES = 1 << 16


class NdjsonError(ValueError):
    pass


@dataclass
class SpilledString:
    """A long JSON string value kept on disk as UTF-8."""

    path: Path
    nbytes: int

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_WS = b" \t\r\n"
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f]")


class _Parser:
    def __init__(self, f: BinaryIO, spill_dir: Path, spill_at: int, bufsize: int = 1 << 20) -> None:
        self.f = f
        self.spill_dir = spill_dir
        self.spill_at = spill_at
        self.bufsize = bufsize
        self.buf = b""
        self.pos = 0
        self.spilled: list[SpilledString] = []

    def _fill(self) -> bool:
        if self.pos < len(self.buf):
            return True
        self.buf = self.f.read(self.bufsize)
        self.pos = 0
        return bool(self.buf)

    def _peek(self) -> int:
        return self.buf[self.pos] if self._fill() else -1

    def _skip_ws(self) -> int:
        while True:
            c = self._peek()
            if c == -1 or c not in _WS:
                return c
            self.pos += 1

    def _expect(self, literal: bytes) -> None:
        for ch in literal:
            if self._peek() != ch:
                raise NdjsonError(f"invalid JSON: expected {literal.decode()!r}")
            self.pos += 1

    def values(self) -> Iterator[Any]:
        while self._skip_ws() != -1:
            yield self._value(0)

    def _value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NdjsonError("invalid JSON: nested too deeply")
        c = self._skip_ws()
        if c == ord("{"):
            self.pos += 1
            obj: dict[str, Any] = {}
            if self._skip_ws() == ord("}"):
                self.pos += 1
                return obj
            while True:
                if self._skip_ws() != ord('"'):
                    raise NdjsonError("invalid JSON: expected a string key")
                key = self._string(spill=False)
                assert isinstance(key, str)
                if self._skip_ws() != ord(":"):
                    raise NdjsonError("invalid JSON: expected ':'")
                self.pos += 1
                obj[key] = self._value(depth + 1)
                c = self._skip_ws()
                self.pos += 1
                if c == ord("}"):
                    return obj
                if c != ord(","):
                    raise NdjsonError("invalid JSON: expected ',' or '}'")
        if c == ord("["):
            self.pos += 1
            arr: list[Any] = []
            if self._skip_ws() == ord("]"):
                self.pos += 1
                return arr
            while True:
                arr.append(self._value(depth + 1))
                c = self._skip_ws()
                self.pos += 1
                if c == ord("]"):
                    return arr
                if c != ord(","):
                    raise NdjsonError("invalid JSON: expected ',' or ']'")
        if c == ord('"'):
            return self._string(spill=True)
        if c == ord("t"):
            self._expect(b"true")
            return True
        if c == ord("f"):
            self._expect(b"false")
            return False
        if c == ord("n"):
            self._expect(b"null")
            return None
        if c == ord("-") or ord("0") <= c <= ord("9"):
            return self._number()
        if c == -1:
            raise NdjsonError("invalid JSON: unexpected end of body")
        raise NdjsonError(f"invalid JSON: unexpected character {chr(c)!r}")

    def _number(self) -> int | float:
        out = bytearray()
        while True:
            c = self._peek()
            if c == -1 or c not in b"+-0123456789.eE":
                break
            out.append(c)
            self.pos += 1
            if len(out) > 64:
                raise NdjsonError("invalid JSON: number too long")
        text = out.decode()
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError as exc:
            raise NdjsonError(f"invalid JSON number {text!r}") from exc

    def _string(self, spill: bool) -> str | SpilledString:
        self.pos += 1  # opening quote
        chunks: list[bytes] = []
        held = 0
        sink: IO[bytes] | None = None
        spilled: SpilledString | None = None
        try:
            while True:
                if not self._fill():
                    raise NdjsonError("invalid JSON: unterminated string")
                buf, start = self.buf, self.pos
                q = buf.find(b'"', start)
                b = buf.find(b"\\", start)
                stop = min(x for x in (q, b, len(buf)) if x != -1)
                if stop > start:
                    piece = buf[start:stop]
                    if _CONTROL_BYTES.search(piece):
                        raise NdjsonError("invalid JSON: control character in string")
                    chunks.append(piece)
                    held += len(piece)
                self.pos = stop
                closed = stop == q
                if closed:
                    self.pos += 1
                elif stop < len(buf):
                    chunks.append(self._escape())
                    held += len(chunks[-1])
                # Checked before leaving on the closing quote too: a long string that happens to sit
                # wholly inside one read buffer must still spill (and a long key must still be refused).
                if not spill and held > MAX_KEY_BYTES:
                    raise NdjsonError("invalid JSON: object key too long")
                if held > self.spill_at and spill:
                    if sink is None:
                        tmp = tempfile.NamedTemporaryFile(dir=self.spill_dir, suffix=".str", delete=False)  # noqa: SIM115
                        sink = tmp
                        spilled = SpilledString(Path(tmp.name), 0)
                        self.spilled.append(spilled)
                    assert sink is not None
                    for chunk in chunks:
                        sink.write(chunk)
                    assert spilled is not None
                    spilled.nbytes += held
                    chunks, held = [], 0
                if closed:
                    break
            if sink is not None:
                assert spilled is not None
                for chunk in chunks:
                    sink.write(chunk)
                spilled.nbytes += held
                sink.close()
                sink = None
                return spilled
            try:
                return b"".join(chunks).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NdjsonError("invalid JSON: string is not valid UTF-8") from exc
        finally:
            if sink is not None:
                sink.close()

    def _escape(self) -> bytes:
        self.pos += 1  # backslash
        if not self._fill():
            raise NdjsonError("invalid JSON: unterminated escape")
        c = self.buf[self.pos]
        self.pos += 1
        if c in _ESCAPES:
            return _ESCAPES[c]
        if c != ord("u"):
            raise NdjsonError(f"invalid JSON escape \\{chr(c)}")
        code = self._hex4()
        if 0xD800 <= code < 0xDC00:
            self._expect(b"\\u")
            low = self._hex4()
            if not 0xDC00 <= low < 0xE000:
                raise NdjsonError("invalid JSON: unpaired surrogate")
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        elif 0xDC00 <= code < 0xE000:
            raise NdjsonError("invalid JSON: unpaired surrogate")
        return chr(code).encode("utf-8")

    def _hex4(self) -> int:
        digits = bytearray()
        for _ in range(4):
            if not self._fill():
                raise NdjsonError("invalid JSON: unterminated \\u escape")
            digits.append(self.buf[self.pos])
            self.pos += 1
        try:
            return int(digits.decode(), 16)
        except ValueError as exc:
            raise NdjsonError("invalid JSON: bad \\u escape") from exc


class NdjsonReader:
    """Iterates the JSON values of a body; call `close` to drop any spilled strings still on disk."""

    def __init__(self, f: BinaryIO, spill_dir: Path, spill_at: int = 1 << 16) -> None:
        self._parser = _Parser(f, spill_dir, spill_at)

    def __iter__(self) -> Iterator[Any]:
        return self._parser.values()

    def close(self) -> None:
        for s in self._parser.spilled:
            s.discard()


def base64_decoded_size(value: str | SpilledString) -> int:
    """Size of the decoded bytes, from the encoded length and padding (no decoding needed)."""
    if isinstance(value, str):
        n = len(value)
        tail = value[-2:]
    else:
        n = value.nbytes
        with value.open() as f:
            f.seek(max(0, n - 2))
            tail = f.read().decode("ascii", "replace")
    if n % 4:
        raise NdjsonError("invalid base64 content: length is not a multiple of 4")
    return n // 4 * 3 - tail.count("=")


def iter_base64(value: str | SpilledString, chunk_chars: int = 1 << 20) -> Iterator[bytes]:
    """Decode base64 content in bounded chunks."""
    try:
        if isinstance(value, str):
            for i in range(0, len(value), chunk_chars):
                yield base64.b64decode(value[i : i + chunk_chars], validate=True)
            return
        with value.open() as f:
            while True:
                block = f.read(chunk_chars)
                if not block:
                    return
                yield base64.b64decode(block, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NdjsonError(f"invalid base64 content: {exc}") from exc

"""The streaming NDJSON reader of commit bodies.

It must agree with `json.loads` on everything a client sends, whatever the read sizes, while keeping memory
bounded: long strings go to disk as `SpilledString`s.
"""

import base64
import hashlib
import io
import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from openmodelhub.services.ndjson import (
    MAX_DEPTH,
    MAX_KEY_BYTES,
    NdjsonError,
    NdjsonReader,
    SpilledString,
    _Parser,
    base64_decoded_size,
    iter_base64,
)


class Trickle(io.RawIOBase):
    """A file object that returns 1-7 bytes per read, so buffer boundaries fall everywhere."""

    def __init__(self, data: bytes, seed: int = 0) -> None:
        self._data = data
        self._pos = 0
        self._rng = random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._rng.randint(1, 7)
        if size is not None and size >= 0:
            n = min(n, size)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def _values() -> list[Any]:
    """Values covering every JSON feature a commit body may use."""
    rng = random.Random(1234)
    values: list[Any] = [
        {"key": "header", "value": {"summary": "Upload", "description": "", "parentCommit": None}},
        {"key": "file", "value": {"path": "a/b.txt", "content": "aGVsbG8=", "encoding": "base64"}},
        {"key": "deletedFile", "value": {"path": "old.txt"}},
        {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "a" * 64, "size": 10**12}},
        {},
        [],
        [[], {}, [[]], {"a": {}}],
        {"nested": {"deeper": {"list": [1, [2, [3, [4, {"five": 5}]]]]}}},
        "",
        "plain",
        'quotes " and backslashes \\ and slash /',
        "escapes \b \f \n \r \t",
        "controls " + "".join(chr(i) for i in range(32)) + "\x7f",
        "unicodé — ☃ 日本語",
        "astral 😀 𝄞 🧪 and a pair at the end 😀",
        "😀",
        "\u2028\u2029\ufeff\uffff",
        0,
        -0,
        1,
        -1,
        2**53,
        -(2**63),
        10**40,
        0.5,
        -1.25,
        1e-7,
        1.5e300,
        -2.5e-300,
        3.141592653589793,
        True,
        False,
        None,
        [True, False, None, 0, "", {}],
        {"": "empty key", "ключ": "значение", "😀": ["x"]},
    ]
    for _ in range(200):
        n = rng.randint(0, 40)
        text = "".join(
            chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)]))
            for _ in range(n)
        )
        values.append({"s": text, "n": rng.randint(-(10**12), 10**12), "f": rng.uniform(-1e6, 1e6)})
    return values


def _body(values: list[Any], ensure_ascii: bool, separators: tuple[str, str] | None = None) -> bytes:
    return b"".join(
        json.dumps(v, ensure_ascii=ensure_ascii, separators=separators).encode() + b"\n" for v in values
    )


def _parse(
    data: bytes | io.RawIOBase, spill_dir: Path, spill_at: int = 1 << 30, bufsize: int = 1 << 20
) -> list[Any]:
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    return list(_Parser(f, spill_dir, spill_at, bufsize=bufsize).values())  # type: ignore[arg-type]


def _materialize(value: Any) -> Any:
    """The value with every SpilledString read back into a str."""
    if isinstance(value, SpilledString):
        with value.open() as f:
            data = f.read()
        assert len(data) == value.nbytes
        return data.decode("utf-8")
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize(v) for v in value]
    return value


def _json_loads_all(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


# -- agreement with json.loads -------------------------------------------------------------------------------


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["ascii-escapes", "raw-utf8"])
@pytest.mark.parametrize("separators", [None, (",", ":")], ids=["spaced", "compact"])
def test_reader_parses_what_json_loads_parses(
    tmp_path: Path, ensure_ascii: bool, separators: tuple[str, str] | None
) -> None:
    values = _values()
    body = _body(values, ensure_ascii, separators)
    expected = _json_loads_all(body)
    assert expected == values
    reader = NdjsonReader(io.BytesIO(body), tmp_path)
    try:
        assert list(reader) == expected
    finally:
        reader.close()


@pytest.mark.parametrize("bufsize", [1, 2, 3, 5, 7])
def test_tiny_buffers_split_strings_and_escapes_anywhere(tmp_path: Path, bufsize: int) -> None:
    values = _values()
    for ensure_ascii in (True, False):
        body = _body(values, ensure_ascii)
        assert _parse(body, tmp_path, bufsize=bufsize) == values


@pytest.mark.parametrize("seed", range(5))
def test_short_reads_from_the_file_object(tmp_path: Path, seed: int) -> None:
    values = _values()
    body = _body(values, ensure_ascii=seed % 2 == 0)
    assert list(NdjsonReader(Trickle(body, seed), tmp_path)) == values  # type: ignore[arg-type]


def test_every_split_point_of_a_surrogate_pair_escape(tmp_path: Path) -> None:
    line = b'{"k": "x\\ud83d\\ude00y\\n\\u00e9"}'

    class TwoReads(io.RawIOBase):
        """Returns the line in two reads, split at `cut`."""

        def __init__(self, cut: int) -> None:
            self._parts = iter([line[:cut], line[cut:]])

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return next(self._parts, b"")

    for cut in range(1, len(line)):
        assert list(NdjsonReader(TwoReads(cut), tmp_path)) == [{"k": "x😀y\né"}], cut  # type: ignore[arg-type]


def test_whitespace_between_and_around_values(tmp_path: Path) -> None:
    body = b'\r\n  {"a" :\t[ 1 , 2 ] }\r\n\r\n\n[]  \n\t"x"\n'
    assert _parse(body, tmp_path) == [{"a": [1, 2]}, [], "x"]


def test_empty_body_has_no_values(tmp_path: Path) -> None:
    assert _parse(b"", tmp_path) == []
    assert _parse(b" \n\r\n\t ", tmp_path) == []


def test_escaped_slash_and_uppercase_hex(tmp_path: Path) -> None:
    assert _parse(b'"a\\/b \\u00E9 \\uD83D\\uDE00"', tmp_path) == ["a/b é 😀"]


def test_number_types_follow_json_loads(tmp_path: Path) -> None:
    body = b"[0, -0, 7, -12, 1.0, 1e3, 1E3, 1e+3, 2.5E-3, 12345678901234567890]"
    got = _parse(body, tmp_path)[0]
    want = json.loads(body)
    assert got == want
    assert [type(x) for x in got] == [type(x) for x in want]


# -- spilling ------------------------------------------------------------------------------------------------


def test_strings_longer_than_spill_at_are_spilled(tmp_path: Path) -> None:
    spill_at = 16
    exact = "x" * spill_at
    longer = "y" * (spill_at + 1)
    escaped = 'line\n"quoted"\t\\ ' * 5
    unicode = "é😀日" * 10  # 9 bytes of UTF-8 per repetition
    body = _body(
        [{"exact": exact, "longer": longer, "list": [escaped, unicode, "short"]}, unicode], ensure_ascii=True
    )
    reader = NdjsonReader(io.BytesIO(body), tmp_path, spill_at=spill_at)
    first, second = list(reader)

    assert first["exact"] == exact  # exactly `spill_at` bytes stays in memory
    spilled = [first["longer"], first["list"][0], first["list"][1], second]
    for value, text in zip(spilled, [longer, escaped, unicode, unicode], strict=True):
        assert isinstance(value, SpilledString)
        assert value.path.parent == tmp_path
        assert value.path.read_bytes() == text.encode("utf-8")
        assert value.nbytes == len(text.encode("utf-8"))
    assert first["list"][2] == "short"

    reader.close()
    for value in spilled:
        assert not value.path.exists()


@pytest.mark.parametrize("bufsize", [1, 3, 7, 64])
def test_spilling_with_tiny_buffers_matches_json_loads(tmp_path: Path, bufsize: int) -> None:
    values = _values()
    body = _body(values, ensure_ascii=False)
    got = _parse(body, tmp_path, spill_at=10, bufsize=bufsize)
    assert any(isinstance(v, SpilledString) for line in got if isinstance(line, dict) for v in line.values())
    assert _materialize(got) == values


def test_long_keys_stay_strings(tmp_path: Path) -> None:
    key = "k" * 1000
    got = _parse(json.dumps({key: "v" * 1000}).encode(), tmp_path, spill_at=100)
    [(k, v)] = got[0].items()
    assert k == key
    assert isinstance(v, SpilledString)


def test_keys_over_the_limit_are_refused(tmp_path: Path) -> None:
    body = json.dumps({"k" * (MAX_KEY_BYTES + 1): 1}).encode()
    with pytest.raises(NdjsonError):
        _parse(body, tmp_path, spill_at=100)


# -- malformed input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'"unterminated',
        b'{"a": "unterminated}\n',
        b'{"a": "x\\',
        b'"bad escape \\x"',
        b'"bad escape \\a"',
        b'"short unicode \\u12"',
        b'"bad hex \\u12G4"',
        b'"lone high surrogate \\ud83d"',
        b'"high surrogate then letter \\ud83dx"',
        b'"high surrogate then non-surrogate \\ud83d\\u0041"',
        b'"lone low surrogate \\ude00"',
        b'"raw control \x01 char"',
        b'"raw newline \n in string"',
        b'"raw tab \t in string"',
        b'"invalid utf-8 \xff\xfe"',
        b'"truncated utf-8 \xe2\x82"',
        b'{"a": 1} x',
        b'{"a": 1}}',
        b"[1, 2]]",
        b'{"a": 1}\n,',
        b"[1, 2",
        b"[1 2]",
        b"[1,]",
        b'{"a": 1,}',
        b'{"a" 1}',
        b'{"a": }',
        b"{a: 1}",
        b"{'a': 1}",
        b'{"a": 1',
        b"{",
        b"]",
        b"tru",
        b"nul",
        b"fals",
        b"True",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"-",
        b"1.2.3",
        b"1e",
        b"--1",
        b"1" * 100,
        b"\xef\xbb\xbf{}",  # a BOM is not JSON either
        b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2),
        b'{"a":' * 40 + b"1" + b"}" * 40,
    ],
)
def test_malformed_input_raises_ndjson_error(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(NdjsonError):
        _parse(body, tmp_path)
    with pytest.raises(NdjsonError):
        _parse(body, tmp_path, bufsize=1)


def test_ndjson_error_is_a_value_error() -> None:
    assert issubclass(NdjsonError, ValueError)


def test_nesting_up_to_the_limit_is_fine(tmp_path: Path) -> None:
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert _parse(deep, tmp_path) == [json.loads(deep)]
    with pytest.raises(NdjsonError, match="deep"):
        _parse(b"[" + deep + b"]", tmp_path)


def test_a_spilled_string_in_a_malformed_line_does_not_hide_the_error(tmp_path: Path) -> None:
    body = b'{"key": "' + b"A" * 1000 + b'" oops}'
    reader = NdjsonReader(io.BytesIO(body), tmp_path, spill_at=10)
    with pytest.raises(NdjsonError):
        list(reader)
    reader.close()
    assert list(tmp_path.iterdir()) == []


# -- base64 --------------------------------------------------------------------------------------------------


def _spilled(tmp_path: Path, text: str) -> SpilledString:
    [value] = _parse(json.dumps(text).encode(), tmp_path, spill_at=0)
    assert isinstance(value, SpilledString)
    return value


def _payloads() -> list[bytes]:
    rng = random.Random(7)
    return [
        b"",
        b"a",
        b"ab",
        b"abc",
        b"abcd",
        b"\x00",
        b"\xff\xfe\xfd",
        *(rng.randbytes(n) for n in (5, 100, 3001, 300_000)),
    ]


@pytest.mark.parametrize("chunk_chars", [4, 8, 4096, 1 << 20])
def test_base64_of_str_matches_b64decode(chunk_chars: int) -> None:
    for payload in _payloads():
        text = base64.b64encode(payload).decode()
        assert base64_decoded_size(text) == len(payload) == len(base64.b64decode(text))
        assert b"".join(iter_base64(text, chunk_chars=chunk_chars)) == base64.b64decode(text)


@pytest.mark.parametrize("chunk_chars", [4, 8, 4096, 1 << 20])
def test_base64_of_spilled_string_matches_b64decode(tmp_path: Path, chunk_chars: int) -> None:
    for payload in _payloads():
        text = base64.b64encode(payload).decode()
        if not text:
            continue  # an empty string never spills
        value = _spilled(tmp_path, text)
        assert value.nbytes == len(text)
        assert base64_decoded_size(value) == len(payload)
        assert b"".join(iter_base64(value, chunk_chars=chunk_chars)) == payload
        value.discard()


@pytest.mark.parametrize(
    "text",
    ["abc", "a", "QQ=", "QUJDRA=", "ab!d", "ab d", "QQ=A", "Q===", "=QQQ", "YWJj\nZGVm", "é123", "QUJD-_-_"],
)
def test_invalid_base64_raises_ndjson_error(tmp_path: Path, text: str) -> None:
    def decode(value: str | SpilledString) -> bytes:
        base64_decoded_size(value)
        return b"".join(iter_base64(value))

    with pytest.raises(NdjsonError):
        decode(text)
    with pytest.raises(NdjsonError):
        decode(_spilled(tmp_path, text))


def test_padding_inside_base64_is_refused_within_a_chunk() -> None:
    text = "QQ==QUJD"
    with pytest.raises(ValueError):
        base64.b64decode(text, validate=True)
    with pytest.raises(NdjsonError):
        b"".join(iter_base64(text))


def test_padding_on_a_chunk_boundary_cannot_pass_as_the_announced_size() -> None:
    # Each chunk is decoded on its own, so padding that ends a chunk in the middle of the string is not seen
    # as an error there; what keeps such content out is that it decodes to fewer bytes than
    # base64_decoded_size announced (and the blob writer's size check refuses that).
    text = "QQ==" + "QUJD" * 3
    try:
        decoded = b"".join(iter_base64(text, chunk_chars=4))
    except NdjsonError:
        return
    assert len(decoded) != base64_decoded_size(text)


# -- bounded memory ------------------------------------------------------------------------------------------


def _write_big_body(path: Path, block: bytes, repeats: int) -> None:
    encoded = base64.b64encode(block)  # len(block) is a multiple of 3: blocks concatenate cleanly
    with open(path, "wb") as f:
        f.write(b'{"key": "header", "value": {"summary": "big"}}\n')
        f.write(b'{"key": "file", "value": {"path": "big.bin", "encoding": "base64", "content": "')
        for _ in range(repeats):
            f.write(encoded)
        f.write(b'"}}\n')


def test_a_30mb_base64_line_is_parsed_in_bounded_memory(tmp_path: Path) -> None:
    block = random.Random(3).randbytes(3 * (1 << 18))  # 768 KiB -> 1 MiB of base64
    repeats = 30
    body = tmp_path / "body.ndjson"
    _write_big_body(body, block, repeats)
    expected = hashlib.sha256(block * repeats).hexdigest()
    del block
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()

    tracemalloc.start()
    try:
        with open(body, "rb") as f:
            reader = NdjsonReader(f, spill_dir)
            header, op = list(reader)
            content = op["value"]["content"]
            assert isinstance(content, SpilledString)
            size = base64_decoded_size(content)
            digest = hashlib.sha256()
            for chunk in iter_base64(content):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert header == {"key": "header", "value": {"summary": "big"}}
    assert content.nbytes == repeats * (1 << 20)
    assert size == repeats * 3 * (1 << 18)
    assert digest.hexdigest() == expected
    assert peak < 8 * (1 << 20), f"peak traced memory {peak / (1 << 20):.1f} MiB for a 30 MiB string"
    reader.close()
    assert list(spill_dir.iterdir()) == []

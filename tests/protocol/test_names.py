"""Names, digests and timestamps of the protocol layer.

The name rules are the hub's first line of defence (a name that passes is used as a git tree entry, a
database key and part of a URL), so both sides of every rule are tested. Digests are checked against the
real `git` binary, timestamps against the parser `huggingface_hub` uses.
"""

import hashlib
import re
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest
from huggingface_hub.utils import parse_datetime

from openmodelhub.protocol.digests import (
    HEX40,
    HEX64,
    StreamingDigest,
    git_blob_sha1,
    lfs_pointer,
    parse_lfs_pointer,
)
from openmodelhub.protocol.names import (
    MAX_PATH_BYTES,
    NameError_,
    RepoId,
    RepoType,
    normalize_folder_path,
    validate_file_path,
    validate_name_part,
    validate_ref_name,
)
from openmodelhub.protocol.timefmt import iso_z

# -- file paths ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "config.json",
        "a/b/c/d.txt",
        ".gitattributes",
        ".gitignore",
        ".github/workflows/ci.yml",
        "onnx/model.onnx",
        "modèle/poids.bin",
        "日本語/ファイル.txt",
        "emoji-😀.txt",
        "with space/and more spaces.txt",
        " leading-space",
        "trailing-space ",
        "c++/a+b.txt",
        "issue#1/notes#2.md",
        "percent%20name",
        "...",
        "..a",
        "a..",
        "a/...b/c",
        ".hidden/.file",
        "git/.gitkeep",
        "x.git",
        "folder.git/file",
        "-dash",
        "~tilde",
        "a:b",
        "question?.txt",
        "star*.txt",
        "quote\"s'.txt",
    ],
)
def test_validate_file_path_accepts(path: str) -> None:
    assert validate_file_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "..",
        ".",
        "../etc/passwd",
        "a/../b",
        "a/..",
        "a/./b",
        "./a",
        "a/.",
        "/absolute",
        "/",
        "a\\b",
        "..\\evil",
        "C:\\windows",
        "a\x00b",
        "\x00",
        "a\x7fb",
        "tab\there",
        "new\nline",
        "carriage\rreturn",
        "esc\x1b[0m",
        "\x1f",
        ".git",
        ".git/config",
        "a/.git/config",
        "a/.GIT/hooks/pre-commit",
        ".Git",
        "sub/.gIt",
        "a//b",
        "//a",
        "trailing/",
        "a/b/",
        "lone\udc80surrogate",
    ],
)
def test_validate_file_path_rejects(path: str) -> None:
    with pytest.raises(NameError_):
        validate_file_path(path)


def test_name_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_file_path("../x")


def test_file_path_length_limit_is_in_utf8_bytes() -> None:
    assert MAX_PATH_BYTES == 4096
    exact = "a/" * 2047 + "bc"
    assert len(exact.encode()) == 4096
    assert validate_file_path(exact) == exact
    with pytest.raises(NameError_):
        validate_file_path(exact + "d")

    # 'é' is two bytes in UTF-8: 2048 of them are exactly 4096 bytes, though only 2048 characters
    two_byte = "é" * 2048
    assert validate_file_path(two_byte) == two_byte
    with pytest.raises(NameError_):
        validate_file_path(two_byte + "x")
    # 4 bytes each: 1025 characters are already too long
    with pytest.raises(NameError_):
        validate_file_path("😀" * 1025)
    assert validate_file_path("😀" * 1024) == "😀" * 1024


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ""), ("/", ""), ("a", "a"), ("a/", "a"), ("a/b//", "a/b"), ("sub dir/", "sub dir")],
)
def test_normalize_folder_path(raw: str, expected: str) -> None:
    assert normalize_folder_path(raw) == expected


@pytest.mark.parametrize("raw", ["../", "a/../", ".git/", "/a/", "a//b/"])
def test_normalize_folder_path_rejects(raw: str) -> None:
    with pytest.raises(NameError_):
        normalize_folder_path(raw)


# -- repo ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    ["a", "A", "0", "bert-base-uncased", "all-MiniLM-L6-v2", "my_model", "v1.0", "a.b-c_d", "x" * 96, "_x_"],
)
def test_validate_name_part_accepts(part: str) -> None:
    assert validate_name_part(part) == part


@pytest.mark.parametrize(
    "part",
    [
        "",
        "x" * 97,
        "-a",
        "a-",
        ".a",
        "a.",
        "a--b",
        "a..b",
        "model.git",
        "a b",
        "a/b",
        "a\\b",
        "é",
        "a@b",
        "a+b",
        "a#b",
        "a\x00",
        "a\n",
        ".",
        "..",
        "-",
    ],
)
def test_validate_name_part_rejects(part: str) -> None:
    with pytest.raises(NameError_):
        validate_name_part(part)


def test_validate_name_part_message_names_what_was_checked() -> None:
    with pytest.raises(NameError_, match="namespace"):
        validate_name_part("-bad", "namespace")


def test_repo_id_parse_round_trips() -> None:
    rid = RepoId.parse("sentence-transformers/all-MiniLM-L6-v2")
    assert rid == RepoId("sentence-transformers", "all-MiniLM-L6-v2")
    assert rid.namespace == "sentence-transformers"
    assert rid.name == "all-MiniLM-L6-v2"
    assert str(rid) == "sentence-transformers/all-MiniLM-L6-v2"
    assert RepoId.parse(str(rid)) == rid
    assert hash(rid) == hash(RepoId("sentence-transformers", "all-MiniLM-L6-v2"))


@pytest.mark.parametrize(
    "repo_id",
    [
        "",
        "gpt2",
        "a/b/c",
        "/b",
        "a/",
        "a//b",
        "-a/b",
        "a/b-",
        "a/b.git",
        "a--x/b",
        "a/b..c",
        "a /b",
        "a/b c",
        "../b",
        "a/..",
        "x" * 97 + "/b",
        "a/b\n",
        "a\n/b",
    ],
)
def test_repo_id_parse_rejects(repo_id: str) -> None:
    with pytest.raises(NameError_):
        RepoId.parse(repo_id)


def test_repo_type_urls() -> None:
    assert RepoType.MODEL.plural == "models"
    assert RepoType.MODEL.url_prefix == ""
    assert RepoType.DATASET.url_prefix == "datasets/"
    assert RepoType.SPACE.url_prefix == "spaces/"
    assert RepoType("dataset") is RepoType.DATASET


# -- ref names -----------------------------------------------------------------------------------------------


def _git_check_ref_format(name: str) -> bool:
    """What git itself says about a branch name (`--branch` rejects names that start with '-')."""
    result = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True, check=False
    )
    return result.returncode == 0


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "dev",
        "feature/x",
        "feature/deep/nested-branch",
        "v1.0",
        "v1.0.0-rc.1",
        "release_2024",
        "a-b",
        "A",
        "x" * 255,
        "with#hash",
        "pr+1",
        "unicodé",
        "a@b",
    ],
)
def test_validate_ref_name_accepts(name: str) -> None:
    assert validate_ref_name(name) == name
    assert _git_check_ref_format(name), "git itself must accept what the hub accepts"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 256,
        "a..b",
        "..",
        "x.lock",
        "feature/x.lock",
        "-x",
        "refs/heads/x",
        "refs/tags/v1",
        "has space",
        "tab\there",
        "new\nline",
        "nul\x00",
        "del\x7f",
        "a~1",
        "a^2",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        "a@{1}",
        "@",
        "/lead",
        "trail/",
        "trail.",
        "a//b",
        ".hidden",
        "feature/.hidden",
    ],
)
def test_validate_ref_name_rejects(name: str) -> None:
    with pytest.raises(NameError_):
        validate_ref_name(name)


@pytest.mark.parametrize(
    "name",
    ["a..b", "x.lock", "has space", "a~1", "a^2", "a:b", "a?", "a*", "a[b", "a@{1}", "a//b", ".hidden"],
)
def test_rejected_ref_names_are_also_rejected_by_git(name: str) -> None:
    # Only '//' is something git would normalise rather than reject; the hub is stricter there on purpose.
    if name != "a//b":
        assert not _git_check_ref_format(name)


def test_validate_ref_name_length_is_in_bytes() -> None:
    assert validate_ref_name("é" * 127) == "é" * 127  # 254 bytes
    with pytest.raises(NameError_):
        validate_ref_name("é" * 128)  # 256 bytes


def test_validate_ref_name_message_names_what_was_checked() -> None:
    with pytest.raises(NameError_, match="tag"):
        validate_ref_name("a..b", "tag")


# -- digests -------------------------------------------------------------------------------------------------


def _git_hash_object(data: bytes) -> str:
    out = subprocess.run(
        ["git", "hash-object", "--stdin", "--no-filters"], input=data, capture_output=True, check=True
    )
    return out.stdout.decode().strip()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"a",
        b"hello world\n",
        b"\x00\x01\x02\xff" * 100,
        "unicodé 😀\r\n".encode(),
        bytes(range(256)) * 257,
        lfs_pointer("a" * 64, 12345),
    ],
    ids=["empty", "one-byte", "text", "binary", "unicode-crlf", "64k", "lfs-pointer"],
)
def test_git_blob_sha1_equals_git_hash_object(data: bytes) -> None:
    oid = git_blob_sha1(data)
    assert HEX40.match(oid)
    assert oid == _git_hash_object(data)


def test_git_blob_sha1_of_empty_is_the_well_known_id() -> None:
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_streaming_digest_matches_one_shot_digests() -> None:
    data = bytes(range(256)) * 1000
    d = StreamingDigest(len(data))
    for i in range(0, len(data), 7777):
        d.update(data[i : i + 7777])
    assert d.size == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.git_sha1 == git_blob_sha1(data) == _git_hash_object(data)


@pytest.mark.parametrize("size", [0, 1, 134, 10**12])
def test_lfs_pointer_round_trip(size: int) -> None:
    sha = hashlib.sha256(str(size).encode()).hexdigest()
    pointer = lfs_pointer(sha, size)
    assert pointer == (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
    )
    assert parse_lfs_pointer(pointer) == (sha, size)


def test_lfs_pointer_is_what_git_lfs_writes() -> None:
    # The pointer git-lfs writes for the 0-byte file is well known; it pins the exact byte layout.
    empty = hashlib.sha256(b"").hexdigest()
    assert lfs_pointer(empty, 0) == (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        b"size 0\n"
    )


@pytest.mark.parametrize(("pattern", "n"), [(HEX40, 40), (HEX64, 64)], ids=["HEX40", "HEX64"])
def test_hex_patterns_match_whole_lowercase_digests_only(pattern: re.Pattern[str], n: int) -> None:
    assert pattern.match(("0123456789abcdef" * 4)[:n])
    # a trailing newline must not slip through (`$` would let it)
    for bad in [
        "a" * (n - 1),
        "a" * (n + 1),
        "A" * n,
        "g" * n,
        "a" * n + "\n",
        "\n" + "a" * n,
        " " + "a" * n,
    ]:
        assert not pattern.match(bad), bad


_SHA = "b" * 64


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"version https://git-lfs.github.com/spec/v1",
        b"version https://git-lfs.github.com/spec/v1\n",
        b"version https://git-lfs.github.com/spec/v2\noid sha256:" + _SHA.encode() + b"\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + _SHA.encode() + b"\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"b" * 63 + b"\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"B" * 64 + b"\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"g" * 64 + b"\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\noid md5:" + _SHA.encode() + b"\nsize 1\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + _SHA.encode() + b"\nsize -1\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + _SHA.encode() + b"\nsize 1.5\n",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + _SHA.encode() + b"\nsize \n",
        lfs_pointer(_SHA, 1) + b"x" * 2000,  # too big to be a pointer
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    ],
)
def test_parse_lfs_pointer_rejects_non_pointers(data: bytes) -> None:
    assert parse_lfs_pointer(data) is None


# -- timestamps ----------------------------------------------------------------------------------------------

_TZ_PLUS2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
        (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000Z"),  # naive means UTC
        (datetime(2024, 1, 2, 5, 4, 5, 999999, tzinfo=_TZ_PLUS2), "2024-01-02T03:04:05.999Z"),
        (
            datetime(1999, 12, 31, 23, 59, 59, 1000, tzinfo=timezone(timedelta(hours=-5))),
            "2000-01-01T04:59:59.001Z",
        ),
        (0, "1970-01-01T00:00:00.000Z"),
        (1700000000, "2023-11-14T22:13:20.000Z"),
        (1700000000.25, "2023-11-14T22:13:20.250Z"),
    ],
)
def test_iso_z(value: datetime | int | float, expected: str) -> None:
    assert iso_z(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime.now(UTC),
        datetime.now(),
        datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=_TZ_PLUS2),
        datetime(2030, 6, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        0,
        1.5,
        1_999_999_999.999,
    ],
)
def test_iso_z_ends_in_z_and_parses_back_with_huggingface_hub(value: datetime | int | float) -> None:
    text = iso_z(value)
    assert text.endswith("Z")
    assert "+" not in text
    parsed = parse_datetime(text)
    if isinstance(value, datetime):
        want = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    else:
        want = datetime.fromtimestamp(value, UTC)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)
    assert abs(parsed - want) < timedelta(milliseconds=1)
    assert parsed.microsecond % 1000 == 0

"""Bad input on the write and read paths: every refusal is a typed 4xx, and a refused commit changes nothing.

Each commit case checks the status, `X-Error-Code`, the JSON `error` body, that the branch head did not move
and that the file the commit tried to write is not there afterwards (404 EntryNotFound).
"""

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Accounts
from tests.support.rawhub import (
    RawHub,
    assert_error,
    assert_not_5xx,
    auth,
    delete_line,
    file_line,
    header_line,
    lfs_line,
    ndjson,
)
from tests.support.server import HubServer

BAD_PATHS = {
    "dotdot": "../escape.txt",
    "dotdot-inner": "sub/../escape.txt",
    "dot": "./x.txt",
    "absolute": "/etc/x",
    "backslash": "sub\\x.txt",
    "control": "a\x01b",
    "newline": "a\nb",
    "nul": "a\x00b",
    "git-config": ".git/config",
    "git-upper": ".GIT/config",
    "sub-git": "sub/.git/x",
    "empty-component": "a//b",
    "trailing-slash": "a/",
    "empty": "",
    "too-long": "x" * 4097,
    "too-long-multibyte": "é" * 2049,
}


@dataclass
class Repo:
    rh: RawHub
    initial: str  # the repo's first commit, now stale
    tag_target: str


@pytest.fixture(scope="module")
def repo(hub: HubServer, accounts: Accounts) -> Iterator[Repo]:
    rh = RawHub(hub.url, f"alice/bad-input-{os.getpid()}", accounts.alice)
    rh.create_repo()
    initial = rh.head()
    head = rh.commit_ok(
        [
            header_line("base"),
            file_line("existing.txt", b"existing\n"),
            file_line("dir/file.txt", b"in a dir\n"),
        ]
    )
    r = rh.client.post(rh.api("tag", "main"), json={"tag": "v1"}, headers=auth(accounts.alice))
    assert r.status_code == 200, r.text
    yield Repo(rh, initial, head)
    rh.close()


def assert_absent(rh: RawHub, path: str, head: str) -> None:
    r = rh.get_file(path)
    assert_error(r, 404, "EntryNotFound")
    assert r.headers.get("x-repo-commit") == head


def refused(
    repo: Repo, body: bytes, status: int, code: str, absent: list[str], revision: str = "main", **kw: Any
) -> dict[str, Any]:
    """Send a commit that must be refused, and check that nothing changed."""
    rh = repo.rh
    before = rh.head()
    err = assert_error(rh.commit(body, revision, **kw), status, code)
    assert rh.head() == before, "a refused commit moved the branch"
    for path in absent:
        assert_absent(rh, path, before)
    assert rh.get_file("existing.txt").content == b"existing\n"
    return err


# -- paths ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
@pytest.mark.parametrize("kind", ["file", "lfsFile", "deletedFile"])
def test_invalid_path_is_refused(repo: Repo, path: str, kind: str) -> None:
    oid = hashlib.sha256(b"whatever").hexdigest()
    line = {
        "file": file_line(path, b"data"),
        "lfsFile": lfs_line(path, oid, 8),
        "deletedFile": delete_line(path),
    }[kind]
    refused(repo, ndjson([header_line(), line]), 400, "InvalidPath", absent=[path])


@pytest.mark.parametrize("path", ["../x", "/abs", "a//b", ".git", "sub/.git/"])
def test_invalid_folder_delete_is_refused(repo: Repo, path: str) -> None:
    refused(repo, ndjson([header_line(), delete_line(path, folder=True)]), 400, "InvalidPath", absent=[])


@pytest.mark.parametrize("value", [None, 42, ["a"], {"p": "a"}], ids=["null", "int", "list", "object"])
def test_non_string_path_is_refused(repo: Repo, value: Any) -> None:
    line = file_line("x", b"data")
    line["value"]["path"] = value
    refused(repo, ndjson([header_line(), line]), 400, "InvalidPath", absent=["x"])


def test_longest_allowed_path_is_accepted(hub: HubServer, accounts: Accounts, repo_name: str) -> None:
    """The limit is 4096 bytes: the boundary itself is fine (git trees have no component limit)."""
    rh = RawHub(hub.url, f"alice/{repo_name}", accounts.alice)
    rh.create_repo()
    base = "/".join(["d" * 200] * 20)
    path = base + "/" + "f" * (4096 - len(base) - 1)
    assert len(path.encode()) == 4096
    rh.commit_ok([header_line(), file_line(path, b"deep")])
    assert rh.get_file(path).content == b"deep"
    rh.close()


# -- LFS references ------------------------------------------------------------------------------------------
def test_lfs_object_never_uploaded(repo: Repo) -> None:
    oid = hashlib.sha256(os.urandom(32)).hexdigest()
    body = ndjson([header_line(), lfs_line("weights.bin", oid, 32)])
    err = refused(repo, body, 400, "LfsObjectNotFound", absent=["weights.bin"])
    assert oid in err["error"]


def test_lfs_object_never_uploaded_without_size(repo: Repo) -> None:
    oid = hashlib.sha256(os.urandom(32)).hexdigest()
    body = ndjson([header_line(), lfs_line("copy.bin", oid, None)])
    refused(repo, body, 400, "LfsObjectNotFound", absent=["copy.bin"])


@pytest.mark.parametrize("delta", [1, -1])
def test_lfs_object_with_wrong_size(repo: Repo, delta: int) -> None:
    data = os.urandom(4096)
    oid = repo.rh.lfs_upload(data)
    body = ndjson([header_line(), lfs_line("weights.bin", oid, len(data) + delta)])
    refused(repo, body, 400, "SizeMismatch", absent=["weights.bin"])


@pytest.mark.parametrize(
    "value",
    [
        {"path": "w.bin", "algo": "sha256", "oid": "abc", "size": 3},
        {"path": "w.bin", "algo": "md5", "oid": "0" * 64, "size": 3},
        {"path": "w.bin", "algo": "sha256", "oid": 12, "size": 3},
        {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": -1},
        {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": "3"},
    ],
    ids=["short-oid", "md5", "int-oid", "negative-size", "string-size"],
)
def test_malformed_lfs_line(repo: Repo, value: dict[str, Any]) -> None:
    refused(repo, ndjson([header_line(), {"key": "lfsFile", "value": value}]), 400, "BadRequest", ["w.bin"])


def test_lfs_put_with_wrong_content_is_refused(repo: Repo) -> None:
    """The signed PUT checks size and digest; nothing becomes visible, and a later commit cannot use it."""
    rh = repo.rh
    data = os.urandom(2048)
    oid = hashlib.sha256(data).hexdigest()
    (obj,) = rh.lfs_batch([(oid, len(data))])["objects"]
    href = obj["actions"]["upload"]["href"]
    other = os.urandom(2048)
    wrong = ((other, "ChecksumMismatch"), (data[:-1], "SizeMismatch"), (data + b"x", "SizeMismatch"))
    if href.startswith(rh.url):  # the hub's own signed URL: it checks the bytes as they arrive
        for body, code in wrong:
            assert_error(rh.client.put(href, content=body), 400, code)
        assert_error(rh.client.put(href + "0", content=data), 403, "Forbidden")
    else:  # a presigned URL into the bucket (S3, OMH_S3_DOWNLOAD=redirect): the store takes any bytes,
        # the verify step checks them and refuses (and drops) what does not match
        verify = obj["actions"]["verify"]["href"]
        for body, code in wrong:
            assert rh.client.put(href, content=body).status_code == 200
            r = rh.client.post(verify, json={"oid": oid, "size": len(data)}, headers=auth(rh.token))
            assert_error(r, 400, code)
    refused(
        repo, ndjson([header_line(), lfs_line("w.bin", oid, len(data))]), 400, "LfsObjectNotFound", ["w.bin"]
    )
    (again,) = rh.lfs_batch([(oid, len(data))])["objects"]
    assert "actions" in again, "a refused upload must still be asked for"


# -- revisions and parents -----------------------------------------------------------------------------------
def test_stale_parent_commit(repo: Repo) -> None:
    body = ndjson([header_line(parent=repo.initial), file_line("new.txt", b"x")])
    refused(repo, body, 412, "ParentCommitMismatch", absent=["new.txt"])


def test_stale_parent_commit_prefix(repo: Repo) -> None:
    body = ndjson([header_line(parent=repo.initial[:7]), file_line("new.txt", b"x")])
    refused(repo, body, 412, "ParentCommitMismatch", absent=["new.txt"])


@pytest.mark.parametrize("parent", ["xyz12", "abc", "a" * 41, 12345], ids=["not-hex", "short", "long", "int"])
def test_malformed_parent_commit(repo: Repo, parent: Any) -> None:
    line = header_line()
    line["value"]["parentCommit"] = parent
    refused(repo, ndjson([line, file_line("new.txt", b"x")]), 400, "BadRequest", absent=["new.txt"])


def test_commit_to_a_tag(repo: Repo) -> None:
    body = ndjson([header_line(), file_line("new.txt", b"x")])
    refused(repo, body, 400, "NotABranch", absent=["new.txt"], revision="v1")
    assert repo.rh.head("v1") == repo.tag_target


def test_commit_to_a_commit_id(repo: Repo) -> None:
    body = ndjson([header_line(), file_line("new.txt", b"x")])
    refused(repo, body, 400, "NotABranch", absent=["new.txt"], revision=repo.rh.head())


@pytest.mark.parametrize("revision", ["no-such-branch", "refs/heads/no-such-branch", "f" * 40])
def test_commit_to_a_missing_branch(repo: Repo, revision: str) -> None:
    body = ndjson([header_line(), file_line("new.txt", b"x")])
    refused(repo, body, 404, "RevisionNotFound", absent=["new.txt"], revision=revision)
    r = repo.rh.client.get(repo.rh.api("revision", "no-such-branch"))
    assert_error(r, 404, "RevisionNotFound")


# -- operations that contradict each other or the tree -------------------------------------------------------
@pytest.mark.parametrize(
    "lines",
    [
        [file_line("dup.txt", b"1"), file_line("dup.txt", b"2")],
        [file_line("dup.txt", b"1"), file_line("dup.txt", b"1")],
        [delete_line("existing.txt"), delete_line("existing.txt")],
        [delete_line("dir", folder=True), delete_line("dir/", folder=True)],
    ],
    ids=["file-file", "same-content", "delete-delete", "folder-folder"],
)
def test_duplicate_paths(repo: Repo, lines: list[dict[str, Any]]) -> None:
    refused(repo, ndjson([header_line(), *lines]), 400, "DuplicatePath", absent=["dup.txt"])
    assert repo.rh.get_file("dir/file.txt").status_code == 200


def test_duplicate_path_file_and_lfs(repo: Repo) -> None:
    data = os.urandom(100)
    oid = repo.rh.lfs_upload(data)
    lines = [header_line(), file_line("dup.bin", b"x"), lfs_line("dup.bin", oid, len(data))]
    refused(repo, ndjson(lines), 400, "DuplicatePath", absent=["dup.bin"])


@pytest.mark.parametrize(
    "lines",
    [
        [file_line("dir", b"a file where a folder is")],
        [file_line("existing.txt/inside", b"a folder where a file is")],
        [file_line("new/x", b"1"), file_line("new", b"2")],
        [file_line("new", b"1"), file_line("new/x", b"2")],
    ],
    ids=["file-over-folder", "folder-over-file", "new-folder-then-file", "new-file-then-folder"],
)
def test_path_conflicts(repo: Repo, lines: list[dict[str, Any]]) -> None:
    paths = [line["value"]["path"] for line in lines if line["value"]["path"] != "dir"]
    refused(repo, ndjson([header_line(), *lines]), 409, "PathConflict", absent=paths)
    assert repo.rh.get_file("dir/file.txt").content == b"in a dir\n"


@pytest.mark.parametrize(
    "line",
    [
        delete_line("missing.txt"),
        delete_line("dir/missing.txt"),
        delete_line("dir"),  # a folder is not a file
        delete_line("missing-dir", folder=True),
        delete_line("existing.txt", folder=True),  # a file is not a folder
    ],
    ids=["file", "file-in-dir", "folder-as-file", "folder", "file-as-folder"],
)
def test_deleting_what_does_not_exist(repo: Repo, line: dict[str, Any]) -> None:
    lines = [header_line(), file_line("new.txt", b"x"), line]
    err = refused(repo, ndjson(lines), 404, "EntryNotFound", absent=["new.txt"])
    if line["key"] == "deletedFile":
        assert "A file with this name doesn't exist" in err["error"]
    assert repo.rh.get_file("dir/file.txt").status_code == 200


# -- malformed bodies ----------------------------------------------------------------------------------------
def _with_content(content: str) -> bytes:
    line = {"key": "file", "value": {"path": "b64.txt", "content": content, "encoding": "base64"}}
    return ndjson([header_line(), line])


@pytest.mark.parametrize(
    "content",
    ["!!!!", "abc", "YQ=A", "YQ==YQ==", "====", "YWJj\n", "Y===", "a" * 70001, "!" * 70000 + "===="],
    ids=[
        "bad-chars",
        "length",
        "inner-pad",
        "excess",
        "all-pad",
        "newline",
        "one-char",
        "long-length",
        "long-chars",
    ],
)
def test_invalid_base64(repo: Repo, content: str) -> None:
    refused(repo, _with_content(content), 400, "BadRequest", absent=["b64.txt"])


@pytest.mark.parametrize(
    "body",
    [
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": {',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\nnot json\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file" "value": 1}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n[1, 2]\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": "x"}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "copy", "value": {}}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": '
        b'{"path": "b64.txt", "content": "YQ==", "encoding": "utf-8"}}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": '
        b'{"path": "b64.txt", "content": 5}}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": '
        b'{"path": "b64.txt", "content": "\\ud800"}}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n{"key": "file", "value": '
        b'{"path": "b64.txt", "content": "YQ==\xff"}}\n',
        b'{"key": "header", "value": {"summary": "x", "description": ""}}\n'
        + b"[" * 100
        + b"]" * 100
        + b"\n",
        b"\xef\xbb\xbf\x00\x01",
    ],
    ids=[
        "truncated",
        "not-json",
        "missing-comma",
        "array-line",
        "value-not-object",
        "unknown-key",
        "encoding",
        "content-int",
        "lone-surrogate",
        "invalid-utf8",
        "deep-nesting",
        "binary",
    ],
)
def test_malformed_body(repo: Repo, body: bytes) -> None:
    refused(repo, body, 400, "BadRequest", absent=["b64.txt"])


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n\n  \n",
        ndjson([file_line("b64.txt", b"x")]),
        ndjson([file_line("b64.txt", b"x"), header_line()]),
        ndjson([{"key": "header", "value": {"description": ""}}, file_line("b64.txt", b"x")]),
        ndjson([{"key": "header", "value": {"summary": 1}}, file_line("b64.txt", b"x")]),
        ndjson([{"key": "header"}, file_line("b64.txt", b"x")]),
    ],
    ids=["empty", "blank", "no-header", "header-last", "no-summary", "summary-int", "no-value"],
)
def test_missing_or_bad_header(repo: Repo, body: bytes) -> None:
    refused(repo, body, 400, "BadRequest", absent=["b64.txt"])


# -- a valid line before an invalid one: all or nothing ------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "status", "code"),
    [
        (file_line("../x", b"x"), 400, "InvalidPath"),
        (lfs_line("w.bin", "0" * 64, 3), 400, "LfsObjectNotFound"),
        (delete_line("missing.txt"), 404, "EntryNotFound"),
        (file_line("valid.txt", b"again"), 400, "DuplicatePath"),
        (file_line("dir", b"x"), 409, "PathConflict"),
        ({"key": "file", "value": {"path": "b.txt", "content": "!!!!"}}, 400, "BadRequest"),
        ({"key": "nonsense", "value": {}}, 400, "BadRequest"),
    ],
    ids=["invalid-path", "unknown-lfs", "missing-delete", "duplicate", "conflict", "base64", "unknown-op"],
)
def test_valid_lines_before_an_invalid_one_commit_nothing(
    repo: Repo, bad: dict[str, Any], status: int, code: str
) -> None:
    good = [
        file_line("valid.txt", b"valid"),
        file_line("big-valid.bin", os.urandom(300_000)),  # long enough to be spilled to disk while parsing
        delete_line("existing.txt"),
    ]
    body = ndjson([header_line(), *good, bad])
    refused(repo, body, status, code, absent=["valid.txt", "big-valid.bin"])


def test_truncated_body_after_valid_lines_commits_nothing(repo: Repo) -> None:
    body = ndjson(
        [header_line(), file_line("valid.txt", b"valid"), file_line("big.bin", os.urandom(100_000))]
    )
    refused(repo, body[:-5000], 400, "BadRequest", absent=["valid.txt", "big.bin"])


# -- authentication and authorisation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("anonymous", 401, "Unauthorized"),
        ("alice_read", 403, "Forbidden"),
        ("bob", 403, "Forbidden"),
        ("invalid", 401, "InvalidCredentials"),
        ("malformed", 401, "InvalidCredentials"),
    ],
)
def test_commit_without_write_access(
    repo: Repo, accounts: Accounts, who: str, status: int, code: str
) -> None:
    token = {
        "anonymous": None,
        "alice_read": accounts.alice_read,
        "bob": accounts.bob,
        "invalid": "hf_" + "x" * 34,
        "malformed": "not a token at all",
    }[who]
    body = ndjson([header_line(), file_line("new.txt", b"x")])
    refused(repo, body, status, code, absent=["new.txt"], token=token)
    if who in ("invalid", "malformed"):
        r = repo.rh.commit(body, token=token)
        assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Basic !!", "Bearer", "Bearer hf_", "hf_abc"])
def test_odd_authorization_headers(repo: Repo, header: str) -> None:
    before = repo.rh.head()
    r = repo.rh.client.post(
        repo.rh.api("commit", "main"),
        content=ndjson([header_line(), file_line("new.txt", b"x")]),
        headers={"Content-Type": "application/x-ndjson", "Authorization": header},
    )
    assert_error(r, 401, "InvalidCredentials")
    assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"
    assert repo.rh.head() == before


def test_lfs_batch_upload_needs_write_access(repo: Repo, accounts: Accounts) -> None:
    rh = repo.rh
    body = {"operation": "upload", "objects": [{"oid": "0" * 64, "size": 1}]}
    url = f"{rh.url}/{rh.repo_id}.git/info/lfs/objects/batch"
    assert_error(httpx.post(url, json=body), 401, "Unauthorized")
    assert_error(httpx.post(url, json=body, headers=auth(accounts.bob)), 403, "Forbidden")
    assert_error(httpx.post(url, json=body, headers=auth(accounts.alice_read)), 403, "Forbidden")


# -- repo creation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "org"),
    [
        ("", "alice"),
        ("has space", "alice"),
        ("-leading", "alice"),
        ("trailing-", "alice"),
        (".hidden", "alice"),
        ("dot.", "alice"),
        ("a..b", "alice"),
        ("a--b", "alice"),
        ("x.git", "alice"),
        ("a/b", "alice"),
        ("x" * 97, "alice"),
        ("ünïcode", "alice"),
        ("semi;colon", "alice"),
        ("newline\n", "alice"),
        ("ok-name", "bad org"),
        ("ok-name", "../alice"),
    ],
)
def test_create_repo_with_invalid_name(hub: HubServer, accounts: Accounts, name: str, org: str) -> None:
    r = httpx.post(
        f"{hub.url}/api/repos/create", json={"name": name, "organization": org}, headers=auth(accounts.alice)
    )
    assert_error(r, 400, "InvalidRepoId")


@pytest.mark.parametrize(
    "body",
    [
        {"organization": "alice"},
        {"name": 5},
        {"name": "ok", "organization": 3},
        {"name": "ok", "private": "yes"},
    ],
    ids=["no-name", "int-name", "int-org", "private-str"],
)
def test_create_repo_with_bad_body(hub: HubServer, accounts: Accounts, body: dict[str, Any]) -> None:
    r = httpx.post(f"{hub.url}/api/repos/create", json=body, headers=auth(accounts.alice))
    assert_error(r, 400, "BadRequest")


def test_create_repo_bad_json(hub: HubServer, accounts: Accounts) -> None:
    for content in (b"", b"{", b"[1]", b"\xff"):
        r = httpx.post(f"{hub.url}/api/repos/create", content=content, headers=auth(accounts.alice))
        assert_error(r, 400, "BadRequest")


# -- reads ---------------------------------------------------------------------------------------------------
def test_resolve_missing_repo(hub: HubServer, accounts: Accounts) -> None:
    r = httpx.get(f"{hub.url}/alice/no-such-repo-at-all/resolve/main/config.json")
    assert_error(r, 404, "RepoNotFound")
    r = httpx.get(
        f"{hub.url}/nobody-here/no-such-repo/resolve/main/config.json", headers=auth(accounts.alice)
    )
    assert_error(r, 404, "RepoNotFound")


@pytest.mark.parametrize("revision", ["no-such-branch", "0" * 40, "refs/heads/nope", "v2"])
def test_resolve_missing_revision(repo: Repo, revision: str) -> None:
    assert_error(repo.rh.get_file("existing.txt", revision), 404, "RevisionNotFound")


@pytest.mark.parametrize(
    "path", ["missing.txt", "dir", "dir/missing.txt", "existing.txt/x", "../existing.txt"]
)
def test_resolve_missing_file(repo: Repo, path: str) -> None:
    head = repo.rh.head()
    r = repo.rh.get_file(path)
    assert_error(r, 404, "EntryNotFound")
    assert r.headers["x-repo-commit"] == head
    r = repo.rh.get_file(path, "v1")
    assert_error(r, 404, "EntryNotFound")
    assert r.headers["x-repo-commit"] == repo.tag_target


def test_head_of_missing_file_carries_the_error_headers(repo: Repo) -> None:
    r = repo.rh.client.head(repo.rh.resolve_url("missing.txt"))
    assert r.status_code == 404
    assert r.headers["x-error-code"] == "EntryNotFound"
    assert r.headers["x-repo-commit"] == repo.rh.head()


@pytest.mark.parametrize("range_", ["bytes=9-", "bytes=100-200", "bytes=9-9"])
def test_range_beyond_the_end(repo: Repo, range_: str) -> None:
    r = repo.rh.get_file("existing.txt", headers={"Range": range_})  # 9 bytes
    assert_not_5xx(r)
    assert r.status_code == 416, r.text
    assert r.headers.get("content-range") == "bytes */9"
    assert r.headers.get("x-error-code") == "RangeNotSatisfiable"


def test_range_inside_the_file_still_works(repo: Repo) -> None:
    r = repo.rh.get_file("existing.txt", headers={"Range": "bytes=2-4"})
    assert r.status_code == 206
    assert r.content == b"ist"
    r = repo.rh.get_file("existing.txt", headers={"Range": "bytes=5-100"})
    assert r.status_code == 206
    assert r.content == b"ing\n"


def test_lfs_object_urls_must_be_signed(repo: Repo) -> None:
    data = os.urandom(64)
    oid = repo.rh.lfs_upload(data)
    rh = repo.rh
    assert_error(rh.client.get(f"{rh.url}/lfs/objects/{oid}"), 403, "Forbidden")
    assert_error(rh.client.get(f"{rh.url}/lfs/objects/{oid}?exp=99999999999&sig=00"), 403, "Forbidden")
    assert_error(rh.client.put(f"{rh.url}/lfs/objects/{oid}/64", content=data), 403, "Forbidden")


def test_no_state_left_behind(repo: Repo) -> None:
    """After all the refusals above, the repo still holds exactly its base files."""
    r = repo.rh.client.get(repo.rh.api("tree", "main"), params={"recursive": "true"})
    assert r.status_code == 200
    paths = sorted(item["path"] for item in r.json() if item["type"] == "file")
    assert paths == [".gitattributes", "dir/file.txt", "existing.txt"]
    r = repo.rh.client.get(repo.rh.api("commits", "main"))
    assert len(r.json()) == 2


# -- the same refusals, as huggingface_hub sees them ---------------------------------------------------------
def test_huggingface_hub_types_the_errors(hub: HubServer, accounts: Accounts, repo: Repo) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi(endpoint=hub.url, token=accounts.alice)
    rid = repo.rh.repo_id
    before = repo.rh.head()
    assert api.repo_exists(rid)
    assert not api.repo_exists("alice/definitely-not-here")
    assert not api.file_exists(rid, "missing.txt")
    assert not api.revision_exists(rid, "no-such-branch")
    with pytest.raises(EntryNotFoundError, match="A file with this name doesn't exist"):
        api.delete_file("missing.txt", rid)
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="new.txt", repo_id=rid, revision="no-such-branch")
    with pytest.raises(HfHubHTTPError) as info:
        api.create_commit(
            rid, [CommitOperationAdd("new.txt", b"x")], commit_message="stale", parent_commit=repo.initial
        )
    assert info.value.response.status_code == 412
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(endpoint=hub.url, token=accounts.bob).upload_file(
            path_or_fileobj=b"x", path_in_repo="new.txt", repo_id=rid
        )
    assert info.value.response.status_code == 403
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(rid, "missing.txt", endpoint=hub.url, token=accounts.alice)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(rid, "existing.txt", revision="nope", endpoint=hub.url, token=accounts.alice)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/definitely-not-here", "x.txt", endpoint=hub.url, token=accounts.alice)
    assert repo.rh.head() == before
    assert_absent(repo.rh, "new.txt", before)


def test_commit_body_over_the_limit(fresh_hub: HubServer) -> None:
    fresh_hub.env["OMH_MAX_COMMIT_BODY_BYTES"] = "100000"
    fresh_hub.create_user("alice")
    token = fresh_hub.create_token("alice")
    fresh_hub.start()
    rh = RawHub(fresh_hub.url, "alice/limited", token)
    rh.create_repo()
    before = rh.head()
    assert_error(
        rh.commit(ndjson([header_line(), file_line("big.bin", os.urandom(90_000))])), 413, "PayloadTooLarge"
    )
    assert rh.head() == before
    assert_absent(rh, "big.bin", before)
    rh.commit_ok([header_line(), file_line("small.bin", b"fits")])
    rh.close()

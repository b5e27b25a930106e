"""Scan before serve, end to end: quarantine, warnings, security status in the tree, release, re-scan."""

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError

from openmodelhub.scanners import Verdict
from tests.conftest import Accounts
from tests.scanners.fixtures import BENIGN, MALICIOUS, Case
from tests.support.server import HubServer
from tests.support.stored import lfs_redirects


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def malicious_pickle() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0], "x": _Payload()}, protocol=4)


def suspicious_pickle() -> bytes:
    # A global that is neither allow-listed nor known to be dangerous.
    return pickle.dumps(io.BytesIO, protocol=2)


def tiny_safetensors() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0)


@pytest.fixture
def repo(hub: HubServer, accounts: Accounts, repo_name: str) -> str:
    repo_id = f"alice/{repo_name}"
    HfApi(token=accounts.alice).create_repo(repo_id)
    return repo_id


def _upload(accounts: Accounts, repo_id: str, path: str, data: bytes) -> None:
    HfApi(token=accounts.alice).upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)


def test_unsafe_pickle_is_quarantined_for_everyone(hub: HubServer, accounts: Accounts, repo: str) -> None:
    _upload(accounts, repo, "pytorch_model.bin", malicious_pickle())
    for token in (accounts.alice, accounts.bob, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method in ("HEAD", "GET"):
            r = httpx.request(method, f"{hub.url}/{repo}/resolve/main/pytorch_model.bin", headers=headers)
            assert r.status_code == 403, (method, token, r.status_code)
            assert r.headers["X-Error-Code"] == "FileQuarantined"
            assert "system" in r.headers["X-Error-Message"]
    # The stock client treats a 403 on HEAD that carries no Hub error code as "unreachable": it downloads
    # nothing and raises, which is what matters here.
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download(repo, "pytorch_model.bin", token=accounts.alice)


def test_tree_and_paths_info_carry_security_status(hub: HubServer, accounts: Accounts, repo: str) -> None:
    _upload(accounts, repo, "evil.pkl", malicious_pickle())
    _upload(accounts, repo, "model.safetensors", tiny_safetensors())
    api = HfApi(token=accounts.alice)
    files = {f.path: f for f in api.list_repo_tree(repo, expand=True) if hasattr(f, "security")}
    assert files["evil.pkl"].security is not None
    assert files["evil.pkl"].security.status == "unsafe" and not files["evil.pkl"].security.safe
    imports = files["evil.pkl"].security.pickle_import_scan["pickleImports"]
    assert {"module": "posix", "name": "system", "safety": "dangerous"} in imports or {
        "module": "os",
        "name": "system",
        "safety": "dangerous",
    } in imports
    assert files["model.safetensors"].security.safe is True
    infos = api.get_paths_info(repo, ["evil.pkl", "model.safetensors"], expand=True)
    assert {i.path: i.security.status for i in infos} == {"evil.pkl": "unsafe", "model.safetensors": "safe"}
    status = api.model_info(repo, securityStatus=True).security_repo_status
    assert status["scansDone"] is True
    assert [f["path"] for f in status["filesWithIssues"]] == ["evil.pkl"]


def test_suspicious_file_is_served_with_a_warning(hub: HubServer, accounts: Accounts, repo: str) -> None:
    _upload(accounts, repo, "odd.pkl", suspicious_pickle())
    r = httpx.get(f"{hub.url}/{repo}/resolve/main/odd.pkl")
    assert r.status_code == 200
    assert r.content == suspicious_pickle()
    assert r.headers["X-HF-Warning"].startswith("security; ")
    assert "suspicious" in r.headers["X-HF-Warning"]
    clean = httpx.get(f"{hub.url}/{repo}/resolve/main/.gitattributes")
    assert clean.status_code == 200 and "X-HF-Warning" not in clean.headers


def test_same_bytes_under_a_new_name_are_blocked_at_once(
    hub: HubServer, accounts: Accounts, repo: str
) -> None:
    _upload(accounts, repo, "a.bin", malicious_pickle())
    _upload(accounts, repo, "renamed/innocent.txt", malicious_pickle())
    r = httpx.get(f"{hub.url}/{repo}/resolve/main/renamed/innocent.txt")
    assert r.status_code == 403 and r.headers["X-Error-Code"] == "FileQuarantined"


def test_release_by_owner_is_audited_and_scoped_to_the_repo(
    hub: HubServer, accounts: Accounts, repo: str, repo_name: str
) -> None:
    _upload(accounts, repo, "evil.pkl", malicious_pickle())
    other = f"alice/{repo_name}-other"
    HfApi(token=accounts.alice).create_repo(other)
    _upload(accounts, other, "evil.pkl", malicious_pickle())
    url = f"{hub.url}/api/models/{repo}/security/release"
    body = {"path": "evil.pkl", "reason": "research sample"}
    for token, status in ((accounts.bob, 403), (accounts.alice_read, 403), (None, 401)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert httpx.post(url, json=body, headers=headers).status_code == status
    assert httpx.get(f"{hub.url}/{repo}/resolve/main/evil.pkl").status_code == 403
    r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {accounts.alice}"})
    assert r.status_code == 200, r.text
    served = httpx.get(f"{hub.url}/{repo}/resolve/main/evil.pkl")
    assert served.status_code == 200 and served.content == malicious_pickle()
    assert "unsafe" in served.headers["X-HF-Warning"]
    # The release is for this repo only.
    assert httpx.get(f"{hub.url}/{other}/resolve/main/evil.pkl").status_code == 403


def test_scan_cli_offline_and_on_a_repo(
    hub: HubServer, accounts: Accounts, repo: str, tmp_path: Path
) -> None:
    (tmp_path / "evil.pkl").write_bytes(malicious_pickle())
    (tmp_path / "ok.safetensors").write_bytes(tiny_safetensors())
    out = hub.cli("scan", str(tmp_path), check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "unsafe" in out.stdout and "ok.safetensors" in out.stdout
    (tmp_path / "evil.pkl").unlink()
    assert hub.cli("scan", str(tmp_path), check=False).returncode == 0
    _upload(accounts, repo, "w.pkl", malicious_pickle())
    on_repo = hub.cli("scan", repo, check=False)
    assert on_repo.returncode == 2 and "w.pkl" in on_repo.stdout
    rescan = hub.cli("scan", "--rescan")
    assert "scanned" in rescan.stdout


def _upload_cases(accounts: Accounts, repo_id: str, cases: list[Case], folder: Path) -> dict[str, Case]:
    by_path: dict[str, Case] = {}
    for case in cases:
        if case.build is None:  # sparse multi-GB files: covered by the scanner's own tests
            continue
        path = case.materialize(folder / case.id)
        by_path[path.relative_to(folder).as_posix()] = case
    HfApi(token=accounts.alice).upload_folder(folder_path=folder, repo_id=repo_id)
    return by_path


def _served_status(hub: HubServer, tree: list[Any]) -> dict[str, tuple[int, ...]]:
    """The statuses a download of each file may answer when it is served: 200 with the bytes; on S3
    (OMH_S3_DOWNLOAD=redirect) an LFS file stored whole as one object answers 302 to the bucket instead (one
    stored only as Xet xorbs is streamed by the hub), with the same headers on the 302."""
    redirects = lfs_redirects(hub)
    return {f.path: (200, 302) if redirects and getattr(f, "lfs", None) is not None else (200,) for f in tree}


@pytest.mark.slow
def test_every_malicious_fixture_uploaded_by_the_stock_client_is_never_served_as_safe(
    hub: HubServer, accounts: Accounts, repo: str, tmp_path: Path
) -> None:
    by_path = _upload_cases(accounts, repo, MALICIOUS, tmp_path)
    assert len(by_path) >= 20
    api = HfApi(token=accounts.alice)
    tree = [f for f in api.list_repo_tree(repo, recursive=True, expand=True) if f.path in by_path]
    status = {f.path: f.security for f in tree}
    assert set(status) == set(by_path)
    served = _served_status(hub, tree)
    for path, case in by_path.items():
        sec = status[path]
        assert sec is not None and not sec.safe, path
        r = httpx.get(
            f"{hub.url}/{repo}/resolve/main/{path}", headers={"Authorization": f"Bearer {accounts.bob}"}
        )
        if case.expected is Verdict.UNSAFE:
            assert r.status_code == 403, path
            assert r.headers["X-Error-Code"] == "FileQuarantined", path
            assert sec.status == "unsafe", path
        else:
            assert r.status_code in served[path], path
            assert r.headers["X-HF-Warning"].startswith("security; "), path
            assert sec.status in ("suspicious", "error"), path


@pytest.mark.slow
def test_benign_fixtures_are_served_without_warnings(
    hub: HubServer, accounts: Accounts, repo: str, tmp_path: Path
) -> None:
    by_path = _upload_cases(accounts, repo, BENIGN, tmp_path)
    tree = [f for f in HfApi().list_repo_tree(repo, recursive=True) if f.path in by_path]
    assert {f.path for f in tree} == set(by_path)
    served = _served_status(hub, tree)
    for path in by_path:
        r = httpx.get(f"{hub.url}/{repo}/resolve/main/{path}")
        assert r.status_code in served[path], path
        assert "X-HF-Warning" not in r.headers, (path, r.headers.get("X-HF-Warning"))

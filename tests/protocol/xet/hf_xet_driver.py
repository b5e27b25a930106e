"""Drive the real hf_xet client in a child process (so its caches and runtime are isolated per test).

    python hf_xet_driver.py upload   TOKEN_URL FILE...        -> JSON list of {hash, file_size, sha256}
    python hf_xet_driver.py download TOKEN_URL HASH SIZE DEST -> JSON {"ok": true}
    python hf_xet_driver.py hash     FILE...                  -> JSON list of {hash, file_size}

It uses the same `XetSession` API huggingface_hub 2.4 uses (``new_upload_commit`` with a token refresh URL,
``new_file_download_group``), so what the recording server sees is what a stock ``upload_file`` sends.
"""

import json
import sys

import hf_xet

HUB_HEADERS = {"Authorization": "Bearer hf_recording_test_token"}


def upload(token_url: str, paths: list[str]) -> list[dict[str, object]]:
    session = hf_xet.XetSession()
    with session.new_upload_commit(token_refresh_url=token_url, token_refresh_headers=HUB_HEADERS) as commit:
        handles = [commit.start_upload_file(p, sha256=hf_xet.COMPUTE_SHA256) for p in paths]
    out = []
    for handle in handles:
        info = handle.result().xet_info
        out.append({"hash": info.hash, "file_size": info.file_size, "sha256": info.sha256})
    return out


def download(token_url: str, file_hash: str, size: int, dest: str) -> dict[str, object]:
    session = hf_xet.XetSession()
    with session.new_file_download_group(
        token_refresh_url=token_url, token_refresh_headers=HUB_HEADERS
    ) as group:
        group.start_download_file(hf_xet.XetFileInfo(file_hash, size), dest)
    return {"ok": True}


def hash_files(paths: list[str]) -> list[dict[str, object]]:
    return [{"hash": r.hash, "file_size": r.file_size} for r in hf_xet.hash_files(paths)]


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "upload":
        result: object = upload(args[0], args[1:])
    elif command == "download":
        result = download(args[0], args[1], int(args[2]), args[3])
    elif command == "hash":
        result = hash_files(args)
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])

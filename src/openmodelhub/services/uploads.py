"""Upload negotiation: preupload answers, the Git LFS batch API, signed transfer URLs, multipart assembly."""

import hashlib
import hmac
import math
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
from sqlalchemy import select

from openmodelhub.db.models import Blob, LfsMultipartUpload, Repo
from openmodelhub.protocol.digests import HEX64
from openmodelhub.protocol.names import NameError_, validate_file_path
from openmodelhub.services.errors import (
    BadRequest,
    ChecksumMismatch,
    FileQuarantined,
    Forbidden,
    InvalidPath,
    LfsObjectNotFound,
    NotFound,
    SizeMismatch,
)
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.repos import RepoService, ensure_blob_rows
from openmodelhub.services.scans import ScanService
from openmodelhub.storage import BlobInfo, ChecksumError
from openmodelhub.storage.base import BlobWriter

MAX_PREUPLOAD_FILES = 1000
MAX_BATCH_OBJECTS = 1000


@dataclass(frozen=True)
class PreuploadFile:
    path: str
    size: int


class UploadService:
    def __init__(self, hub: Hub, git: GitStore, repos: RepoService, scans: ScanService) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.scans = scans
        self.multipart_dir = hub.settings.tmp_dir / "multipart"
        self.multipart_dir.mkdir(parents=True, exist_ok=True)

    # -- preupload -----------------------------------------------------------------------------------------
    def preupload(self, repo: Repo, revision: str, files: Any, git_ignore: Any) -> list[dict[str, Any]]:
        if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
            raise BadRequest(f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} items")
        parsed: list[PreuploadFile] = []
        for item in files:
            if not isinstance(item, dict):
                raise BadRequest("each preupload item must be an object with 'path' and 'size'")
            path, size = item.get("path"), item.get("size", 0)
            if not isinstance(path, str):
                raise InvalidPath("each preupload item needs a 'path' string")
            try:
                validate_file_path(path)
            except NameError_ as exc:
                raise InvalidPath(str(exc)) from exc
            if not isinstance(size, int) or size < 0:
                raise BadRequest(f"{path}: 'size' must be a non-negative integer")
            parsed.append(PreuploadFile(path, size))
        commit = self.repos.resolve(repo, revision)
        tree = self.git.commit_tree(commit)
        if git_ignore is not None and not isinstance(git_ignore, str):
            raise BadRequest("'gitIgnore' must be a string")
        if git_ignore is None:
            entry = self.git.lookup(tree, ".gitignore")
            if entry is not None and not entry.is_dir:
                meta = self.git.blob_metas([entry.oid]).get(entry.oid)
                if meta is not None and meta.size <= 1 << 20:
                    git_ignore = self.hub.blobs.read_all(meta.sha256, 1 << 20).decode("utf-8", "replace")
        ignore = pathspec.PathSpec.from_lines("gitignore", (git_ignore or "").splitlines())
        threshold = self.hub.settings.preupload_lfs_threshold
        entries = {f.path: self.git.lookup(tree, f.path) for f in parsed}
        metas = self.git.blob_metas([e.oid for e in entries.values() if e is not None and not e.is_dir])
        content_sha1 = self._content_sha1s([m.sha256 for m in metas.values()])
        out = []
        for f in parsed:
            mode = "lfs" if threshold is not None and f.size >= threshold else "regular"
            answer: dict[str, Any] = {
                "path": f.path,
                "uploadMode": mode,
                "shouldIgnore": bool(ignore.match_file(f.path)),
            }
            entry = entries[f.path]
            meta = metas.get(entry.oid) if entry is not None else None
            if meta is not None:
                oid = meta.sha256 if mode == "lfs" else content_sha1.get(meta.sha256)
                if oid:
                    answer["oid"] = oid
            out.append(answer)
        return out

    def _content_sha1s(self, sha256s: list[str]) -> dict[str, str]:
        if not sha256s:
            return {}
        with self.hub.read() as s:
            rows = s.execute(select(Blob.sha256, Blob.git_sha1).where(Blob.sha256.in_(sha256s))).all()
        return {a: b for a, b in rows}

    # -- signed URLs ---------------------------------------------------------------------------------------
    def sign(self, action: str, subject: str, ttl: int | None = None) -> str:
        exp = int(time.time()) + (ttl or self.hub.settings.lfs_url_ttl_seconds)
        mac = hmac.new(self.hub.secret, f"{action}:{subject}:{exp}".encode(), hashlib.sha256).hexdigest()
        return f"exp={exp}&sig={mac}"

    def check_signature(self, action: str, subject: str, exp: str | None, sig: str | None) -> None:
        if not exp or not sig or not exp.isdigit():
            raise Forbidden("This transfer URL is not signed")
        mac = hmac.new(self.hub.secret, f"{action}:{subject}:{exp}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, sig):
            raise Forbidden("This transfer URL has an invalid signature")
        if int(exp) < time.time():
            raise Forbidden("This transfer URL has expired; ask the batch API for a new one")

    # -- LFS batch -----------------------------------------------------------------------------------------
    def batch(
        self, repo: Repo, repo_url: str, base_url: str, operation: Any, objects: Any, transfers: Any
    ) -> dict[str, Any]:
        if operation not in ("upload", "download"):
            raise BadRequest("'operation' must be 'upload' or 'download'")
        if not isinstance(objects, list) or len(objects) > MAX_BATCH_OBJECTS:
            raise BadRequest(f"'objects' must be a list of at most {MAX_BATCH_OBJECTS} items")
        transfers = transfers if isinstance(transfers, list) else ["basic"]
        multipart_ok = "multipart" in transfers
        out = []
        for obj in objects:
            if not isinstance(obj, dict):
                raise BadRequest("each LFS object must be {oid, size}")
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or not HEX64.match(oid) or not isinstance(size, int) or size < 0:
                out.append(
                    {
                        "oid": str(oid),
                        "size": size if isinstance(size, int) else 0,
                        "error": {"code": 422, "message": "oid must be a sha256 hex digest, size an integer"},
                    }
                )
                continue
            stored = self._stored(oid)
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if operation == "download":
                quarantined = stored is not None and self._quarantined(repo, oid)
                if stored is None:
                    item["error"] = {"code": 404, "message": "Object does not exist"}
                elif quarantined:
                    item["error"] = {"code": 403, "message": quarantined}
                else:
                    item["actions"] = {
                        "download": {"href": f"{base_url}/lfs/objects/{oid}?{self.sign('get', oid)}"}
                    }
            elif stored is not None:
                if stored.size != size:
                    item["error"] = {
                        "code": 422,
                        "message": f"object {oid} is stored with size {stored.size}",
                    }
            else:
                verify = {"href": f"{repo_url}.git/info/lfs/verify"}
                threshold = self.hub.settings.lfs_multipart_threshold
                if multipart_ok and size >= threshold:
                    item["actions"] = {"upload": self._multipart(base_url, oid, size), "verify": verify}
                else:
                    subject = f"{oid}:{size}"
                    href = f"{base_url}/lfs/objects/{oid}/{size}?{self.sign('put', subject)}"
                    item["actions"] = {"upload": {"href": href}, "verify": verify}
            out.append(item)
        return {"transfer": "basic", "objects": out, "hash_algo": "sha256"}

    def _quarantined(self, repo: Repo, sha256: str) -> str | None:
        try:
            self.scans.check_download(repo, sha256, "")
        except FileQuarantined as exc:
            return exc.message
        return None

    def _stored(self, sha256: str) -> Blob | None:
        with self.hub.read() as s:
            row = s.get(Blob, sha256)
        if row is not None and not self.hub.blobs.exists(sha256):
            return None
        return row

    def _multipart(self, base_url: str, oid: str, size: int) -> dict[str, Any]:
        chunk = self.hub.settings.lfs_multipart_chunk_size
        upload_id = uuid.uuid4().hex
        with self.hub.write.begin() as s:
            s.add(LfsMultipartUpload(id=upload_id, sha256=oid, size=size, chunk_size=chunk))
        parts = max(1, math.ceil(size / chunk))
        header: dict[str, str] = {"chunk_size": str(chunk)}
        for n in range(1, parts + 1):
            header[str(n)] = (
                f"{base_url}/lfs/multipart/{upload_id}/{n}?{self.sign('part', f'{upload_id}:{n}')}"
            )
        href = f"{base_url}/lfs/multipart/{upload_id}/complete?{self.sign('complete', upload_id)}"
        return {"href": href, "header": header}

    # -- transfers -----------------------------------------------------------------------------------------
    def object_writer(self, oid: str, size: int) -> BlobWriter:
        if not HEX64.match(oid):
            raise BadRequest("not a sha256 object id")
        return self.hub.blobs.writer(size)

    def finish_object(self, writer: BlobWriter, oid: str) -> BlobInfo:
        """Verify the uploaded bytes against the oid, publish them and record the object."""
        try:
            info = writer.commit(oid)
        except ChecksumError as exc:
            if exc.kind == "size":
                raise SizeMismatch(str(exc)) from exc
            raise ChecksumMismatch(str(exc)) from exc
        finally:
            writer.abort()
        self._record(info)
        return info

    def _record(self, info: BlobInfo) -> None:
        with self.hub.write.begin() as s:
            ensure_blob_rows(s, info.sha256, info.size, info.git_sha1, [])

    def multipart_upload(self, upload_id: str) -> LfsMultipartUpload:
        with self.hub.read() as s:
            row = s.get(LfsMultipartUpload, upload_id)
        if row is None:
            raise NotFound("Unknown or finished multipart upload")
        return row

    def part_path(self, upload_id: str, part: int) -> Path:
        return self.multipart_dir / upload_id / f"{part:06d}"

    def expected_part_size(self, up: LfsMultipartUpload, part: int) -> int:
        parts = max(1, math.ceil(up.size / up.chunk_size))
        if not 1 <= part <= parts:
            raise BadRequest(f"part number must be between 1 and {parts}")
        return up.chunk_size if part < parts else up.size - up.chunk_size * (parts - 1)

    def complete_multipart(self, upload_id: str, parts: Any) -> BlobInfo:
        up = self.multipart_upload(upload_id)
        count = max(1, math.ceil(up.size / up.chunk_size))
        if not isinstance(parts, list) or len(parts) != count:
            raise BadRequest(f"expected {count} parts in the completion request")
        numbers = sorted(
            int(p["partNumber"])
            for p in parts
            if isinstance(p, dict) and isinstance(p.get("partNumber"), int)
        )
        if numbers != list(range(1, count + 1)):
            raise BadRequest("parts must be numbered 1..N, each once")
        etags = {p["partNumber"]: str(p.get("etag", "")).strip('"') for p in parts}
        writer = self.hub.blobs.writer(up.size)
        try:
            for n in range(1, count + 1):
                path = self.part_path(upload_id, n)
                if not path.exists():
                    raise BadRequest(f"part {n} was never uploaded")
                md5 = hashlib.md5(usedforsecurity=False)
                with open(path, "rb") as f:
                    for block in _chunks(f):
                        md5.update(block)
                        writer.write(block)
                if etags[n] and etags[n] != md5.hexdigest():
                    raise ChecksumMismatch(f"part {n} does not match its ETag")
        except ChecksumError as exc:
            writer.abort()
            raise SizeMismatch(str(exc)) from exc
        except Exception:
            writer.abort()
            raise
        info = self.finish_object(writer, up.sha256)
        shutil.rmtree(self.multipart_dir / upload_id, ignore_errors=True)
        with self.hub.write.begin() as s:
            row = s.get(LfsMultipartUpload, upload_id)
            if row is not None:
                s.delete(row)
        return info

    def verify(self, oid: Any, size: Any) -> None:
        if not isinstance(oid, str) or not HEX64.match(oid):
            raise BadRequest("'oid' must be a sha256 hex digest")
        stored = self._stored(oid)
        if stored is None:
            raise LfsObjectNotFound(f"LFS object {oid} has not been uploaded")
        if isinstance(size, int) and stored.size != size:
            raise SizeMismatch(f"LFS object {oid} has {stored.size} bytes, not {size}")


def _chunks(f: Any, size: int = 1 << 20) -> Iterable[bytes]:
    while True:
        block = f.read(size)
        if not block:
            return
        yield block

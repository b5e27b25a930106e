"""Upload negotiation: preupload answers, the Git LFS batch API, signed transfer URLs, multipart assembly."""

import base64
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
from sqlalchemy.exc import IntegrityError

from openmodelhub.db.models import Blob, LfsMultipartUpload, Repo
from openmodelhub.protocol.digests import HEX64
from openmodelhub.protocol.names import NameError_, validate_file_path
from openmodelhub.services.content import ContentService
from openmodelhub.services.errors import (
    BadRequest,
    ChecksumMismatch,
    FileQuarantined,
    Forbidden,
    InvalidPath,
    LfsObjectNotFound,
    NotFound,
    RepoNotFound,
    SizeMismatch,
)
from openmodelhub.services.gitstore import GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.repo_content import RepoContents, record_in
from openmodelhub.services.repos import RepoService, ensure_blob_rows
from openmodelhub.services.scans import ScanService
from openmodelhub.storage import BlobInfo, ChecksumError, DirectUploads
from openmodelhub.storage.base import BlobWriter

MAX_PREUPLOAD_FILES = 1000
MAX_BATCH_OBJECTS = 1000


def _scope(repo_id: int) -> str:
    """The staging scope of direct uploads for a repo: bytes staged for one repo are published only by a
    verify or completion for that repo."""
    return f"r{repo_id}"


@dataclass(frozen=True)
class PreuploadFile:
    path: str
    size: int
    binary: bool = False  # the client's sample of the first bytes has a NUL byte


class UploadService:
    def __init__(self, hub: Hub, git: GitStore, repos: RepoService, scans: ScanService) -> None:
        self.hub = hub
        self.git = git
        self.repos = repos
        self.scans = scans
        self.multipart_dir = hub.settings.tmp_dir / "multipart"
        self.content = ContentService.of(hub)
        self.contents = RepoContents(hub, repos)
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
            parsed.append(PreuploadFile(path, size, _looks_binary(item.get("sample"))))
        commit = self.repos.resolve(repo, revision)
        tree = self.git.commit_tree(commit)
        if git_ignore is not None and not isinstance(git_ignore, str):
            raise BadRequest("'gitIgnore' must be a string")
        if git_ignore is None:
            entry = self.git.lookup(tree, ".gitignore")
            if entry is not None and not entry.is_dir:
                meta = self.git.blob_metas([entry.oid]).get(entry.oid)
                if meta is not None and meta.size <= 1 << 20:
                    git_ignore = self.content.read_all(meta.sha256, 1 << 20).decode("utf-8", "replace")
        ignore = pathspec.PathSpec.from_lines("gitignore", (git_ignore or "").splitlines())
        # "lfs" sends stock clients with hf_xet through Xet, others through the LFS batch API (ADR 0008).
        threshold = self.hub.settings.effective_preupload_lfs_threshold
        binary_as_lfs = self.hub.settings.effective_preupload_binary_as_lfs
        entries = {f.path: self.git.lookup(tree, f.path) for f in parsed}
        metas = self.git.blob_metas([e.oid for e in entries.values() if e is not None and not e.is_dir])
        content_sha1 = self._content_sha1s([m.sha256 for m in metas.values()])
        out = []
        for f in parsed:
            large = threshold is not None and f.size >= threshold
            mode = "lfs" if large or (binary_as_lfs and f.binary and f.size > 0) else "regular"
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
        if not all(isinstance(obj, dict) for obj in objects):
            raise BadRequest("each LFS object must be {oid, size}")
        oids = {o["oid"] for o in objects if isinstance(o.get("oid"), str) and HEX64.match(o["oid"])}
        stored_of = {oid: self._stored(oid) for oid in oids}
        # An upload is needed unless the content is this repo's already: stored bytes of another repo count
        # as missing, so the answer tells nothing about other repos (the PUT then checks the client's bytes).
        held = (
            self.contents.holds(repo, [oid for oid, info in stored_of.items() if info is not None])
            if operation == "upload"
            else set()
        )
        out = []
        for obj in objects:
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
            stored = stored_of[oid]
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
            elif stored is not None and oid in held:
                if stored.size != size:
                    item["error"] = {
                        "code": 422,
                        "message": f"object {oid} is stored with size {stored.size}",
                    }
            else:
                verify = {"href": f"{repo_url}.git/info/lfs/verify"}
                threshold = self.hub.settings.lfs_multipart_threshold
                direct = self._direct()
                # Bytes stored already (for another repo) go through the hub, which checks them as they
                # arrive: the store's own staging area would not tell whether this client had them.
                if direct is not None and stored is None:
                    upload = self._direct_upload(direct, base_url, oid, size, multipart_ok, repo.id)
                    if isinstance(upload, str):
                        item["error"] = {"code": 422, "message": upload}
                    else:
                        item["actions"] = {"upload": upload, "verify": verify}
                elif multipart_ok and size >= threshold:
                    item["actions"] = {
                        "upload": self._multipart(base_url, oid, size, repo.id),
                        "verify": verify,
                    }
                else:
                    href = f"{base_url}/lfs/objects/{oid}/{size}?{self.put_query(oid, size, repo.id)}"
                    item["actions"] = {"upload": {"href": href}, "verify": verify}
            out.append(item)
        return {"transfer": "basic", "objects": out, "hash_algo": "sha256"}

    def _quarantined(self, repo: Repo, sha256: str) -> str | None:
        try:
            self.scans.check_download(repo, sha256, "")
        except FileQuarantined as exc:
            return exc.message
        return None

    def _stored(self, sha256: str) -> BlobInfo | None:
        """Content whose bytes are stored: uploaded through LFS (a blob) or through Xet (xorbs)."""
        return self.content.info(sha256)

    def put_query(self, oid: str, size: int, repo_id: int) -> str:
        """The query of a signed single-PUT URL: it names the repo the upload is for (recorded on success)."""
        return f"repo={repo_id}&{self.sign('put', f'{oid}:{size}:{repo_id}')}"

    def complete_query(self, upload_id: str, repo_id: int, via: str) -> str:
        """The query of a signed multipart completion URL; `via` is "hub" (parts stored by the hub) or
        "direct" (parts uploaded straight into the object store)."""
        return f"repo={repo_id}&via={via}&{self.sign('complete', f'{upload_id}:{repo_id}:{via}')}"

    def _multipart(self, base_url: str, oid: str, size: int, repo_id: int) -> dict[str, Any]:
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
        href = (
            f"{base_url}/lfs/multipart/{upload_id}/complete?{self.complete_query(upload_id, repo_id, 'hub')}"
        )
        return {"href": href, "header": header}

    # -- direct uploads into the object store ---------------------------------------------------------------
    def _direct(self) -> DirectUploads | None:
        """The store, when clients upload straight into it: an S3 store that clients can reach, which is
        what OMH_S3_DOWNLOAD=redirect says (with "proxy" the store may be private: bytes pass the hub)."""
        blobs = self.hub.blobs
        if isinstance(blobs, DirectUploads) and self.hub.settings.s3_download == "redirect":
            return blobs
        return None

    def _direct_upload(
        self, direct: DirectUploads, base_url: str, oid: str, size: int, multipart_ok: bool, repo_id: int
    ) -> dict[str, Any] | str:
        """The batch `upload` action for one object: a presigned PUT, or presigned part URLs and our own
        signed completion URL. A string: why this object cannot be uploaded."""
        settings = self.hub.settings
        ttl = settings.lfs_url_ttl_seconds
        if multipart_ok and size >= min(settings.lfs_multipart_threshold, direct.max_put_size):
            # The store's limits win over the settings: parts of at least 5 MiB, at most 10,000 of them.
            chunk = max(
                settings.lfs_multipart_chunk_size, direct.min_part_size, math.ceil(size / direct.max_parts)
            )
            upload_id = uuid.uuid4().hex
            parts = max(1, math.ceil(size / chunk))
            urls = direct.direct_multipart_start(oid, upload_id, parts, ttl, _scope(repo_id))
            with self.hub.write.begin() as s:
                s.add(LfsMultipartUpload(id=upload_id, sha256=oid, size=size, chunk_size=chunk))
            header = {"chunk_size": str(chunk), **{str(n): url for n, url in enumerate(urls, 1)}}
            query = self.complete_query(upload_id, repo_id, "direct")
            href = f"{base_url}/lfs/multipart/{upload_id}/complete?{query}"
            return {"href": href, "header": header}
        if size > direct.max_put_size:
            return f"object {oid} is larger than {direct.max_put_size} bytes: upload it in parts (multipart)"
        return {"href": direct.direct_put_url(oid, ttl, _scope(repo_id))}

    def _publish_direct(self, direct: DirectUploads, oid: str, size: int, repo_id: int) -> BlobInfo | None:
        """Check the bytes a client uploaded into the store for `oid` and publish them for `repo_id` (None:
        nothing was uploaded)."""
        try:
            info = direct.direct_publish(oid, size, _scope(repo_id))
        except ChecksumError as exc:
            if exc.kind == "size":
                raise SizeMismatch(f"LFS object {oid}: {exc}") from exc
            raise ChecksumMismatch(f"LFS object {oid}: {exc}") from exc
        if info is not None:
            self._record(info, repo_id)
        return info

    def _complete_direct(
        self, direct: DirectUploads, up: LfsMultipartUpload, parts: list[Any], repo_id: int
    ) -> BlobInfo:
        etags = [str(p.get("etag", "")) for p in sorted(parts, key=lambda p: int(p["partNumber"]))]
        try:
            direct.direct_multipart_complete(up.sha256, up.id, etags, _scope(repo_id))
        except FileNotFoundError as exc:
            raise BadRequest(
                "This multipart upload is unknown to the object store (finished or expired)"
            ) from exc
        except ChecksumError as exc:
            raise BadRequest(f"The parts do not match what was uploaded: {exc}") from exc
        info = self._publish_direct(direct, up.sha256, up.size, repo_id)
        if info is None:  # completed a moment ago, yet gone: another completion published and removed it
            raise LfsObjectNotFound(f"LFS object {up.sha256} was not found after its upload was completed")
        with self.hub.write.begin() as s:
            row = s.get(LfsMultipartUpload, up.id)
            if row is not None:
                s.delete(row)
        return info

    # -- transfers -----------------------------------------------------------------------------------------
    def object_writer(self, oid: str, size: int) -> BlobWriter:
        if not HEX64.match(oid):
            raise BadRequest("not a sha256 object id")
        return self.hub.blobs.writer(size)

    def finish_object(self, writer: BlobWriter, oid: str, repo_id: int) -> BlobInfo:
        """Verify the uploaded bytes against the oid, publish them and record the object for `repo_id`."""
        try:
            info = writer.commit(oid)
        except ChecksumError as exc:
            if exc.kind == "size":
                raise SizeMismatch(str(exc)) from exc
            raise ChecksumMismatch(str(exc)) from exc
        finally:
            writer.abort()
        self._record(info, repo_id)
        return info

    def _record(self, info: BlobInfo, repo_id: int) -> None:
        """Record verified content, and that it reached `repo_id` (whose later commits may then name it)."""
        with self.hub.write.begin() as s:
            ensure_blob_rows(s, info.sha256, info.size, info.git_sha1, [])
        try:
            with self.hub.write.begin() as s:
                record_in(s, repo_id, [info.sha256])
        except IntegrityError as exc:  # the repo was deleted since the URL was signed
            raise RepoNotFound("The repo this upload was for no longer exists") from exc

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

    def complete_multipart(self, upload_id: str, parts: Any, repo_id: int, via: str = "hub") -> BlobInfo:
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
        direct = self._direct()
        if direct is not None and via == "direct":
            return self._complete_direct(direct, up, parts, repo_id)
        if via == "direct":
            raise BadRequest("This hub no longer takes uploads straight into its object store; start again")
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
        info = self.finish_object(writer, up.sha256, repo_id)
        shutil.rmtree(self.multipart_dir / upload_id, ignore_errors=True)
        with self.hub.write.begin() as s:
            row = s.get(LfsMultipartUpload, upload_id)
            if row is not None:
                s.delete(row)
        return info

    def verify(self, repo: Repo, oid: Any, size: Any) -> None:
        """The batch API's `verify` action: the object was uploaded to `repo` (content stored for other repos
        only is answered as not uploaded, so this is no way to learn what the hub holds)."""
        if not isinstance(oid, str) or not HEX64.match(oid):
            raise BadRequest("'oid' must be a sha256 hex digest")
        stored = self._stored(oid)
        direct = self._direct()
        if stored is None and direct is not None:
            # Uploaded straight into the object store: checked (size, then sha256) and published now.
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise BadRequest("'size' must be a non-negative integer")
            if self._publish_direct(direct, oid, size, repo.id) is None:
                raise LfsObjectNotFound(f"LFS object {oid} has not been uploaded")
            return
        if stored is None or oid not in self.contents.holds(repo, [oid]):
            raise LfsObjectNotFound(f"LFS object {oid} has not been uploaded")
        if isinstance(size, int) and stored.size != size:
            raise SizeMismatch(f"LFS object {oid} has {stored.size} bytes, not {size}")


def _looks_binary(sample: Any) -> bool:
    """Whether preupload's `sample` (base64 of the first 512 bytes) has a NUL byte, as binary files do."""
    if not isinstance(sample, str) or not sample:
        return False
    try:
        return b"\0" in base64.b64decode(sample[:1024], validate=False)
    except ValueError:
        return False


def _chunks(f: Any, size: int = 1 << 20) -> Iterable[bytes]:
    while True:
        block = f.read(size)
        if not block:
            return
        yield block

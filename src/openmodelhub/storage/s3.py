"""Blob store on an S3-compatible object store (AWS S3, MinIO, Ceph RGW; a moto server in tests).

Layout inside the bucket, under an optional key prefix:

- `blobs/sha256/ab/cd/<sha256>`: published objects, immutable, named by the sha256 of their bytes;
- `staging/<unix time>-<uuid>`: the hub's multipart writes, before they were verified;
- `staging/direct/<sha256>/<unix time>-<name>`: bytes clients uploaded straight into the bucket (LFS batch
  API with presigned URLs), before the hub streamed them through the size and sha256 check.

A writer hashes the bytes as they pass. An object that fits in one part (`part_size`) is buffered in a spooled
temp file and PUT under its final key only after its size and digest were checked. A larger one goes to a
multipart upload on a staging key; the upload is completed only when the digest matched, then copied
server-side to its final key (CopyObject up to 5 GB, UploadPartCopy above) and the staging copy deleted. So no
reader ever sees bytes under a key they do not hash to.

Every failure to talk to the store (connection refused, timeouts, credentials, missing bucket) is raised as
BlobStoreUnavailable; an object that does not exist is FileNotFoundError (open) or None/False (size/exists).
"""

import contextlib
import logging
import math
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import boto3
import botocore.config
import botocore.exceptions

from openmodelhub.protocol.digests import HEX64, StreamingDigest
from openmodelhub.protocol.seekable import open_seekable
from openmodelhub.storage.base import (
    BlobInfo,
    BlobStore,
    BlobStoreUnavailable,
    BlobWriter,
    ChecksumError,
    DirectUploads,
)

log = logging.getLogger("openmodelhub.storage.s3")

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PARTS = 10_000  # S3's largest part count
MAX_SINGLE_COPY = 5 * 1024 * MiB  # CopyObject's limit; larger objects are copied in parts
COPY_PART = 512 * MiB
SPOOL_IN_MEMORY = 4 * MiB  # a writer's part buffer moves to disk beyond this
READ_AHEAD_MIN = 256 * 1024  # a reader's first ranged GET after a seek ...
READ_AHEAD_MAX = 16 * MiB  # ... doubles on sequential reads up to this
TOUCH_AFTER = timedelta(hours=1)  # `touch` renews objects older than this (garbage collection)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
# botocore wraps urllib3's errors (EndpointConnectionError, ReadTimeoutError, ResponseStreamingError...);
# plain socket errors are caught too, in case one slips through.
_STREAM_ERRORS = (
    botocore.exceptions.BotoCoreError,
    ConnectionError,
    TimeoutError,
)

T = TypeVar("T")


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(what: str, exc: Exception) -> BlobStoreUnavailable:
    return BlobStoreUnavailable(f"{what} failed: {exc}")


def _stamped(name: str) -> str:
    """A staging key name that starts with its creation time: `clean_staging` reads a multipart upload's age
    from it (S3-compatible stores do not all report a real `Initiated` time; moto dates every upload 2010)."""
    return f"{int(time.time())}-{name}"


def _stamp_time(key: str) -> datetime | None:
    stamp = key.rsplit("/", 1)[-1].split("-", 1)[0]
    return datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None


def _content_disposition(filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "download"
    return f"inline; filename*=UTF-8''{quote(filename, safe='')}; filename=\"{ascii_name}\""


class _S3Writer(BlobWriter):
    """Hashes while buffering one part at a time; see the module docstring for when bytes become visible."""

    def __init__(self, store: "S3BlobStore", expected_size: int) -> None:
        super().__init__(expected_size)
        self._store = store
        self._staging = store._staging_key(_stamped(uuid.uuid4().hex))
        self._buf: Any = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed in commit/abort
            max_size=SPOOL_IN_MEMORY, dir=None if store.spool_dir is None else str(store.spool_dir)
        )
        self._buffered = 0
        self._upload_id: str | None = None
        self._etags: list[str] = []
        self._staged = False  # the multipart upload was completed: the staging object exists
        self._done = False

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        part = self._store.part_size
        while view:
            room = part - self._buffered
            piece = view[:room]
            self._buf.write(piece)
            self._buffered += len(piece)
            view = view[len(piece) :]
            # A full part is sent only when more bytes follow: an object of exactly one part stays a PUT.
            if self._buffered == part and (view or self.digest.size < self.digest.expected_size):
                self._send_part()

    def _send_part(self) -> None:
        s = self._store
        if self._upload_id is None:
            self._upload_id = s._call(
                f"starting the multipart upload {self._staging}",
                lambda: s.client.create_multipart_upload(Bucket=s.bucket, Key=self._staging),
            )["UploadId"]
        self._buf.seek(0)
        number = len(self._etags) + 1
        answer = s._call(
            f"uploading part {number} of {self._staging}",
            lambda: s.client.upload_part(
                Bucket=s.bucket,
                Key=self._staging,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buf,
                ContentLength=self._buffered,
            ),
        )
        self._etags.append(answer["ETag"])
        self._buf.seek(0)
        self._buf.truncate()
        self._buffered = 0

    def commit(self, expected_sha256: str | None = None) -> BlobInfo:
        assert not self._done, "writer already finished"
        info = self._check(expected_sha256)  # before anything becomes visible anywhere
        s = self._store
        final = s._key(info.sha256)
        if self._upload_id is None:
            # The whole object is in the buffer and verified: PUT it under its final key (atomic in S3; the
            # same bytes over an existing object change nothing).
            self._buf.seek(0)
            s._call(
                f"writing {final}",
                lambda: s.client.put_object(
                    Bucket=s.bucket, Key=final, Body=self._buf, ContentLength=self._buffered
                ),
            )
        else:
            if self._buffered:
                self._send_part()
            upload_id = self._upload_id
            s._call(
                f"completing the multipart upload {self._staging}",
                lambda: s.client.complete_multipart_upload(
                    Bucket=s.bucket,
                    Key=self._staging,
                    UploadId=upload_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(self._etags, 1)]
                    },
                ),
            )
            self._upload_id = None
            self._staged = True
            if not s.touch(info.sha256):  # stored already: renewed instead (see BlobStore.touch)
                s._copy(self._staging, final, info.size)
            s._delete_key(self._staging)
            self._staged = False
        self._finish()
        return info

    def _finish(self) -> None:
        self._done = True
        self._buf.close()

    def abort(self) -> None:
        """Drop whatever was sent. Best effort: an unreachable store leaves a staging upload for
        `clean_staging` (or a bucket lifecycle rule), and the error that led here is not masked."""
        s = self._store
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                s.client.abort_multipart_upload(Bucket=s.bucket, Key=self._staging, UploadId=upload_id)
            except Exception as exc:
                log.warning("could not abort the multipart upload of %s: %s", self._staging, exc)
        if self._staged:
            self._staged = False
            try:
                s.client.delete_object(Bucket=s.bucket, Key=self._staging)
            except Exception as exc:
                log.warning("could not delete the staging object %s: %s", self._staging, exc)
        if not self._done:
            self._finish()


class _RangedGets:
    """Reads one object with ranged GETs, for a `SeekableReader` (its `read_at` and `close`).

    Sequential reads reuse one open response and ask for exponentially larger ranges; a read elsewhere
    drops it. So a scanner reading a header and a few slices costs a few small GETs, a full read a few
    large ones."""

    def __init__(self, store: "S3BlobStore", key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size
        self._body: Any = None
        self._body_pos = 0  # offset of the next byte `_body` yields
        self._body_end = 0  # offset just past the last byte `_body` yields
        self._ahead = READ_AHEAD_MIN

    def read_at(self, pos: int, want: int) -> bytes:
        """Up to `want` bytes at `pos`: the rest of the open range when that is shorter (a short read)."""
        if self._body is None or self._body_pos != pos or self._body_pos >= self._body_end:
            self._open(pos, want)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            try:
                data = self._body.read(min(want - got, self._body_end - self._body_pos))
            except _STREAM_ERRORS as exc:
                self.close()
                raise _unavailable(f"reading {self._key}", exc) from exc
            if not data:
                self.close()
                raise BlobStoreUnavailable(f"reading {self._key} failed: the object ended early")
            pieces.append(data)
            got += len(data)
            self._body_pos += len(data)
            if self._body_pos >= self._body_end:
                break
        return b"".join(pieces)

    def _open(self, pos: int, want: int) -> None:
        sequential = self._body is not None and self._body_pos == pos
        self.close()
        self._ahead = min(self._ahead * 2, READ_AHEAD_MAX) if sequential else READ_AHEAD_MIN
        end = min(self._size, pos + max(want, self._ahead))
        s = self._store
        answer = s._call(
            f"reading {self._key}",
            lambda: s.client.get_object(Bucket=s.bucket, Key=self._key, Range=f"bytes={pos}-{end - 1}"),
            missing=self._key,
        )
        self._body = answer["Body"]
        self._body_pos, self._body_end = pos, end

    def close(self) -> None:
        """Drop the open response, if any (the next read opens a new one)."""
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None


class S3BlobStore(BlobStore, DirectUploads):
    touch_after = TOUCH_AFTER  # see `touch`

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        part_size: int = 64 * MiB,
        spool_dir: Path | None = None,
        copy_part_size: int = COPY_PART,
        max_single_copy: int = MAX_SINGLE_COPY,
        connect_timeout: float = 5,
        read_timeout: float = 60,
        max_attempts: int = 3,
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"the S3 part size must be at least {MIN_PART} bytes, not {part_size}")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.prefix = prefix
        self.part_size = part_size
        self.spool_dir = spool_dir
        self.copy_part_size = max(copy_part_size, MIN_PART)
        self.max_single_copy = max_single_copy
        config = botocore.config.Config(
            signature_version="s3v4",
            # A custom endpoint (MinIO, moto, an IP address) rarely has wildcard DNS for bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=64,
            # Presigned PUTs come from clients that send nothing but the body: sign no checksum header.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    # -- keys and calls ------------------------------------------------------------------------------------
    def _key(self, sha256: str) -> str:
        if not HEX64.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self.prefix}blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _staging_key(self, name: str) -> str:
        return f"{self.prefix}staging/{name}"

    def _direct_prefix(self, sha256: str, scope: str | None = None) -> str:
        """Where direct uploads of `sha256` are staged: all of them (scope None) or those of one scope."""
        if not HEX64.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        if scope is None:
            return f"{self.prefix}staging/direct/{sha256}/"
        if not re.fullmatch(r"[0-9A-Za-z]{0,16}", scope):
            raise ValueError(f"not an upload scope: {scope!r}")
        return f"{self.prefix}staging/direct/{sha256}/{scope or '_'}/"

    def _direct_key(self, sha256: str, name: str, scope: str = "") -> str:
        if not re.fullmatch(r"[0-9A-Za-z_]{1,64}", name):
            raise ValueError(f"not an upload name: {name!r}")
        return self._direct_prefix(sha256, scope) + _stamped(name)

    def _call(self, what: str, fn: Callable[[], T], *, missing: str | None = None) -> T:
        """Run one S3 request. A missing object is FileNotFoundError when `missing` names it; everything else
        that goes wrong is BlobStoreUnavailable."""
        try:
            return fn()
        except botocore.exceptions.ClientError as exc:
            if missing is not None and _code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"no object {missing} in bucket {self.bucket}") from exc
            raise _unavailable(what, exc) from exc
        except _STREAM_ERRORS as exc:
            raise _unavailable(what, exc) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self._call(
                f"looking up {key}", lambda: self.client.head_object(Bucket=self.bucket, Key=key), missing=key
            )
        except FileNotFoundError:
            return None

    def _delete_key(self, key: str) -> None:
        self._call(f"deleting {key}", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        it = iter(pages)
        while True:
            page = self._call(f"listing {prefix}", lambda: next(it, None))
            if page is None:
                return
            yield from page.get("Contents", [])

    def _copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy: one CopyObject up to the single-copy limit, UploadPartCopy parts above it."""
        src = {"Bucket": self.bucket, "Key": source}
        if size <= self.max_single_copy:
            self._call(
                f"copying {source} to {target}",
                lambda: self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=src),
            )
            return
        part = max(self.copy_part_size, math.ceil(size / MAX_PARTS))
        upload_id = self._call(
            f"starting the multipart copy to {target}",
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=target),
        )["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, part), 1):
                end = min(size, start + part) - 1
                answer = self._call(
                    f"copying part {number} of {source} to {target}",
                    lambda n=number, a=start, z=end: self.client.upload_part_copy(  # type: ignore[misc]
                        Bucket=self.bucket,
                        Key=target,
                        UploadId=upload_id,
                        PartNumber=n,
                        CopySource=src,
                        CopySourceRange=f"bytes={a}-{z}",
                    ),
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self._call(
                f"completing the multipart copy to {target}",
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
                ),
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
            raise

    # -- BlobStore -----------------------------------------------------------------------------------------
    def writer(self, expected_size: int) -> BlobWriter:
        return _S3Writer(self, expected_size)

    def exists(self, sha256: str) -> bool:
        return self._head(self._key(sha256)) is not None

    def size(self, sha256: str) -> int | None:
        head = self._head(self._key(sha256))
        return None if head is None else int(head["ContentLength"])

    def read_all(self, sha256: str, limit: int) -> bytes:
        """One GET (no HEAD first): small git blobs are read on hot paths (cards, .gitignore)."""
        key = self._key(sha256)
        answer = self._call(
            f"reading {key}", lambda: self.client.get_object(Bucket=self.bucket, Key=key), missing=key
        )
        body = answer["Body"]
        try:
            if int(answer["ContentLength"]) > limit:
                raise ValueError(f"blob {sha256} is larger than {limit} bytes")
            try:
                data: bytes = body.read()
            except _STREAM_ERRORS as exc:
                raise _unavailable(f"reading {key}", exc) from exc
        finally:
            body.close()
        if len(data) != int(answer["ContentLength"]):
            raise BlobStoreUnavailable(f"reading {key} failed: the object ended early")
        return data

    def open(self, sha256: str) -> BinaryIO:
        key = self._key(sha256)
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(f"no object {key} in bucket {self.bucket}")
        size = int(head["ContentLength"])
        gets = _RangedGets(self, key, size)
        return open_seekable(size, gets.read_at, buffer_size=256 * 1024, on_close=gets.close)

    def iter_range(self, sha256: str, start: int, length: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        """One ranged GET, streamed."""
        return self._stream(self._key(sha256), start, length, chunk)

    def _stream(self, key: str, start: int, length: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        if length <= 0:
            return
        answer = self._call(
            f"reading {key}",
            lambda: self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            ),
            missing=key,
        )
        body = answer["Body"]
        try:
            left = length
            while left > 0:
                try:
                    data = body.read(min(chunk, left))
                except _STREAM_ERRORS as exc:
                    raise _unavailable(f"reading {key}", exc) from exc
                if not data:
                    raise BlobStoreUnavailable(f"reading {key} failed: the object ended early")
                left -= len(data)
                yield data
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self._delete_key(self._key(sha256))

    def iter_keys(self) -> Iterator[str]:
        for sha256, _size, _mtime in self.iter_objects():
            yield sha256

    def iter_objects(self) -> Iterator[tuple[str, int, datetime]]:
        """(sha256, size, last modified) of every published object; stray keys are skipped."""
        root = f"{self.prefix}blobs/sha256/"
        for obj in self._list(root):
            name = obj["Key"].rsplit("/", 1)[-1]
            if HEX64.match(name) and obj["Key"] == self._key(name):
                yield name, int(obj["Size"]), obj["LastModified"].astimezone(UTC)

    def touch(self, sha256: str) -> bool:
        """S3 cannot set a modification time: the object is copied onto itself, which renews it. Only when
        it is older than `touch_after`: committing content uploaded a moment ago costs a HEAD, no copy."""
        key = self._key(sha256)
        head = self._head(key)
        if head is None:
            return False
        if datetime.now(UTC) - head["LastModified"] < self.touch_after:
            return True
        size = int(head["ContentLength"])
        src = {"Bucket": self.bucket, "Key": key}
        try:
            if size <= self.max_single_copy:
                self._call(
                    f"renewing {key}",
                    lambda: self.client.copy_object(
                        Bucket=self.bucket, Key=key, CopySource=src, MetadataDirective="REPLACE"
                    ),
                    missing=key,
                )
            else:
                self._copy(key, key, size)
        except FileNotFoundError:
            return False
        return True

    def prune(self, sha256: str, older_than: datetime) -> bool:
        """HEAD, then DELETE when older: S3 has no rename to make this atomic, so a touch landing between the
        two requests (milliseconds) is lost; the grace period makes that window matter only for content that
        was unreferenced for the whole grace period and is committed again in that instant."""
        key = self._key(sha256)
        head = self._head(key)
        if head is None or head["LastModified"] >= older_than:
            return False
        self._delete_key(key)
        return True

    def presigned_get_url(self, sha256: str, *, filename: str | None, ttl: int) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(sha256)}
        if filename:
            params["ResponseContentDisposition"] = _content_disposition(filename)
        return self._call(
            "presigning a download URL",
            lambda: self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl),
        )

    def clean_staging(self, older_than_seconds: float = 24 * 3600) -> int:
        """Delete staging objects and abort multipart uploads (writes and direct uploads) older than this."""
        now = datetime.now().astimezone()
        removed = 0
        root = self._staging_key("")
        for obj in self._list(root):
            if (now - obj["LastModified"]).total_seconds() > older_than_seconds:
                self._delete_key(obj["Key"])
                removed += 1
        for up in self._uploads(root):
            if (now - (_stamp_time(up["Key"]) or up["Initiated"])).total_seconds() > older_than_seconds:
                with contextlib.suppress(FileNotFoundError):
                    self._call(
                        f"aborting the multipart upload of {up['Key']}",
                        lambda u=up: self.client.abort_multipart_upload(  # type: ignore[misc]
                            Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"]
                        ),
                        missing=up["Key"],
                    )
                removed += 1
        return removed

    def _uploads(self, prefix: str) -> list[dict[str, Any]]:
        """Multipart uploads in progress under `prefix`."""
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._call(
                f"listing multipart uploads under {prefix}",
                lambda: self.client.list_multipart_uploads(**kwargs),
            )
            out.extend(u for u in page.get("Uploads", []) if u["Key"].startswith(prefix))
            if not page.get("IsTruncated"):
                return out
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def staged(self) -> list[str]:
        """Keys of everything in the staging area: objects and multipart uploads in progress (for tests and
        `omh fsck`)."""
        root = self._staging_key("")
        return sorted(
            [o["Key"] for o in self._list(root)] + [f"{u['Key']} (upload)" for u in self._uploads(root)]
        )

    # -- DirectUploads -------------------------------------------------------------------------------------
    def direct_put_url(self, sha256: str, ttl: int, scope: str = "") -> str:
        key = self._direct_key(sha256, uuid.uuid4().hex, scope)
        return self._call(
            "presigning an upload URL",
            lambda: self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl
            ),
        )

    def direct_multipart_start(
        self, sha256: str, name: str, parts: int, ttl: int, scope: str = ""
    ) -> list[str]:
        if not 1 <= parts <= MAX_PARTS:
            raise ValueError(f"a multipart upload has 1 to {MAX_PARTS} parts, not {parts}")
        key = self._direct_key(sha256, name, scope)
        upload_id = self._call(
            f"starting the multipart upload {key}",
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key),
        )["UploadId"]
        return [
            self._call(
                "presigning a part upload URL",
                lambda n=n: self.client.generate_presigned_url(  # type: ignore[misc]
                    "upload_part",
                    Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": n},
                    ExpiresIn=ttl,
                ),
            )
            for n in range(1, parts + 1)
        ]

    def _direct_upload_id(self, sha256: str, name: str, scope: str) -> tuple[str, str]:
        self._direct_key(sha256, name, scope)  # checks the name and scope
        prefix = self._direct_prefix(sha256, scope)
        ups = [u for u in self._uploads(prefix) if u["Key"].endswith(f"-{name}")]
        if not ups:
            raise FileNotFoundError(f"no multipart upload {name} for {sha256} in bucket {self.bucket}")
        key = ups[0]["Key"]
        return key, ups[0]["UploadId"]

    def direct_multipart_complete(self, sha256: str, name: str, etags: list[str], scope: str = "") -> None:
        key, upload_id = self._direct_upload_id(sha256, name, scope)
        parts = [
            {"PartNumber": n, "ETag": e if e.startswith('"') else f'"{e}"'} for n, e in enumerate(etags, 1)
        ]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise ChecksumError(
                    f"the store refused the parts: {exc}",
                    kind="size" if _code(exc) == "EntityTooSmall" else "checksum",
                ) from exc
            if _code(exc) in _NOT_FOUND:
                raise FileNotFoundError(f"no multipart upload {key} in bucket {self.bucket}") from exc
            raise _unavailable(f"completing the multipart upload {key}", exc) from exc
        except _STREAM_ERRORS as exc:
            raise _unavailable(f"completing the multipart upload {key}", exc) from exc

    def direct_multipart_abort(self, sha256: str, name: str, scope: str = "") -> None:
        try:
            key, upload_id = self._direct_upload_id(sha256, name, scope)
        except FileNotFoundError:
            return
        with contextlib.suppress(FileNotFoundError):
            self._call(
                f"aborting the multipart upload {key}",
                lambda: self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id),
                missing=key,
            )

    def direct_publish(self, sha256: str, size: int, scope: str = "") -> BlobInfo | None:
        final = self._key(sha256)
        head = self._head(final)
        if head is not None and not scope:
            # Unscoped: published already (by a concurrent upload, or a crash came before the row was
            # written) counts as uploaded.
            info = self._digest(final, int(head["ContentLength"]))
            if info.sha256 != sha256 or info.size != size:
                raise ChecksumError(f"the stored object {final} does not match {sha256}/{size}")
            for obj in self._list(self._direct_prefix(sha256, scope)):
                self._delete_key(obj["Key"])
            self.touch(sha256)  # about to be committed: keep it from a concurrent garbage collection
            return info
        # Scoped, the bytes must have been uploaded under this scope, whether or not the object is
        # published already: having uploaded them is what entitles the scope (a repo) to the content.
        candidates = sorted(
            self._list(self._direct_prefix(sha256, scope)), key=lambda o: o["LastModified"], reverse=True
        )
        error: ChecksumError | None = None
        for obj in candidates:
            key, got = obj["Key"], int(obj["Size"])
            if got != size:
                error = ChecksumError(f"received {got} bytes, expected {size}", kind="size")
                self._delete_key(key)
                continue
            info = self._digest(key, size)
            if info.sha256 != sha256:
                error = ChecksumError(f"content sha256 is {info.sha256}, expected {sha256}")
                self._delete_key(key)
                continue
            if self._head(final) is None:
                self._copy(key, final, size)
            else:
                self.touch(sha256)  # about to be committed: keep it from a concurrent garbage collection
            self._delete_key(key)
            return info
        if error is not None:
            raise error
        return None

    def _digest(self, key: str, size: int) -> BlobInfo:
        """Stream an object through sha256 and git's blob id."""
        digest = StreamingDigest(size)
        for chunk in self._stream(key, 0, size, READ_AHEAD_MIN * 4):
            digest.update(chunk)
        return BlobInfo(sha256=digest.sha256, size=digest.size, git_sha1=digest.git_sha1)

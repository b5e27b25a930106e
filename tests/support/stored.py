"""What a test hub has stored, on whichever stack it runs: its local blob directory or its S3 bucket.

- `check_stored(server)`: every object under its final name is complete (hashes to its name); returns how
  many objects there are. Leftovers of interrupted writes (temp files, staging objects, multipart
  uploads in progress) are allowed: a crash leaves them, `omh fsck --repair` collects them. In a bucket, an
  object already found complete is not downloaded again while its ETag and modification time are the same
  (objects are immutable; one written again gets new ones): crash tests check after every restart.
- `object_stored(server, sha256)`: whether an object is stored under its final name.
- `lfs_redirects(server)`: whether the hub answers a download of an LFS file stored whole in its bucket with
  a 302 to a presigned URL (S3 with OMH_S3_DOWNLOAD=redirect, the default) instead of the bytes; the
  metadata headers (ETag, X-Linked-*, X-HF-Warning, ...) are on the 302 then.
"""

import hashlib
from typing import TYPE_CHECKING

from tests.support.moto import client
from tests.support.rawhub import check_blob_store

if TYPE_CHECKING:
    from tests.support.server import HubServer


def _s3(server: "HubServer") -> tuple[str, str, str] | None:
    """(endpoint, bucket, prefix) of a hub storing its files in S3; None for a local blob directory."""
    if server.env.get("OMH_BLOB_STORE") != "s3":
        return None
    return server.env["OMH_S3_ENDPOINT_URL"], server.env["OMH_S3_BUCKET"], server.env.get("OMH_S3_PREFIX", "")


_hashed: set[tuple[str, str, str, str]] = set()  # (bucket, key, ETag, LastModified) found complete


def lfs_redirects(server: "HubServer") -> bool:
    return _s3(server) is not None and server.env.get("OMH_S3_DOWNLOAD", "redirect") == "redirect"


def check_stored(server: "HubServer") -> int:
    s3 = _s3(server)
    if s3 is None:
        return check_blob_store(server.data_dir)
    endpoint, bucket, prefix = s3
    s3c = client(endpoint)
    count = 0
    for page in s3c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}blobs/"):
        for obj in page.get("Contents", []):
            key, name = obj["Key"], obj["Key"].rsplit("/", 1)[-1]
            assert key == f"{prefix}blobs/sha256/{name[:2]}/{name[2:4]}/{name}", (
                f"object at the wrong place: {key}"
            )
            count += 1
            seen = (bucket, key, obj["ETag"], obj["LastModified"].isoformat())
            if seen in _hashed:
                continue
            h = hashlib.sha256()
            for chunk in s3c.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
                h.update(chunk)
            assert h.hexdigest() == name, f"partial or corrupt object under its final name: {key}"
            _hashed.add(seen)
    return count


def object_stored(server: "HubServer", sha256: str) -> bool:
    s3 = _s3(server)
    if s3 is None:
        return (server.data_dir / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256).exists()
    endpoint, bucket, prefix = s3
    key = f"{prefix}blobs/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    found = client(endpoint).list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(o["Key"] == key for o in found)

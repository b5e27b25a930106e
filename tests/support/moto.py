"""S3 for tests: moto's server in server mode (a real HTTP endpoint boto3 talks to as to any S3 store).

- `session_moto(log_dir)`: the moto server this test process shares (started on first use, stopped at exit;
  the same one support/stack.py gives scale-out hubs). The `moto_endpoint` fixture in tests/conftest.py
  yields its endpoint.
- `own_moto(log_dir)`: a moto server of the caller's own, for tests that stop it (storage outages).
- `new_bucket(endpoint)`: a new, uniquely named, empty bucket.
- `make_s3_store(tmp)`: an S3BlobStore on a new bucket.
- `s3_env(endpoint, bucket)`: the OMH_* settings of a hub storing its files in that bucket.
- `check_bucket(endpoint, bucket)`: the S3 twin of rawhub.check_blob_store (every object is complete).
"""

import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.stack import S3_KEY, MotoServer, moto_server

if TYPE_CHECKING:
    from openmodelhub.storage.s3 import S3BlobStore

REGION = "us-east-1"
LOG_DIR = Path(tempfile.gettempdir()) / "omh-test-moto"


def session_moto(log_dir: Path) -> MotoServer:
    return moto_server(log_dir)


@contextmanager
def own_moto(log_dir: Path) -> Iterator[MotoServer]:
    server = MotoServer(log_dir).start()
    try:
        yield server
    finally:
        server.stop()


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    )


def new_bucket(endpoint: str, prefix: str = "omh-t") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:16]}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def make_s3_store(tmp: Path, endpoint: str | None = None, **options: Any) -> "S3BlobStore":
    """An S3BlobStore on a new bucket (on the session moto server unless `endpoint` is given), with the
    smallest part size S3 allows so that multipart paths run on small objects."""
    from openmodelhub.storage.s3 import MIN_PART, S3BlobStore

    endpoint = endpoint or session_moto(LOG_DIR).endpoint
    options.setdefault("part_size", MIN_PART)
    return S3BlobStore(
        new_bucket(endpoint),
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=S3_KEY,
        secret_access_key=S3_KEY,
        spool_dir=tmp,
        **options,
    )


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    return {
        "OMH_BLOB_STORE": "s3",
        "OMH_S3_ENDPOINT_URL": endpoint,
        "OMH_S3_BUCKET": bucket,
        "OMH_S3_REGION": REGION,
        "OMH_S3_ACCESS_KEY_ID": S3_KEY,
        "OMH_S3_SECRET_ACCESS_KEY": S3_KEY,
        **extra,
    }


def check_bucket(endpoint: str, bucket: str, prefix: str = "", *, staging_empty: bool = True) -> set[str]:
    """Every object under `<prefix>blobs/` is at its place and hashes to its name, and (`staging_empty`)
    nothing is left in `<prefix>staging/`, neither objects nor multipart uploads. Returns their sha256s."""
    s3 = client(endpoint)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    blobs = [k for k in keys if k.startswith(f"{prefix}blobs/")]
    if staging_empty:
        assert sorted(set(keys) - set(blobs)) == [], "objects left outside blobs/"
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        assert [u["Key"] for u in uploads] == [], "multipart uploads left in progress"
    for key in blobs:
        name = key.rsplit("/", 1)[-1]
        assert key == f"{prefix}blobs/sha256/{name[:2]}/{name[2:4]}/{name}", (
            f"object at the wrong place: {key}"
        )
        h = hashlib.sha256()
        for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
            h.update(chunk)
        assert h.hexdigest() == name, f"partial or corrupt object under its final name: {key}"
    return {k.rsplit("/", 1)[-1] for k in blobs}


def s3_settings(endpoint: str) -> dict[str, str]:
    """`Settings` fields for an S3 blob store in a new bucket on the moto server at `endpoint`."""
    from tests.support.stack import S3_KEY

    return {
        "blob_store": "s3",
        "s3_endpoint_url": endpoint,
        "s3_bucket": new_bucket(endpoint),
        "s3_region": REGION,
        "s3_access_key_id": S3_KEY,
        "s3_secret_access_key": S3_KEY,
    }

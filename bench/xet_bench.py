"""Upload and download throughput of one large file: through Xet against Git LFS / plain HTTP, in one run.

Usage: .venv/bin/python bench/xet_bench.py [--size-mib N] [--quick]

Starts its own `omh serve` (temp data dir, free port; the `xet_index` job off, so background chunking does not
compete with the measurements) and drives the stock `huggingface_hub` client in subprocesses:

- upload: `upload_file` of a random file with hf_xet (Xet CAS) and with HF_HUB_DISABLE_XET=1 (LFS batch, one
  PUT), two different files of the same size so neither deduplicates against the other;
- download: `hf_hub_download` of the Xet-uploaded file through Xet (fresh hf_xet cache), of the LFS-uploaded
  file over plain HTTP (the hub sendfiles its blob), and of the Xet-uploaded file over plain HTTP (the hub
  reconstructs it from xorbs while streaming).

Times are taken inside the client around the call (interpreter start excluded). Prints MB/s and the Xet/LFS
ratios. Not part of the test suite; `make bench` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20

CLIENT = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from huggingface_hub import HfApi, hf_hub_download
    op, repo, path, token, cache = json.loads(sys.argv[1])
    api = HfApi(token=token)
    if op == "upload":
        api.create_repo(repo, exist_ok=True)
        t = time.perf_counter()
        api.upload_file(path_or_fileobj=path, path_in_repo="big.bin", repo_id=repo)
        seconds = time.perf_counter() - t
        digest = None
    else:
        t = time.perf_counter()
        got = hf_hub_download(repo, "big.bin", token=token, cache_dir=cache)
        seconds = time.perf_counter() - t
        h = hashlib.sha256()
        with open(got, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
    print("RESULT=" + json.dumps({"seconds": seconds, "sha256": digest}))
    """
)


def omh(data_dir: Path, env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "openmodelhub.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return out.stdout.strip()


def client(env: dict[str, str], *args: object) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, json.dumps(list(args))], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(f"client failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("RESULT="))
    return json.loads(line[len("RESULT=") :])  # type: ignore[no-any-return]


def random_file(path: Path, size: int) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 16 * MiB))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    opts, _unknown = parser.parse_known_args()  # `make bench` passes hub_bench's options too
    size = (256 if opts.quick else opts.size_mib) * MiB
    work = Path(tempfile.mkdtemp(prefix="omh-xet-bench-"))
    data = work / "data"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMH_XET_INDEX_UPLOADS": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("HF_HUB_DISABLE_XET", None)
    server = None
    try:
        omh(data, env, "user", "create", "bench")
        token = omh(data, env, "token", "create", "--user", "bench", "--write").splitlines()[-1]
        log = open(work / "server.log", "wb")  # noqa: SIM115 - handed to the child
        server = subprocess.Popen(
            [sys.executable, "-m", "openmodelhub.cli", "serve", "--port", str(port), "--data-dir", str(data)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(url)
        files = {name: work / f"{name}.bin" for name in ("xet", "lfs")}
        digests = {name: random_file(path, size) for name, path in files.items()}
        base = {
            **env,
            "HF_ENDPOINT": url,
            "HF_HOME": str(work / "hf-home"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_XET_TELEMETRY_ENABLED": "false",
        }
        xet_env = {**base, "HF_XET_CACHE": str(work / "xet-cache-up")}
        lfs_env = {**base, "HF_HUB_DISABLE_XET": "1"}
        results: dict[str, float] = {}
        results["upload xet"] = float(
            client(xet_env, "upload", "bench/xet", str(files["xet"]), token, "")["seconds"]
        )
        results["upload lfs"] = float(
            client(lfs_env, "upload", "bench/lfs", str(files["lfs"]), token, "")["seconds"]
        )
        runs = [
            ("download xet", {**base, "HF_XET_CACHE": str(work / "xet-cache-down")}, "bench/xet", "xet"),
            ("download lfs (plain HTTP, blob)", lfs_env, "bench/lfs", "lfs"),
            ("download xet file over plain HTTP", lfs_env, "bench/xet", "xet"),
        ]
        for label, run_env, repo, name in runs:
            cache = work / f"cache-{len(results)}"
            got = client(run_env, "download", repo, "", token, str(cache))
            if got["sha256"] != digests[name]:
                raise SystemExit(f"{label}: downloaded bytes differ from the uploaded file")
            results[label] = float(got["seconds"])  # type: ignore[arg-type]
            shutil.rmtree(cache, ignore_errors=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    mb = size / 1e6
    print(f"\nXet vs LFS, one {size // MiB} MiB random file, {os.cpu_count()} cores (MB/s = 10^6 bytes/s)\n")
    print(f"{'measure':<38} {'seconds':>8} {'MB/s':>8}")
    for label, seconds in results.items():
        print(f"{label:<38} {seconds:>8.2f} {mb / seconds:>8.1f}")
    up = results["upload lfs"] / results["upload xet"]
    down = results["download lfs (plain HTTP, blob)"] / results["download xet"]
    plain = results["download lfs (plain HTTP, blob)"] / results["download xet file over plain HTTP"]
    print(f"\nupload throughput   Xet / LFS:                 {up:.2f}x")
    print(f"download throughput Xet / LFS:                 {down:.2f}x")
    print(f"plain HTTP download Xet-stored / blob-stored:  {plain:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/models?limit=1", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the hub at {url} did not start")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()

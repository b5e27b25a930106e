"""The hub's fast paths against nginx serving the same files from the same disk, side by side in one run.

Usage: .venv/bin/python bench/hub_bench.py [--quick] [--save] [--server S] [--workers N] [--keep]

Starts its own `omh serve` (temp data dir, free port) holding all-MiniLM-L6-v2 and a 1 GiB LFS file, and an
nginx (own config, `sendfile on`, as many workers as the hub) whose root is the hub's blob directory and which
also serves a static mirror of the hub protocol for those two repos (repo info, tree, and /resolve with the
hub's X-Repo-Commit / ETag / X-Linked-* headers, see hub_mirror), so the same curl and huggingface_hub code
runs against both. Fairness: hub and nginx runs alternate (a slow spell of the VM hits both), throughputs
are medians of many runs, both read the same blob file from a warm page cache, nobody is pinned to a core,
the memory poller runs outside timed comparisons, and each timed section first waits for an idle machine
(other work, the hub's own background jobs included). Needs nginx, ab (apache2-utils) and curl on PATH;
`make bench` installs them. Prints one table (measure, value, baseline, ratio, target, pass); `--save` also
writes it with the machine's cores, memory, the date and how idle it was to bench/results/<date>.md.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
BIG_REPO = "bench/big"
UPLOAD_REPO = "bench/upload"
GiB = 1 << 30
MiB = 1 << 20


# -- processes -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def omh(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Runs an `omh` command; `env` adds to (overrides) this process's environment."""
    out = subprocess.run(
        [sys.executable, "-m", "openmodelhub.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    if out.returncode != 0:
        raise SystemExit(f"omh {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer within {timeout}s")


def start_omh(
    data_dir: Path,
    port: int,
    *,
    workers: int | None = None,
    server: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`omh serve` in a process group of its own, answering once this returns."""
    cmd = [sys.executable, "-m", "openmodelhub.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--log-level", "warning"]
    if server:
        cmd += ["--server", server]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, start_new_session=True, env={**os.environ, **env} if env else None)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/models?limit=1", proc, "omh serve")
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group the bench started, then SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_bytes(pids: list[int]) -> tuple[int, int]:
    """(summed VmRSS, summed PSS) of `pids`. VmRSS counts pages that forked workers share once per process;
    PSS splits each shared page between its users, so its sum is what the process tree really holds."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, pss


@contextmanager
def rss_peak(root_pid: int) -> Iterator[list[int]]:
    """Polls the memory of the server's process tree every 20 ms (re-listing the tree every 0.5 s: a walk of
    /proc costs ~2 ms of CPU); yields [peak summed VmRSS, peak summed PSS]. The polling takes CPU, so timed
    comparisons with nginx run outside it."""
    peak = [0, 0]
    done = threading.Event()

    def poll() -> None:
        pids, listed = process_tree(root_pid), time.monotonic()
        while not done.is_set():
            if time.monotonic() - listed > 0.5:
                pids, listed = process_tree(root_pid), time.monotonic()
            rss, pss = memory_bytes(pids)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(0.02)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        yield peak
    finally:
        done.set()
        t.join()


# -- files ---------------------------------------------------------------------------------------------------
def write_random_file(path: Path, size: int, seed: int) -> str:
    """`size` bytes that do not repeat within 1 MiB blocks; returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(MiB))
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size // MiB):
            block[:16] = (seed * 1_000_003 + i).to_bytes(16, "little")
            f.write(block)
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def blob_path(blob_root: Path, sha: str) -> Path:
    return blob_root / sha[:2] / sha[2:4] / sha


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- measuring tools -----------------------------------------------------------------------------------------
def curl_get(url: str, *, follow: bool = False) -> float:
    """Seconds for one GET into /dev/null (`follow`: through redirects, counting them)."""
    flags = ["-sS", "-L"] if follow else ["-sS"]
    out = subprocess.run(
        ["curl", *flags, "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if out[0] != "200":
        raise SystemExit(f"GET {url} answered {out[0]}")
    return float(out[1])


@dataclass
class AbResult:
    rps: float
    errors: int
    p99_ms: float
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")


def ab(url: str, n: int, c: int, *, head: bool) -> AbResult:
    args = ["ab", "-q", "-k", "-n", str(n), "-c", str(c), *(["-i"] if head else []), url]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    if rps is None:
        raise SystemExit(f"ab failed on {url}:\n{out}")
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    errors = (int(failed.group(1)) if failed else 0) + (int(non2xx.group(1)) if non2xx else 0)

    def pct(p: int) -> float:  # ab prints whole milliseconds
        m = re.search(rf"^\s+{p}%\s+(\d+)", out, re.M)
        return float(m.group(1)) if m else float("nan")

    return AbResult(float(rps.group(1)), errors, pct(99), pct(50), pct(95))


def best(fn: Callable[[], float], runs: int) -> float:
    return min(fn() for _ in range(runs))


# -- nginx ---------------------------------------------------------------------------------------------------
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 60;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
{locations}
    }}
}}
"""


def start_nginx(prefix: Path, root: Path, port: int, locations: str = "") -> subprocess.Popen[bytes]:
    """nginx with `root` as its document root, plus extra `locations` (see hub_mirror)."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # the temp data dir is private to us
    conf.write_text(
        NGINX_CONF.format(
            workers=os.cpu_count() or 1, prefix=prefix, root=root, port=port, user=user, locations=locations
        )
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/", proc, "nginx")
    return proc


# The headers huggingface_hub reads from a /resolve answer (file_download.get_hf_file_metadata), copied from
# the hub into the nginx mirror. X-Xet-Hash and its Link are left out: the clients run with Xet disabled on
# both sides, so both take the plain HTTP path.
MIRRORED_HEADERS = ("X-Repo-Commit", "ETag", "X-Linked-Etag", "X-Linked-Size")


def hub_mirror(hub: str, root: Path, blob_root: Path, repo_id: str, files: Mapping[str, str]) -> str:
    """A static copy of the hub protocol for one model repo, served by nginx: the repo-info JSON at
    /api/models/<id>/revision/main, the recursive tree listing at /api/models/<id>/tree/<commit>, and every
    file of `files` ({path: sha256 of its content}) at /<id>/resolve/<main|commit>/<path> straight from the
    hub's blob, with the headers the hub answers (MIRRORED_HEADERS). The JSON bodies and headers are captured
    from the running hub, so the same huggingface_hub code can run against either server. Returns the nginx
    `location` blocks."""
    api = f"/api/models/{repo_id}"
    info = httpx.get(f"{hub}{api}/revision/main", timeout=30)
    info.raise_for_status()
    commit = info.json()["sha"]
    tree = httpx.get(f"{hub}{api}/tree/{commit}", params={"recursive": True, "expand": False}, timeout=30)
    tree.raise_for_status()
    if "next" in tree.links:
        raise SystemExit(f"the tree of {repo_id} is paginated; the nginx mirror holds one page only")
    listed = {e["path"] for e in tree.json() if e["type"] == "file"}
    if listed != set(files):
        raise SystemExit(f"the hub lists {sorted(listed)} for {repo_id}, the bench expected {sorted(files)}")
    blocks = []
    for name, body in (("revision/main", info.content), (f"tree/{commit}", tree.content)):
        dest = root / f"{api.strip('/')}/{name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(body)
        blocks.append(f"location = {api}/{name} {{ default_type application/json; alias {dest}; }}")
    for path, sha in sorted(files.items()):
        head = httpx.head(f"{hub}/{repo_id}/resolve/{commit}/{path}", timeout=30)
        head.raise_for_status()
        adds = " ".join(
            f"add_header {h} '{head.headers[h]}' always;" for h in MIRRORED_HEADERS if h in head.headers
        )
        for rev in ("main", commit):
            blocks.append(
                f"location = /{repo_id}/resolve/{rev}/{path} "
                f"{{ etag off; alias {blob_path(blob_root, sha)}; {adds} }}"
            )
    return "\n".join(f"        {b}" for b in blocks)


def check_mirror(hub_url: str, nginx_url: str) -> None:
    """The nginx mirror answers a HEAD with the same protocol headers and length as the hub."""
    want = ("Content-Length", *MIRRORED_HEADERS)
    a, b = httpx.head(hub_url, timeout=30), httpx.head(nginx_url, timeout=30)
    ha = {h: a.headers.get(h) for h in want}
    hb = {h: b.headers.get(h) for h in want}
    if a.status_code != 200 or b.status_code != 200 or ha != hb:
        raise SystemExit(
            f"the nginx mirror differs from the hub:\n{a.status_code} {ha}\n{b.status_code} {hb}"
        )


def cpu_idle(seconds: float = 1.0) -> float:
    """Share of CPU time (all cores) that was idle over `seconds`, from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(what: str, idle_seen: list[float], timeout: float = 180) -> None:
    """Waits (up to `timeout` s) until the machine is at least 85% idle, so that other work on the cores (the
    hub's own background jobs too: chunking a fresh 1 GiB file into Xet xorbs takes tens of seconds) does not
    skew one side of a comparison; records the idle share it saw last in `idle_seen`."""
    deadline = time.monotonic() + timeout
    idle = cpu_idle()
    while idle < 0.85 and time.monotonic() < deadline:
        print(f"{what}: waiting for a quiet machine ({idle:.0%} idle)", file=sys.stderr)
        time.sleep(4)
        idle = cpu_idle()
    if idle < 0.85:
        print(f"{what}: measuring on a busy machine ({idle:.0%} idle)", file=sys.stderr)
    idle_seen.append(idle)


def interleaved(a: Callable[[], float], b: Callable[[], float], runs: int) -> tuple[list[float], list[float]]:
    """`runs` timings of each of `a` and `b`, alternating a-b, b-a, ... so that a slow spell of the machine
    falls on both sides alike."""
    ra: list[float] = []
    rb: list[float] = []
    for i in range(runs):
        order = [(a, ra), (b, rb)] if i % 2 == 0 else [(b, rb), (a, ra)]
        for fn, out in order:
            out.append(fn())
    return ra, rb


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2


def run_timed(code: str, env: Mapping[str, str]) -> float:
    """Runs Python `code` in a fresh interpreter; its last output line is the seconds it measured."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(env), check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"client failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def client_dir(tmp: Path, need: int) -> Path:
    """A fresh directory for a client's downloads: in /dev/shm when it has room for `need` bytes (twice over),
    so that writing back the previous run's files to disk does not slow the next one, else under `tmp`."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * need:
        return Path(tempfile.mkdtemp(prefix="omh-bench-", dir=shm))
    return Path(tempfile.mkdtemp(dir=tmp))


def hf_client_env() -> dict[str, str]:
    """The environment of every huggingface_hub client run, hub or nginx: no token, no telemetry, no Xet."""
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}
    env.pop("HF_TOKEN", None)
    return env


# -- the table -----------------------------------------------------------------------------------------------
@dataclass
class Row:
    measure: str
    value: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None  # None: no target


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x" if x >= 0.01 else f"{x:.4f}x"


def gbps_row(measure: str, size: int, t_hub: list[float], t_ngx: list[float]) -> Row:
    """A throughput row from interleaved timings: the medians (and bests) of the hub and of nginx, and the
    ratio of the medians. Single runs scatter by +-25% on a shared 2-core VM (nginx's too), so one run, or the
    best of a few, can land on either side of 0.9x by chance; the median of many does not."""
    med_hub, med_ngx = size / median(t_hub) / 1e9, size / median(t_ngx) / 1e9
    ratio = med_hub / med_ngx
    return Row(
        f"{measure}, median of {len(t_hub)}",
        f"{med_hub:.2f} GB/s (best {size / min(t_hub) / 1e9:.2f})",
        f"nginx {med_ngx:.2f} GB/s (best {size / min(t_ngx) / 1e9:.2f})",
        fmt_ratio(ratio),
        ">= 0.9x nginx",
        ratio >= 0.9,
    )


def table(rows: list[Row]) -> str:
    head = ["measure", "value", "baseline", "ratio", "target", "pass"]
    cells = [
        [
            r.measure,
            r.value,
            r.baseline,
            r.ratio,
            r.target,
            "-" if r.ok is None else ("PASS" if r.ok else "FAIL"),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *cells, strict=False)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    return "\n".join([line, sep, *body])


# -- the run -------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64 MiB files and fewer requests (a smoke run)")
    ap.add_argument("--save", action="store_true", help="also write the table to bench/results/<date>.md")
    ap.add_argument("--server", default=None, help="passed to `omh serve --server`")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="`omh serve --workers` (cores)")
    ap.add_argument("--requests", type=int, default=None, help="requests per ab run")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()
    for tool in ("nginx", "ab", "curl", "sha256sum"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not installed: run `make bench` (it installs nginx and apache2-utils)"
            )

    from openmodelhub.demo import minilm_dir

    size = 64 * MiB if args.quick else GiB
    n_req = args.requests or (4000 if args.quick else 30000)
    size_label = f"{size // MiB} MiB" if size < GiB else f"{size // GiB} GiB"
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="omh-bench-"))
    data = tmp / "data"
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    idle_seen: list[float] = []
    try:
        # -- set-up: MiniLM and a big LFS file, imported with the CLI -------------------------------------
        print(f"set-up in {tmp} ({size_label} files)", file=sys.stderr)
        big_dir = tmp / "big"
        big_sha = write_random_file(big_dir / "big.bin", size, seed=1)
        omh(data, "import", str(minilm_dir()), MINILM_ID)
        omh(data, "import", str(big_dir), BIG_REPO)
        omh(data, "user", "create", "benchbot", "--admin")
        token = omh(data, "token", "create", "--user", "benchbot", "--write").strip().splitlines()[-1]
        upload_file = tmp / "upload.bin"
        upload_sha = write_random_file(upload_file, size, seed=2)

        port = free_port()
        server = start_omh(data, port, workers=args.workers, server=args.server)
        procs.append(server)
        hub = f"http://127.0.0.1:{port}"
        blob_root = data / "blobs" / "sha256"
        # nginx serves the blob directory (plain blob URLs), and a static mirror of the hub protocol for
        # MiniLM and the big file, so the same huggingface_hub code can run against both servers.
        files = sorted(p for p in minilm_dir().rglob("*") if p.is_file() and ".cache" not in p.parts)
        minilm_shas = {p.relative_to(minilm_dir()).as_posix(): sha256_file(p) for p in files}
        total = sum(p.stat().st_size for p in files)
        mirror = tmp / "nginx" / "mirror"
        locations = hub_mirror(hub, mirror, blob_root.resolve(), MINILM_ID, minilm_shas)
        locations += "\n" + hub_mirror(hub, mirror, blob_root.resolve(), BIG_REPO, {"big.bin": big_sha})
        nport = free_port()
        nginx = start_nginx(tmp / "nginx", blob_root.resolve(), nport, locations)
        procs.append(nginx)
        ngx = f"http://127.0.0.1:{nport}"
        check_mirror(
            f"{hub}/{MINILM_ID}/resolve/main/config.json", f"{ngx}/{MINILM_ID}/resolve/main/config.json"
        )
        check_mirror(f"{hub}/{BIG_REPO}/resolve/main/big.bin", f"{ngx}/{BIG_REPO}/resolve/main/big.bin")
        time.sleep(1.0)  # let worker processes settle
        runs = 15  # per side, interleaved (see gbps_row)

        def blob_url(sha: str) -> str:
            return f"{ngx}/{sha[:2]}/{sha[2:4]}/{sha}"

        # -- 1. big GET: curl and hf_hub_download, interleaved with nginx -------------------------------
        print("GET big file", file=sys.stderr)
        hub_big = f"{hub}/{BIG_REPO}/resolve/main/big.bin"
        ngx_big = f"{ngx}/{BIG_REPO}/resolve/main/big.bin"
        curl_get(hub_big)  # warm the page cache (one file, read by both servers) and the hub's caches
        curl_get(ngx_big)
        with rss_peak(server.pid) as peak_down:  # untimed: the memory poller takes CPU from the server
            curl_get(hub_big)
        wait_quiet("GET", idle_seen)
        t_hub, t_ngx = interleaved(lambda: curl_get(hub_big), lambda: curl_get(ngx_big), runs)
        rows.append(gbps_row(f"GET {size_label} /resolve (curl)", size, t_hub, t_ngx))

        def hf_download(endpoint: str) -> float:
            dest = client_dir(tmp, size)
            code = (
                "import time\nfrom huggingface_hub import hf_hub_download\nt=time.perf_counter()\n"
                f"hf_hub_download({BIG_REPO!r}, 'big.bin', endpoint={endpoint!r}, cache_dir={str(dest)!r})\n"
                "print(time.perf_counter()-t)"
            )
            try:
                return run_timed(code, hf_client_env())
            finally:
                shutil.rmtree(dest)

        wait_quiet("hf_hub_download", idle_seen)
        t_hub, t_ngx = interleaved(lambda: hf_download(hub), lambda: hf_download(ngx), 5)
        rows.append(gbps_row(f"GET {size_label} /resolve (hf_hub_download)", size, t_hub, t_ngx))

        # -- 2./3. HEAD resolve -------------------------------------------------------------------------
        print("HEAD /resolve", file=sys.stderr)
        cfg_sha = minilm_shas["config.json"]
        head_url = f"{hub}/{MINILM_ID}/resolve/main/config.json"
        ab(head_url, min(n_req, 2000), 64, head=True)  # warm-up
        h64 = ab(head_url, n_req, 64, head=True)
        n64 = ab(blob_url(cfg_sha), n_req * 4, 64, head=True)
        rows.append(
            Row(
                "HEAD /resolve, 64 conns (ab -i -k)",
                f"{h64.rps:,.0f} req/s, {h64.errors} err",
                f"nginx {n64.rps:,.0f} req/s",
                fmt_ratio(h64.rps / n64.rps),
                ">= 10,000 req/s, 0 err",
                h64.rps >= 10_000 and h64.errors == 0,
            )
        )
        h4 = ab(head_url, max(n_req // 4, 2000), 4, head=True)
        n4 = ab(blob_url(cfg_sha), max(n_req // 4, 2000), 4, head=True)
        rows.append(
            Row(
                "HEAD /resolve p99, 4 conns",
                f"{h4.p99_ms:.0f} ms ({h4.rps:,.0f} req/s)",
                f"nginx {n4.p99_ms:.0f} ms",
                "-",
                "<= 5 ms",
                h4.p99_ms <= 5 and h4.errors == 0,
            )
        )

        # -- 4. model_info ------------------------------------------------------------------------------
        print("model_info", file=sys.stderr)
        info_url = f"{hub}/api/models/{MINILM_ID}"
        ab(info_url, min(n_req, 1000), 64, head=False)
        mi = ab(info_url, max(n_req // 3, 2000), 64, head=False)
        rows.append(
            Row(
                "model_info, 64 conns (ab -k)",
                f"{mi.rps:,.0f} req/s, {mi.errors} err",
                "-",
                "-",
                ">= 2,500 req/s, 0 err",
                mi.rps >= 2_500 and mi.errors == 0,
            )
        )

        # -- 5./6. upload ingest and re-upload ----------------------------------------------------------
        print("upload", file=sys.stderr)
        client = httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"})
        r = client.post(f"{hub}/api/repos/create", json={"name": "upload", "organization": "bench"})
        r.raise_for_status()
        lfs_json = "application/vnd.git-lfs+json"

        def batch() -> dict[str, Any]:
            r = client.post(
                f"{hub}/{UPLOAD_REPO}.git/info/lfs/objects/batch",
                json={
                    "operation": "upload",
                    "transfers": ["basic"],
                    "hash_algo": "sha256",
                    "objects": [{"oid": upload_sha, "size": size}],
                },
                headers={"Accept": lfs_json, "Content-Type": lfs_json},
            )
            r.raise_for_status()
            obj: dict[str, Any] = r.json()["objects"][0]
            assert "error" not in obj, obj
            return obj

        def commit(path: str) -> None:
            lines = [
                {"key": "header", "value": {"summary": f"add {path}", "description": ""}},
                {
                    "key": "lfsFile",
                    "value": {"path": path, "algo": "sha256", "oid": upload_sha, "size": size},
                },
            ]
            body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
            r = client.post(
                f"{hub}/api/models/{UPLOAD_REPO}/commit/main",
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
            r.raise_for_status()

        def baseline_ingest() -> float:
            dest = tmp / "cp-copy.bin"
            t0 = time.perf_counter()
            subprocess.run(["sha256sum", str(upload_file)], check=True, capture_output=True)
            subprocess.run(["cp", str(upload_file), str(dest)], check=True)
            subprocess.run(["sync", str(dest)], check=True)  # the hub fsyncs what it stores
            elapsed = time.perf_counter() - t0
            dest.unlink()
            return elapsed

        t_base = best(baseline_ingest, 2)
        stored_before = du(blob_root)
        with rss_peak(server.pid) as peak_up:
            t0 = time.perf_counter()
            obj = batch()
            actions = obj["actions"]
            out = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-T",
                    str(upload_file),
                    actions["upload"]["href"],
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert out == "200", out
            client.post(actions["verify"]["href"], json={"oid": upload_sha, "size": size}).raise_for_status()
            t_ingest = time.perf_counter() - t0
        commit("first.bin")
        t_first = time.perf_counter() - t0
        stored_mid = du(blob_root)
        t1 = time.perf_counter()
        again = batch()
        assert not again.get("actions"), again
        commit("again.bin")
        t_again = time.perf_counter() - t1
        new_bytes = du(blob_root) - stored_mid
        rows.append(
            Row(
                f"LFS PUT ingest {size_label}",
                f"{size / t_ingest / 1e9:.2f} GB/s ({t_ingest:.2f} s)",
                f"sha256sum+cp {t_base:.2f} s",
                fmt_ratio(t_base / t_ingest),
                ">= 0.8x",
                t_base / t_ingest >= 0.8,
            )
        )
        rows.append(
            Row(
                "re-upload identical content",
                f"{new_bytes} new bytes, {t_again * 1000:.0f} ms",
                f"first upload {t_first:.2f} s",
                f"{t_again / t_first * 100:.1f}%",
                "0 bytes, <= 5%",
                new_bytes == 0 and t_again / t_first <= 0.05,
            )
        )
        assert stored_mid - stored_before >= size

        # -- 7. snapshot_download: the same client code against the hub and the nginx mirror --------------
        print("snapshot_download", file=sys.stderr)

        def snapshot(endpoint: str) -> float:
            dest = client_dir(tmp, total)
            code = (
                "import time\nfrom huggingface_hub import snapshot_download\nt=time.perf_counter()\n"
                f"snapshot_download({MINILM_ID!r}, endpoint={endpoint!r}, cache_dir={str(dest)!r},"
                " max_workers=8)\n"
                "print(time.perf_counter()-t)"
            )
            try:
                return run_timed(code, hf_client_env())
            finally:
                shutil.rmtree(dest)

        snapshot(hub)  # warm-up: the hub's caches, the page cache
        snapshot(ngx)
        wait_quiet("snapshot_download", idle_seen)
        snap_runs = 10
        t_snap, t_snap_ngx = interleaved(lambda: snapshot(hub), lambda: snapshot(ngx), snap_runs)
        ratio = median(t_snap_ngx) / median(t_snap)
        rows.append(
            Row(
                f"snapshot_download MiniLM ({len(files)} files, {total / 1e6:.0f} MB), 8 workers, median of"
                f" {snap_runs}",
                f"{median(t_snap):.3f} s (best {min(t_snap):.3f})",
                f"nginx mirror {median(t_snap_ngx):.3f} s (best {min(t_snap_ngx):.3f})",
                fmt_ratio(ratio),
                ">= 0.9x",
                ratio >= 0.9,
            )
        )

        # -- 8. RSS -------------------------------------------------------------------------------------
        for what, peak in (("upload", peak_up), ("download", peak_down)):
            rows.append(
                Row(
                    f"server memory during {size_label} {what}",
                    f"PSS {peak[1] / 1e6:.0f} MB (VmRSS sum {peak[0] / 1e6:.0f} MB)",
                    "-",
                    "-",
                    "< 200 MB (PSS)",
                    peak[1] < 200e6,
                )
            )
    finally:
        for p in reversed(procs):
            stop(p)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    server_desc = f"omh serve{' --server ' + args.server if args.server else ''}"
    server_desc += f"{' --workers ' + str(args.workers) if args.workers else ''}"
    out = table(rows)
    print(out)
    elapsed = time.monotonic() - started
    load = os.getloadavg()
    lo, hi = min(idle_seen, default=0), max(idle_seen, default=0)
    quiet = f"CPU idle before the timed sections {lo:.0%} to {hi:.0%}"
    quick = " (--quick)" if args.quick else ""
    summary = (
        f"{server_desc}; {size_label} files{quick}; {n_req} requests per ab run; "
        f"took {elapsed:.0f} s; {quiet}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )
    print(f"\n{summary}")
    if args.save:
        save_results("hub_bench", "", summary, out)


def save_results(title: str, suffix: str, summary: str, out: str) -> Path:
    """Writes a table with the machine's cores, memory and the date to bench/results/<date><suffix>.md."""
    mem = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    now = dt.datetime.now()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    dest = results / f"{now:%Y-%m-%d}{suffix}.md"
    dest.write_text(
        f"# {title} {now:%Y-%m-%d %H:%M}\n\n{os.cpu_count()} cores, {mem} MiB memory; {summary}\n\n{out}\n"
    )
    print(f"saved {dest}", file=sys.stderr)
    return dest


if __name__ == "__main__":
    main()

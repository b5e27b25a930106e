"""The scale-out stack (PostgreSQL, S3 on a moto server) measured side by side in one run.

Usage: .venv/bin/python bench/scaleout_bench.py [--quick] [--save] [--repos N] [--parts P,...] [--keep]

1. seed: a fresh PostgreSQL database (created here, dropped at the end) is filled in-process through the
   services, the way commits arrive: N repos (10,000; --quick 1,000) of 10 small files each in one commit,
   with varied names, authors and card tags. The first 100 repos are seeded and measured first: the baseline.
2. list: list/search (`/api/models?search=`, `author=`, `sort=`, `filter=`, `full=`), model_info,
   list_repo_tree and paths-info against `omh serve --workers 2` on that database: p50/p95 of sequential
   requests (httpx, one connection) and throughput/p95 under 16 connections (wrk), at N repos against the same
   requests at 100 repos.
3. head: HEAD /resolve of a small file (ab -i -k -c 64; wrk mishandles HEAD), 2 worker processes vs 1, on
   PostgreSQL and on the embedded SQLite hub as a reference.
4. download: GET of one LFS file (256 MiB; --quick 64 MiB) stored in S3 on a moto server, with
   OMH_S3_DOWNLOAD=redirect (302 to a presigned URL, followed by `curl -L`) vs proxy (bytes streamed through
   the hub), and nginx serving the same file from disk as a reference.

Needs PostgreSQL at --pg (default 127.0.0.1:5432, user postgres), nginx, ab, wrk and curl
(`make bench-scaleout` installs them). Prints one table (measure, value, baseline, ratio, target, pass);
`--save` also writes it with the machine's cores, memory and the date to bench/results/<date>-scaleout.md.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
from hub_bench import (
    MiB,
    Row,
    ab,
    best,
    curl_get,
    fmt_ratio,
    free_port,
    memory_bytes,
    omh,
    process_tree,
    rss_peak,
    save_results,
    start_nginx,
    start_omh,
    stop,
    table,
    wait_http,
    write_random_file,
)

from openmodelhub.protocol.names import DEFAULT_BRANCH, RepoType
from openmodelhub.services.auth import Principal
from openmodelhub.services.commits import AddFile, CommitRequest
from openmodelhub.services.container import Services
from openmodelhub.services.errors import RepoExists
from openmodelhub.settings import Settings
from openmodelhub.storage import BlobInfo

PARTS = ("list", "head", "download")
BASE_REPOS = 100  # the baseline size; repos 0..99 exist at both sizes, so per-repo requests use them
PER_REPO = (3, 42, 77)
AUTHORS = 50
FAMILIES = ("bert", "llama", "mistral", "qwen", "phi", "t5", "whisper", "gpt2")
SIZES = ("tiny", "base", "large", "7b", "13b")
VARIANTS = ("", "-instruct", "-chat")
PIPELINES = {
    "bert": "fill-mask",
    "llama": "text-generation",
    "mistral": "text-generation",
    "qwen": "text-generation",
    "phi": "text-generation",
    "t5": "text2text-generation",
    "whisper": "automatic-speech-recognition",
    "gpt2": "text-generation",
}
LICENSES = ("mit", "apache-2.0", "cc-by-4.0", "bsd-3-clause", "openrail")
LANGUAGES = ("en", "fr", "de", "es", "zh")
# Files every repo has, whose content comes from a pool of POOL variants (as tokenizers and configs repeat
# across a real hub's repos); README.md and config.json are the repo's own.
SHARED_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "generation_config.json",
    "merges.txt",
    "eval/results.json",
    "docs/usage.md",
)
POOL = 16
BIG_REPO = "bench/big"


# -- the seeded content --------------------------------------------------------------------------------------
def author(i: int) -> str:
    return f"org{i % AUTHORS:02d}"


def repo_name(i: int) -> str:
    family, size = FAMILIES[i % len(FAMILIES)], SIZES[(i // len(FAMILIES)) % len(SIZES)]
    return f"{family}-{size}{VARIANTS[i % len(VARIANTS)]}-{i:05d}"


def repo_id(i: int) -> str:
    return f"{author(i)}/{repo_name(i)}"


def repo_files(i: int) -> dict[str, str]:
    """The 10 files of repo `i`: path -> text."""
    family = FAMILIES[i % len(FAMILIES)]
    readme = (
        "---\n"
        f"license: {LICENSES[i % len(LICENSES)]}\n"
        f"language: [{LANGUAGES[i % len(LANGUAGES)]}]\n"
        f"tags: [{family}, t{i % 7}, bench]\n"
        f"pipeline_tag: {PIPELINES[family]}\n"
        "library_name: transformers\n"
        "---\n"
        f"# {repo_name(i)}\n\nSeeded by bench/scaleout_bench.py (repo {i}).\n"
    )
    config = {"model_type": family, "hidden_size": 64 * (i % 8 + 1), "num_hidden_layers": 2, "seed": i}
    files = {"README.md": readme, "config.json": json.dumps(config, indent=2) + "\n"}
    variant = i % POOL
    for path in SHARED_FILES:
        files[path] = f"{path} variant {variant}\n" + "x" * (200 + 37 * variant) + "\n"
    return files


class Seeder:
    """Creates seeded repos through the services of one process."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.shared: dict[str, BlobInfo] = {}
        self.actors: dict[str, Principal] = {}

    def actor(self, name: str) -> Principal:
        if name not in self.actors:
            user = self.svc.auth.get_user(name)
            self.actors[name] = Principal(
                user_id=user.id,
                name=name,
                is_admin=False,
                role="write",
                token_name="bench",
                token_created_at="",
            )
        return self.actors[name]

    def blob(self, path: str, text: str) -> BlobInfo:
        if path not in SHARED_FILES:
            return self.svc.hub.blobs.put_bytes(text.encode())
        if text not in self.shared:  # stored (and fsynced) once per process, not once per repo
            self.shared[text] = self.svc.hub.blobs.put_bytes(text.encode())
        return self.shared[text]

    def repo(self, i: int) -> None:
        actor = self.actor(author(i))
        repo = None
        for _attempt in range(5):
            try:
                repo = self.svc.repos.create(actor, RepoType.MODEL, repo_name(i), author(i))
                break
            except RepoExists:
                # Two processes creating repos in the same second build the same initial commit object;
                # the loser's insert fails and RepoService.create reports that as RepoExists. The object
                # exists now, so a retry goes through.
                if self.svc.repos.find(RepoType.MODEL, repo_id(i)) is not None:
                    raise
        if repo is None:
            raise SystemExit(f"could not create {repo_id(i)}")
        ops = [
            AddFile(path=p, blob=self.blob(p, text), sent_as_lfs=False) for p, text in repo_files(i).items()
        ]
        request = CommitRequest(summary="Add model files", operations=ops)
        self.svc.commits.create_commit(actor, repo, DEFAULT_BRANCH, request)


def open_services(database_url: str, data_dir: Path) -> Services:
    # Seeding connections do not wait for the WAL flush of each commit (synchronous_commit=off): the seeding
    # is set-up, not a measure, and the serving processes use their own, default connections.
    url = f"{database_url}?options={quote('-c synchronous_commit=off')}"
    return Services.open(Settings(data_dir=data_dir, database_url=url, blob_store="local"), migrate=False)


_worker: Seeder | None = None


def _init_seed_worker(database_url: str, data_dir: str) -> None:
    global _worker
    _worker = Seeder(open_services(database_url, Path(data_dir)))


def _seed_chunk(lo: int, hi: int) -> int:
    assert _worker is not None
    for i in range(lo, hi):
        _worker.repo(i)
    return hi - lo


def close_seeding(svc: Services) -> None:
    """Waits for the follow-up jobs of the seeded commits (fingerprints, openness; in-process threads), so the
    hub is quiet when measured, then closes."""
    if not svc.jobs.join(1800):
        raise SystemExit("the seeded commits' background jobs did not finish within 30 minutes")
    svc.close()


def _close_seed_worker() -> None:
    if _worker is not None:
        close_seeding(_worker.svc)


def seed_parallel(database_url: str, data_dir: Path, lo: int, hi: int, procs: int) -> None:
    """Repos lo..hi-1 from `procs` processes, each with its own services (as `omh serve` workers have)."""
    chunk = 100
    ctx = multiprocessing.get_context("spawn")  # no inherited engine or pool connections
    with ProcessPoolExecutor(
        procs, mp_context=ctx, initializer=_init_seed_worker, initargs=(database_url, str(data_dir))
    ) as pool:
        futures = [pool.submit(_seed_chunk, a, min(a + chunk, hi)) for a in range(lo, hi, chunk)]
        done, reported = lo, lo
        for f in as_completed(futures):
            done += f.result()
            if done - reported >= (hi - lo) / 5 or done == hi:
                print(f"  {done:,} repos", file=sys.stderr)
                reported = done
        for _ in range(procs):  # let each process close its engine and job threads
            pool.submit(_close_seed_worker).result()


# -- PostgreSQL databases and the moto server -------------------------------------------------------------
@contextmanager
def databases(admin_url: str) -> Iterator[Callable[[], str]]:
    """Yields a factory of fresh databases (SQLAlchemy URLs); all of them are dropped at the end."""
    from sqlalchemy.engine import make_url

    created: list[str] = []

    def create() -> str:
        name = f"omh_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint, proc, "moto_server")
    return proc, endpoint


# -- measuring -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    label: str
    paths: tuple[str, ...]  # requests rotate over these
    form: str | None = None  # a POSTed form body (paths-info); None: GET


@dataclass
class Latency:
    p50_ms: float
    p95_ms: float
    n: int


@dataclass
class Load:
    rps: float
    p95_ms: float
    errors: int
    n: int


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def queries() -> list[Query]:
    per_repo = [repo_id(i) for i in PER_REPO]
    form = "&".join(f"paths={quote(p, safe='')}" for p in ("config.json", "README.md", "eval/results.json"))
    return [
        Query("list search=llama (broad), limit 50", ("/api/models?search=llama&limit=50",)),
        Query(f"list search={repo_name(42)} (1 hit)", (f"/api/models?search={repo_name(42)}&limit=50",)),
        Query("list author=org07, limit 50", ("/api/models?author=org07&limit=50",)),
        Query("list sort=lastModified, limit 50", ("/api/models?sort=lastModified&direction=-1&limit=50",)),
        Query("list sort=downloads, limit 50", ("/api/models?sort=downloads&direction=-1&limit=50",)),
        Query("list filter=t3 (card tag), limit 50", ("/api/models?filter=t3&limit=50",)),
        Query("list full=true (siblings), limit 50", ("/api/models?full=true&limit=50",)),
        Query("model_info (3 repos)", tuple(f"/api/models/{r}" for r in per_repo)),
        Query(
            "list_repo_tree recursive (3 repos)",
            tuple(f"/api/models/{r}/tree/main?recursive=true" for r in per_repo),
        ),
        Query(
            "paths-info, 3 paths (3 repos)", tuple(f"/api/models/{r}/paths-info/main" for r in per_repo), form
        ),
    ]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def check(client: httpx.Client, q: Query) -> None:
    """One request per path: a 200 with a non-empty JSON answer, so no error page is measured."""
    for path in q.paths:
        r = client.post(path, content=q.form, headers=FORM) if q.form else client.get(path)
        if r.status_code != 200 or not r.json():
            raise SystemExit(f"{q.label}: {path} answered {r.status_code} {r.text[:300]}")


def sequential(client: httpx.Client, q: Query, n: int, budget_s: float) -> Latency:
    """p50/p95 of up to `n` back-to-back requests on one connection (at least 20, else until `budget_s`)."""
    check(client, q)
    times: list[float] = []
    deadline = time.monotonic() + budget_s
    while len(times) < n and (len(times) < 20 or time.monotonic() < deadline):
        path = q.paths[len(times) % len(q.paths)]
        t0 = time.perf_counter()
        r = client.post(path, content=q.form, headers=FORM) if q.form else client.get(path)
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"{q.label}: {path} answered {r.status_code}")
    return Latency(percentile(times, 50) * 1000, percentile(times, 95) * 1000, len(times))


WRK_SCRIPT = """
local paths = {%(paths)s}
local body = %(body)s
local i = 0
request = function()
  i = i %% #paths + 1
  if body then
    return wrk.format("POST", paths[i], {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
  end
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%f\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(95)))
end
"""


def wrk(base: str, q: Query, conns: int, seconds: int, workdir: Path) -> Load:
    """Closed-loop load from `conns` connections for `seconds`; wrk's p95 and non-2xx/3xx/socket errors."""
    script = workdir / "wrk.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "paths": ", ".join(json.dumps(p) for p in q.paths),
            "body": json.dumps(q.form) if q.form else "nil",
        }
    )
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(conns),
            "-d",
            f"{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+)$", out, re.M)
    if m is None:
        raise SystemExit(f"wrk failed on {q.label}:\n{out}")
    requests, duration_us, status_errors, socket_errors = (int(m.group(k)) for k in range(1, 5))
    p95 = float(m.group(5)) / 1000 if requests else float("nan")
    return Load(requests / (duration_us / 1e6), p95, status_errors + socket_errors, requests)


def ms(x: float) -> str:
    return f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


# -- the run -------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 repos, 64 MiB download, shorter runs")
    ap.add_argument("--save", action="store_true", help="also write bench/results/<date>-scaleout.md")
    ap.add_argument("--repos", type=int, default=None, help="repos to seed (10,000; --quick 1,000)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--seed-procs", type=int, default=max(2, os.cpu_count() or 1), help="seeding processes")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin connection")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown --parts {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    n_repos = args.repos or (1_000 if args.quick else 10_000)
    if n_repos < BASE_REPOS:
        raise SystemExit(f"--repos must be at least {BASE_REPOS} (the baseline size)")
    for tool in ("nginx", "ab", "wrk", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not installed: run `make bench-scaleout` (it installs nginx, apache2-utils, wrk)"
            )
    try:
        psycopg.connect(args.pg, connect_timeout=5).close()
    except psycopg.Error as e:
        raise SystemExit(f"PostgreSQL at {args.pg} is not reachable ({e}): run `make services`") from e
    if "download" in parts:
        import importlib.util

        if importlib.util.find_spec("openmodelhub.storage.s3") is None:
            raise SystemExit(
                "the S3 blob store (openmodelhub.storage.s3) is not there: run with --parts list,head"
            )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks of the in-process seeding
    # Every hub here is configured by this script alone, not by OMH_* settings of the calling shell.
    for key in [k for k in os.environ if k.startswith("OMH_")]:
        del os.environ[key]

    quick = args.quick
    n_seq, seq_budget, wrk_s = (50, 2.0, 2) if quick else (200, 5.0, 4)
    n_head = 4000 if quick else 30000
    size = 64 * MiB if quick else 256 * MiB
    size_label = f"{size // MiB} MiB"
    conns = 16
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="omh-scaleout-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []

    def serve(data_dir: Path, workers: int, env: dict[str, str]) -> str:
        port = free_port()
        procs.append(start_omh(data_dir, port, workers=workers, env=env))
        time.sleep(1.0)  # let worker processes settle
        return f"http://127.0.0.1:{port}"

    def stop_last() -> None:
        stop(procs.pop())

    try:
        with databases(args.pg) as new_database:
            pg_data = tmp / "pg"
            pg_url = new_database()
            pg_env = {"OMH_DATABASE_URL": pg_url, "OMH_BLOB_STORE": "local"}
            head_path = f"/{repo_id(PER_REPO[1])}/resolve/main/config.json"
            if "list" in parts or "head" in parts:
                # -- 1. seed the baseline -----------------------------------------------------------------
                print(f"set-up in {tmp}: {BASE_REPOS} repos on PostgreSQL", file=sys.stderr)
                omh(pg_data, "db", "upgrade", env=pg_env)
                svc = open_services(pg_url, pg_data)
                try:
                    for k in range(AUTHORS):
                        svc.auth.create_user(author(k))
                    t0 = time.perf_counter()
                    seeder = Seeder(svc)
                    seeded = BASE_REPOS if "list" in parts else PER_REPO[-1] + 1
                    for i in range(seeded):
                        seeder.repo(i)
                    close_seeding(svc)
                    t_base_seed = time.perf_counter() - t0
                finally:
                    svc.close()
                pg_hub = serve(pg_data, 2, pg_env)

            if "list" in parts:
                # -- 2. list/search at the baseline size, seed the rest, again at full size ---------------
                qs = queries()
                measured: dict[str, dict[str, tuple[Latency, Load]]] = {}

                def measure_all(tag: str) -> None:
                    print(f"list/search at {tag} repos", file=sys.stderr)
                    measured[tag] = {}
                    with httpx.Client(base_url=pg_hub, timeout=60) as client:
                        for q in qs:
                            lat = sequential(client, q, n_seq, seq_budget)
                            # Long enough for ~4 answers per connection when a request is slow (2 workers).
                            seconds = min(20, max(wrk_s, math.ceil(4 * lat.p50_ms / 1000 * conns / 2)))
                            load = wrk(pg_hub, q, conns, seconds, tmp)
                            measured[tag][q.label] = (lat, load)
                            print(
                                f"  {q.label}: p95 {ms(lat.p95_ms)} (n={lat.n}); {conns} conns: "
                                f"{load.rps:,.0f} req/s, p95 {ms(load.p95_ms)}, {load.errors} err "
                                f"(n={load.n}, {seconds} s)",
                                file=sys.stderr,
                            )

                measure_all("base")
                print(
                    f"seeding {n_repos - BASE_REPOS:,} more repos ({args.seed_procs} processes)",
                    file=sys.stderr,
                )
                t0 = time.perf_counter()
                seed_parallel(pg_url, pg_data, BASE_REPOS, n_repos, args.seed_procs)
                t_seed = time.perf_counter() - t0
                seeded = n_repos
                print(f"  seeded in {t_seed:.1f} s", file=sys.stderr)
                rows.append(
                    Row(
                        f"seed {n_repos - BASE_REPOS:,} repos / {(n_repos - BASE_REPOS) * 10:,} files, "
                        f"{args.seed_procs} processes",
                        f"{t_seed:.0f} s ({(n_repos - BASE_REPOS) / t_seed:.0f} repos/s)",
                        f"first {BASE_REPOS}, 1 process: {BASE_REPOS / t_base_seed:.0f} repos/s",
                        fmt_ratio((n_repos - BASE_REPOS) / t_seed / (BASE_REPOS / t_base_seed)),
                        "-",
                        None,
                    )
                )
                measure_all("full")
                base_label = f"{BASE_REPOS} repos"
                for q in qs:
                    lat, _ = measured["full"][q.label]
                    lat0, _ = measured["base"][q.label]
                    rows.append(
                        Row(
                            f"{q.label}, sequential",
                            f"p50 {ms(lat.p50_ms)}, p95 {ms(lat.p95_ms)} (n={lat.n})",
                            f"{base_label}: p95 {ms(lat0.p95_ms)}",
                            fmt_ratio(lat.p95_ms / lat0.p95_ms),
                            "-",
                            None,
                        )
                    )
                for q in qs:
                    _, load = measured["full"][q.label]
                    _, load0 = measured["base"][q.label]
                    rows.append(
                        Row(
                            f"{q.label}, {conns} conns (wrk)",
                            f"{load.rps:,.0f} req/s, p95 {ms(load.p95_ms)}, {load.errors} err",
                            f"{base_label}: {load0.rps:,.0f} req/s, p95 {ms(load0.p95_ms)}",
                            fmt_ratio(load.rps / load0.rps) if load0.rps else "-",
                            "0 err",
                            load.errors == 0 and load0.errors == 0,
                        )
                    )

            if "head" in parts:
                # -- 3. HEAD /resolve: PostgreSQL 2 vs 1 workers; the embedded SQLite hub as reference ----
                print("HEAD /resolve", file=sys.stderr)

                def head(hub: str) -> Any:
                    ab(hub + head_path, min(n_head, 2000), 64, head=True)  # warm-up
                    return ab(hub + head_path, n_head, 64, head=True)

                pg2 = head(pg_hub)
                stop_last()
                pg1 = head(serve(pg_data, 1, pg_env))
                stop_last()
                sq_data, src = tmp / "sqlite", tmp / "src"
                for path, text in repo_files(PER_REPO[1]).items():
                    (src / path).parent.mkdir(parents=True, exist_ok=True)
                    (src / path).write_text(text)
                omh(sq_data, "import", str(src), repo_id(PER_REPO[1]))
                sq1 = head(serve(sq_data, 1, {}))
                stop_last()
                sq2 = head(serve(sq_data, 2, {}))
                stop_last()

                def hv(r: Any) -> str:
                    return f"{r.rps:,.0f} req/s, p95 {r.p95_ms:.0f} ms, {r.errors} err"

                def hb(what: str, r: Any) -> str:
                    return f"{what}: {r.rps:,.0f} req/s, p95 {r.p95_ms:.0f} ms"

                for label, a, b, base in (
                    (
                        f"HEAD /resolve 64 conns, PostgreSQL ({seeded:,} repos): 2 workers",
                        pg2,
                        pg1,
                        "1 worker",
                    ),
                    ("HEAD /resolve 64 conns, SQLite (embedded): 2 workers", sq2, sq1, "1 worker"),
                    ("HEAD /resolve 64 conns, 2 workers: PostgreSQL", pg2, sq2, "SQLite"),
                    ("HEAD /resolve 64 conns, 1 worker: PostgreSQL", pg1, sq1, "SQLite"),
                ):
                    rows.append(
                        Row(label, hv(a), hb(base, b), fmt_ratio(a.rps / b.rps), "0 err", a.errors == 0)
                    )
            elif "list" in parts:
                stop_last()

            if "download" in parts:
                # -- 4. LFS download from S3: presigned redirect vs proxied; nginx from disk -------------
                print(f"download {size_label} through S3 (moto)", file=sys.stderr)
                import boto3

                moto, endpoint = start_moto(tmp / "moto.log")
                procs.append(moto)
                bucket = f"omh-bench-{uuid.uuid4().hex[:8]}"
                boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    region_name="us-east-1",
                    aws_access_key_id="bench",
                    aws_secret_access_key="bench",
                ).create_bucket(Bucket=bucket)
                s3_env = {
                    "OMH_DATABASE_URL": new_database(),
                    "OMH_BLOB_STORE": "s3",
                    "OMH_S3_ENDPOINT_URL": endpoint,
                    "OMH_S3_BUCKET": bucket,
                    "OMH_S3_REGION": "us-east-1",
                    "OMH_S3_ACCESS_KEY_ID": "bench",
                    "OMH_S3_SECRET_ACCESS_KEY": "bench",
                }
                s3_data, big_dir = tmp / "s3", tmp / "big"
                big_sha = write_random_file(big_dir / "big.bin", size, seed=3)
                omh(s3_data, "db", "upgrade", env=s3_env)
                t0 = time.perf_counter()
                omh(s3_data, "import", str(big_dir), BIG_REPO, env=s3_env)
                print(f"  imported into S3 in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                url_path = f"/{BIG_REPO}/resolve/main/big.bin"

                def download(mode: str) -> tuple[float, int, int]:
                    """(GB/s, idle PSS, peak PSS) of the serving process tree."""
                    hub = serve(s3_data, 2, {**s3_env, "OMH_S3_DOWNLOAD": mode})
                    r = httpx.get(hub + url_path, timeout=60, follow_redirects=False)
                    r.close()
                    if mode == "redirect" and not (
                        r.status_code == 302 and r.headers.get("location", "").startswith(endpoint)
                    ):
                        raise SystemExit(f"redirect mode answered {r.status_code}, not a 302 to {endpoint}")
                    if mode == "proxy" and r.status_code != 200:
                        raise SystemExit(f"proxy mode answered {r.status_code}")
                    got = tmp / "got.bin"  # once to a file: the bytes are the ones stored
                    subprocess.run(["curl", "-sSfL", "-o", str(got), hub + url_path], check=True)
                    if hashlib.sha256(got.read_bytes()).hexdigest() != big_sha:
                        raise SystemExit(f"{mode}: the downloaded bytes differ from the stored file")
                    got.unlink()
                    idle = memory_bytes(process_tree(procs[-1].pid))[1]
                    with rss_peak(procs[-1].pid) as peak:
                        t = best(lambda: curl_get(hub + url_path, follow=True), 3)
                    stop_last()
                    return size / t / 1e9, idle, peak[1]

                gb_redirect, _, _ = download("redirect")
                gb_proxy, idle_proxy, peak_proxy = download("proxy")
                nport = free_port()
                procs.append(start_nginx(tmp / "nginx", big_dir.resolve(), nport))
                gb_nginx = size / best(lambda: curl_get(f"http://127.0.0.1:{nport}/big.bin"), 3) / 1e9
                stop_last()
                what = f"GET {size_label} LFS file on S3 (curl -L)"
                rows += [
                    Row(
                        f"{what}: presigned redirect",
                        f"{gb_redirect:.2f} GB/s",
                        f"proxied {gb_proxy:.2f} GB/s",
                        fmt_ratio(gb_redirect / gb_proxy),
                        "-",
                        None,
                    ),
                    Row(
                        f"{what}: presigned redirect",
                        f"{gb_redirect:.2f} GB/s",
                        f"nginx from disk {gb_nginx:.2f} GB/s",
                        fmt_ratio(gb_redirect / gb_nginx),
                        "-",
                        None,
                    ),
                    Row(
                        f"{what}: proxied through the hub",
                        f"{gb_proxy:.2f} GB/s",
                        f"nginx from disk {gb_nginx:.2f} GB/s",
                        fmt_ratio(gb_proxy / gb_nginx),
                        "-",
                        None,
                    ),
                    Row(
                        "server memory during proxied download (PSS, 2 workers)",
                        f"peak {peak_proxy / 1e6:.0f} MB (+{(peak_proxy - idle_proxy) / 1e6:.0f} MB)",
                        f"idle {idle_proxy / 1e6:.0f} MB",
                        "-",
                        "+ < 50 MB (streamed)",
                        peak_proxy - idle_proxy < 50e6,
                    ),
                ]
    finally:
        for p in reversed(procs):
            stop(p)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    out = table(rows)
    print(out)
    elapsed = time.monotonic() - started
    facts = []
    if "list" in parts:
        facts.append(
            f"{n_repos:,} repos / {n_repos * 10:,} files on PostgreSQL, list server --workers 2, sequential: "
            f"up to {n_seq} requests ({seq_budget:.0f} s), wrk {conns} conns {wrk_s}+ s"
        )
    if "head" in parts:
        facts.append(f"ab -n {n_head}")
    if "download" in parts:
        facts.append(f"{size_label} download, best of 3")
    summary = "; ".join([*facts, f"took {elapsed:.0f} s"])
    legend = (
        "ratio = value / baseline: req/s and GB/s, higher is better; sequential rows: p95 / p95 at "
        f"{BASE_REPOS} repos, lower is better"
    )
    print(f"\n{summary}\n{legend}")
    if args.save:
        save_results(
            "scaleout_bench", "-scaleout", summary + (" (--quick)" if quick else ""), f"{out}\n\n{legend}"
        )


if __name__ == "__main__":
    main()

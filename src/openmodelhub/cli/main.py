"""`omh`: serve a hub, manage users and tokens, import and export repos."""

import logging
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from openmodelhub.cli import people_commands, storage_commands
from openmodelhub.protocol.names import RepoType
from openmodelhub.settings import Settings

app = typer.Typer(
    help="OpenModelHub: a self-hostable hub for open models and datasets.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(people_commands.org_app, name="org")
app.add_typer(storage_commands.storage_app, name="storage")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $OMH_DATA_DIR or ./omh-data)."),
]


def load_settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def open_services(data_dir: Path | None, *, migrate: bool | None = None):  # type: ignore[no-untyped-def]
    """The hub's services; a database that cannot be used ends the command with a clear message."""
    from sqlalchemy.exc import OperationalError

    from openmodelhub.db.engine import SchemaError
    from openmodelhub.services.container import Services

    settings = load_settings(data_dir)
    try:
        return Services.open(settings, migrate=migrate)
    except SchemaError as e:
        fail(str(e))
    except OperationalError as e:
        fail(f"cannot open the database {_safe_url(settings.resolved_database_url)}: {e.orig or e}")


def _safe_url(url: str) -> str:
    """The database URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="Server log level.")] = "info",
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    server: Annotated[
        str, typer.Option(help="ASGI server: granian (faster, see ADR 0003) or uvicorn.")
    ] = "granian",
) -> None:
    """Serve the hub over HTTP (creates and migrates an embedded SQLite hub on first start; a PostgreSQL
    database must be migrated with `omh db upgrade` first)."""
    from openmodelhub.storage import LocalBlobStore

    if server not in ("granian", "uvicorn"):
        fail(f"--server must be granian or uvicorn, not {server!r}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = open_services(data_dir)
    if isinstance(svc.hub.blobs, LocalBlobStore):
        svc.hub.blobs.clean_staging()
    resolved = svc.hub.settings.data_dir.resolve()
    typer.echo(
        f"OpenModelHub serving {resolved} at http://{host}:{port} ({server}, {workers} worker(s))", err=True
    )
    if server == "uvicorn" and workers == 1:
        import uvicorn

        from openmodelhub.api.app import create_app

        uvicorn.run(
            create_app(svc),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            loop="uvloop",
            http="httptools",
        )
        return
    # Worker processes build their own services from the environment; they die with this process.
    from openmodelhub.api.worker import PARENT_ENV

    svc.close()
    os.environ["OMH_DATA_DIR"] = str(resolved)
    os.environ[PARENT_ENV] = str(os.getpid())
    target = "openmodelhub.api.worker:create_worker_app"
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            target,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            loop="uvloop",
            http="httptools",
        )
        return
    import gc

    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    # Workers are forked from this process: what it has imported, they share (copy-on-write) instead of each
    # importing it again, so the app's modules are loaded here first...
    import openmodelhub.api.app
    import openmodelhub.web.pages  # noqa: F401

    # ...and kept out of the garbage collector's sight, whose passes would write to (and so copy) them.
    gc.collect()
    gc.freeze()

    Granian(
        target,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_level=LogLevels(log_level.lower()),
        log_access=False,
        backlog=2048,
        websockets=False,
    ).serve()


# Accounts, tokens and organizations: cli/people_commands.py.
user_app.command("create")(people_commands.user_create)
user_app.command("set-password")(people_commands.user_set_password)
user_app.command("invite")(people_commands.user_invite)
token_app.command("create")(people_commands.token_create)
token_app.command("list")(people_commands.token_list)
token_app.command("revoke")(people_commands.token_revoke)


@app.command("import")
def import_(
    local_dir: Path,
    repo_id: str,
    repo_type: Annotated[RepoType, typer.Option("--repo-type", help="model or dataset.")] = RepoType.MODEL,
    data_dir: DataDir = None,
) -> None:
    """Commit a local folder as the main branch of a repo (created if missing)."""
    from openmodelhub.services.errors import HubError
    from openmodelhub.services.importer import import_folder

    svc = open_services(data_dir)
    try:
        result, changed = import_folder(svc, local_dir, repo_id, repo_type)
    except HubError as exc:
        fail(exc.message)
    typer.echo(f"{repo_id}: {'committed' if changed else 'unchanged at'} {result.oid}")


@app.command()
def export(
    repo_id: str,
    dest: Path,
    repo_type: Annotated[RepoType, typer.Option("--repo-type", help="model or dataset.")] = RepoType.MODEL,
    data_dir: DataDir = None,
) -> None:
    """Write a repo, with all its branches and tags, as a bare git repository at DEST."""
    from openmodelhub.services.errors import HubError
    from openmodelhub.services.export import export_bare

    svc = open_services(data_dir)
    repo = svc.repos.find(repo_type, repo_id)
    if repo is None:
        fail(f"no {repo_type.value} repo {repo_id}")
    assert repo is not None
    if dest.exists():
        fail(f"{dest} already exists")
    try:
        count = export_bare(svc.hub, svc.git, svc.repos, repo, dest)
    except HubError as exc:
        fail(exc.message)
    typer.echo(f"exported {count} objects to {dest}")


@app.command()
def scan(
    target: Annotated[
        str | None, typer.Argument(help="A local file or folder, or a REPO_ID on this hub.")
    ] = None,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="Re-scan stored files judged by an older scanner.")
    ] = False,
    repo_type: Annotated[RepoType, typer.Option("--repo-type", help="model or dataset.")] = RepoType.MODEL,
    revision: Annotated[str, typer.Option("--revision", help="Revision of REPO_ID to report on.")] = "main",
    data_dir: DataDir = None,
) -> None:
    """Scan files for unsafe content: a local path (works offline), a repo's files, or everything (--rescan).

    Exits with status 2 when anything is unsafe.
    """
    from openmodelhub.cli import scan_commands

    if rescan:
        scan_commands.rescan(open_services(data_dir))
    elif target is None:
        fail("give a local path or a REPO_ID, or --rescan")
    elif Path(target).exists():
        scan_commands.scan_local(Path(target))
    else:
        scan_commands.scan_repo(open_services(data_dir), repo_type, target, revision)


@app.command()
def release(
    repo_id: str,
    path: str,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="Who releases the file: a hub admin, the repo owner or an admin of its organization."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why this file may be served.")] = "",
    repo_type: Annotated[RepoType, typer.Option("--repo-type", help="model or dataset.")] = RepoType.MODEL,
    revision: Annotated[str, typer.Option("--revision")] = "main",
    data_dir: DataDir = None,
) -> None:
    """Release a quarantined file: this repo serves it despite its verdict (recorded in the audit log)."""
    from openmodelhub.cli import scan_commands
    from openmodelhub.services.errors import HubError

    try:
        scan_commands.release(open_services(data_dir), repo_type, repo_id, path, by, reason, revision)
    except HubError as exc:
        fail(exc.message)


@app.command()
def openness(
    repo_id: str,
    revision: Annotated[str, typer.Option("--revision")] = "main",
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The MOF openness assessment of a model: each component's evidence, the verified and claimed class."""
    from openmodelhub.cli import openness_commands

    openness_commands.openness(open_services(data_dir), repo_id, revision, as_json)


@app.command()
def lineage(
    repo_id: str,
    svg: Annotated[Path | None, typer.Option("--svg", help="Write the model tree as an SVG file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lineage as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """A model's ancestors and descendants with licences and licence-drift verdicts."""
    from openmodelhub.cli import openness_commands

    openness_commands.lineage(open_services(data_dir), repo_id, svg, as_json)


@app.command()
def fsck(
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete garbage (unreferenced objects...) older than --grace.")
    ] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every stored object.")] = False,
    grace: Annotated[
        str, typer.Option("--grace", help="Garbage younger than this is kept: 30m, 24h, 2d.")
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check that everything the refs reach is stored intact (commits, trees, files, sizes; hashes with
    --deep) and report garbage. Exits with status 1 when anything is inconsistent (docs/operations.md)."""
    from openmodelhub.cli import fsck_commands

    try:
        grace_period = fsck_commands.parse_duration(grace)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grace") from exc
    fsck_commands.fsck(open_services(data_dir), repair=repair, deep=deep, grace=grace_period, as_json=as_json)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(help="Jobs run at once by each process.", min=1)] = 4,
    processes: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    data_dir: DataDir = None,
) -> None:
    """Run background jobs from the hub's job queue (OMH_JOB_ENGINE=dramatiq) until SIGTERM or SIGINT."""
    from openmodelhub.cli import worker_commands

    worker_commands.worker(data_dir, threads, processes)


@app.command()
def enqueue(
    job: Annotated[str, typer.Argument(help="Job: fingerprint, openness, xet_index, rescan, reconcile.")],
    args: Annotated[list[str] | None, typer.Argument(help="Job arguments as key=value.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Send one background job (e.g. `omh enqueue rescan`); the embedded engine runs it here and waits."""
    from openmodelhub.cli import worker_commands

    worker_commands.enqueue(data_dir, job, args or [])


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the database schema to this version."""
    open_services(data_dir, migrate=True)
    typer.echo("database is up to date")


def main() -> None:  # pragma: no cover - console entry point alternative
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()

"""What `omh scan` and `omh release` do, kept apart from argument parsing."""

import os
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from openmodelhub.protocol.names import RepoType
from openmodelhub.scanners import ScanResult, Verdict, scan_file
from openmodelhub.services.container import Services
from openmodelhub.services.errors import NotFound

_STYLE = {
    "safe": "green",
    "suspicious": "yellow",
    "unscannable": "yellow",
    "unsafe": "bold red",
    "queued": "dim",
}


def _table(title: str) -> Table:
    table = Table(title=title)
    for col in ("file", "verdict", "format", "reason"):
        table.add_column(col, overflow="fold")
    return table


def _reason(findings: list[dict[str, object]] | tuple[dict[str, object], ...], verdict: str) -> str:
    for f in findings:
        if f.get("verdict") == verdict:
            loc = f" ({f['location']})" if f.get("location") else ""
            return f"{f.get('message', '')}{loc}"
    return ""


def _finish(worst: Verdict, table: Table) -> None:
    Console(width=160).print(table)
    if worst is Verdict.UNSAFE:
        raise typer.Exit(code=2)


def scan_local(target: Path) -> None:
    files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
    table = _table(f"scan of {target}")
    verdicts = []
    for path in files:
        rel = path.name if target.is_file() else path.relative_to(target).as_posix()
        result: ScanResult = scan_file(path, name=rel)
        verdicts.append(result.verdict)
        reason = next((f.message for f in result.findings if f.verdict is result.verdict), "")
        v = result.verdict.value
        table.add_row(rel, f"[{_STYLE[v]}]{v}[/]", result.format, reason)
    _finish(Verdict.worst(verdicts), table)


def scan_repo(svc: Services, repo_type: RepoType, repo_id: str, revision: str) -> None:
    repo = svc.repos.find(repo_type, repo_id)
    if repo is None:
        raise NotFound(f"no {repo_type.value} repo {repo_id}")
    _, items = svc.files.list_tree(repo, revision, "", recursive=True)
    table = _table(f"{repo_id}@{revision}")
    verdicts = []
    for item in items:
        if item.meta is None:
            continue
        sec = svc.scans.ensure_scanned(item.meta.sha256, item.entry.path)
        assert sec.verdict is not None
        verdicts.append(sec.verdict)
        v = sec.verdict.value
        table.add_row(item.entry.path, f"[{_STYLE[v]}]{v}[/]", sec.format, _reason(sec.findings, v))
    _finish(Verdict.worst(verdicts), table)


def rescan(svc: Services) -> None:
    counts = svc.scans.rescan_all()
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def release(
    svc: Services, repo_type: RepoType, repo_id: str, path: str, by: str, reason: str, revision: str
) -> None:
    repo = svc.repos.find(repo_type, repo_id)
    if repo is None:
        raise NotFound(f"no {repo_type.value} repo {repo_id}")
    user = svc.auth.get_user(by)
    # The user with their org roles, as a signed-in caller: scans.release decides (repo admins only).
    actor = svc.auth.session_principal(user.id)
    if actor is None:
        raise NotFound(f"no user named {by!r}")
    actor = replace(actor, token_name="omh release")
    f = svc.files.resolve_file(repo, revision, path)
    svc.scans.release(
        actor, repo, f.meta.sha256, path, reason or f"released from the CLI on {os.uname().nodename}"
    )
    typer.echo(f"released {repo_id}/{path} ({f.meta.sha256}) by {by}")

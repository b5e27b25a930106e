"""What `omh fsck` does, kept apart from argument parsing: run the check and print its report."""

import json
import re
from datetime import timedelta

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from openmodelhub.services.container import Services
from openmodelhub.services.fsck import FsckReport, FsckService, human_age, human_size

MAX_ROWS = 200  # findings printed; --json has them all
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `2d`, `90s` (or `0`)."""
    if text.strip() == "0":
        return timedelta(0)
    m = _DURATION.match(text.lower())
    if not m:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, like 30m, 24h or 2d")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def fsck(svc: Services, *, repair: bool, deep: bool, grace: timedelta, as_json: bool) -> None:
    """Run the check; exit 1 when errors are left (garbage alone is not an error)."""
    console = Console(stderr=True)
    if repair and grace < timedelta(hours=1) and not as_json:
        console.print(
            f"[yellow]warning:[/] a grace period of {human_age(grace)} can delete uploads that are still "
            "waiting for their commit on a running hub"
        )
    report = FsckService(svc.hub).run(deep=deep, repair=repair, grace=grace)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report, Console())
    raise typer.Exit(code=0 if report.clean else 1)


def print_report(report: FsckReport, console: Console) -> None:
    st = report.stats
    console.print(
        f"checked {st.repos} repos, {st.refs} refs, {st.commits} commits, {st.trees} trees, {st.files} files "
        f"({st.contents} distinct contents); the blob store holds {st.stored_objects} objects "
        f"({human_size(st.stored_bytes)})"
        + (f"; hashed {st.hashed_objects} objects ({human_size(st.hashed_bytes)})" if report.deep else ""),
        highlight=False,
        soft_wrap=True,
    )
    shown = sorted(report.findings, key=lambda f: (f.severity != "error", f.kind, f.where, f.object_id))
    if shown:
        if console.is_terminal:
            table = Table(show_lines=False)
            for col in ("", "kind", "object", "where", "message"):
                table.add_column(col, overflow="fold")
            for f in shown[:MAX_ROWS]:
                mark = "[bold red]error[/]" if f.severity == "error" else "[yellow]garbage[/]"
                if f.repaired:
                    mark += " [green](deleted)[/]"
                table.add_row(mark, f.kind, f.object_id, escape(f.where), escape(f.message))
            console.print(table)
        else:  # one finding per line, tab-separated, for grep and logs
            for f in shown[:MAX_ROWS]:
                state = f"{f.severity}{' (deleted)' if f.repaired else ''}"
                console.print(
                    "\t".join((state, f.kind, f.object_id, f.where, f.message)),
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
        if len(shown) > MAX_ROWS:
            console.print(f"... and {len(shown) - MAX_ROWS} more (--json lists them all)", highlight=False)
    console.print(_summary(report), highlight=False, soft_wrap=True)


def _summary(report: FsckReport) -> str:
    st = report.stats
    errors = report.errors
    parts = [f"{len(errors)} error{'s' if len(errors) != 1 else ''}" if errors else "no errors"]
    garbage = report.garbage
    if garbage:
        size = sum(f.size or 0 for f in garbage)
        parts.append(f"{len(garbage)} garbage item{'s' if len(garbage) != 1 else ''} ({human_size(size)})")
    if report.repair:
        parts.append(
            f"deleted {st.deleted_objects} objects ({human_size(st.deleted_bytes)}), {st.deleted_rows} rows, "
            f"{st.deleted_temp} temp files"
        )
    else:
        deletable = [f for f in garbage if f.deletable]
        if deletable:
            size = sum(f.size or 0 for f in deletable)
            parts.append(f"--repair would delete {len(deletable)} of them ({human_size(size)})")
    return "fsck: " + "; ".join(parts) + f" ({st.seconds:.1f} s)"

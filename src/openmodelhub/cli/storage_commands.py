"""`omh storage stats`: logical bytes against stored bytes (whole blobs and Xet xorbs), per hub, namespace or
repo (services/xet.py `XetService.storage_stats`)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openmodelhub.protocol.names import RepoType

storage_app = typer.Typer(help="Storage accounting (deduplication through Xet).", no_args_is_help=True)

_ROWS = [
    ("repos", "repos", False),
    ("files", "distinct files", False),
    ("logical_bytes", "logical bytes (each repo's files)", True),
    ("unique_bytes", "distinct content", True),
    ("blob_bytes", "stored as whole blobs", True),
    ("xorb_bytes", "stored in Xet xorbs", True),
    ("stored_bytes", "stored in total", True),
    ("xet_files", "files stored as Xet", False),
    ("both_files", "files stored both ways", False),
    ("both_bytes", "  their blob bytes", True),
    ("xorbs", "xorbs", False),
    ("xorb_bytes_referenced", "xorb bytes the files use", True),
    ("redundant_xorb_uploads", "xorbs sent again although stored", False),
]


def stats(
    target: Annotated[
        str | None, typer.Argument(help="NAMESPACE/NAME: one repo; NAMESPACE: its repos; none: the hub.")
    ] = None,
    repo_type: Annotated[RepoType, typer.Option("--repo-type", help="model or dataset.")] = RepoType.MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default: $OMH_DATA_DIR or ./omh-data).")
    ] = None,
) -> None:
    """Logical bytes (what the files add up to) against unique stored bytes: whole blobs and Xet xorbs."""
    from openmodelhub.cli.main import fail, open_services
    from openmodelhub.services.fsck import human_size

    svc = open_services(data_dir)
    try:
        if target is None:
            result = svc.xet.storage_stats()
        elif "/" in target:
            repo = svc.repos.find(repo_type, target)
            if repo is None:
                fail(f"no {repo_type.value} repo {target}")
            result = svc.xet.storage_stats(repo=repo)
        else:
            result = svc.xet.storage_stats(namespace=target)
    finally:
        svc.close()
    data = result.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"storage of {result.scope} {result.name}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, label, is_bytes in _ROWS:
        value = data[key]
        table.add_row(label, f"{human_size(value)} ({value})" if is_bytes else str(value))
    ratio = data["dedup_ratio"]
    table.add_row("logical / stored", f"{ratio}x" if ratio is not None else "-")
    Console().print(table)


storage_app.command("stats")(stats)

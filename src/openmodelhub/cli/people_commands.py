"""`omh user ...`, `omh token ...` and `omh org ...`: accounts, API tokens and organizations, for operators.

The commands act directly on the hub's database as the operator (no token needed); the same operations are
available to users through the API (docs/accounts.md).
"""

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from openmodelhub.protocol.timefmt import iso_z

org_app = typer.Typer(help="Manage organizations and their members.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $OMH_DATA_DIR or ./omh-data)."),
]


def _open(data_dir: Path | None) -> Any:
    from openmodelhub.cli.main import open_services

    return open_services(data_dir)


def _fail(message: str) -> NoReturn:
    from openmodelhub.cli.main import fail

    fail(message)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("no password on standard input")
    return password


# -- users ---------------------------------------------------------------------------------------------------
def user_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a hub administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the user's password from standard input.")
    ] = False,
    email: Annotated[str | None, typer.Option("--email", help="The user's e-mail address.")] = None,
    fullname: Annotated[str, typer.Option("--fullname", help="The user's full name.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user (with a password, from standard input, for the web UI)."""
    from openmodelhub.services.errors import HubError

    password = _read_password() if password_stdin else None
    svc = _open(data_dir)
    try:
        svc.auth.create_user(name, admin=admin, email=email, fullname=fullname, password=password)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"created user {name}{' (admin)' if admin else ''}")


def user_set_password(name: str, data_dir: DataDir = None) -> None:
    """Set a user's password, read from standard input."""
    from openmodelhub.services.errors import HubError

    password = _read_password()
    svc = _open(data_dir)
    try:
        svc.auth.set_password(name, password)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"password of {name} set")


def user_invite(
    days: Annotated[int, typer.Option("--days", help="Days the code stays valid (0: forever).", min=0)] = 7,
    data_dir: DataDir = None,
) -> None:
    """Create a one-time invite code (registration mode "invite"); the code is printed on the last line."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        code = svc.auth.create_invite(None, days=days or None)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"invite code ({f'valid {days} days' if days else 'no expiry'}):")
    typer.echo(code)


# -- tokens --------------------------------------------------------------------------------------------------
def token_create(
    user: Annotated[str, typer.Option("--user", help="Owner of the token.")],
    write: Annotated[bool, typer.Option("--write", help="Same as --role write.")] = False,
    role: Annotated[str | None, typer.Option("--role", help="read (default), write or fine-grained.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="For fine-grained tokens (repeatable): repo:model/NS/NAME:read|write, "
            "repo:dataset/NS/NAME:read|write or namespace:NS:read|write.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name to recognise the token by.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API token; the token is printed alone on the last line (it is shown only this once)."""
    from openmodelhub.services.auth import Scope
    from openmodelhub.services.errors import HubError

    if role is not None and write and role != "write":
        _fail(f"--write and --role {role} contradict each other")
    role = role or ("write" if write else "read")
    svc = _open(data_dir)
    try:
        scopes = [Scope.parse(s) for s in scope or []]
        token, info = svc.auth.issue_token(user, role=role, display_name=name, scopes=scopes)
    except HubError as exc:
        _fail(exc.message)
    described = info.role if not info.scopes else f"{info.role} ({', '.join(map(str, info.scopes))})"
    typer.echo(f"{described} token {info.display_name!r} (id {info.id}) for {user}:")
    typer.echo(token)


def token_list(
    user: Annotated[str, typer.Option("--user", help="Whose tokens.")],
    data_dir: DataDir = None,
) -> None:
    """List a user's tokens (id, name, role, scopes, created, last used); never their secrets."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        tokens = svc.auth.list_tokens(user)
    except HubError as exc:
        _fail(exc.message)
    if not tokens:
        typer.echo(f"{user} has no tokens")
    for t in tokens:
        last = iso_z(t.last_used_at) if t.last_used_at else "never used"
        scopes = f"  [{', '.join(map(str, t.scopes))}]" if t.scopes else ""
        typer.echo(f"{t.id}\t{t.display_name}\t{t.role}\tcreated {iso_z(t.created_at)}\t{last}{scopes}")


def token_revoke(
    token: Annotated[str, typer.Argument(help="The token's id or name (see `omh token list`).")],
    user: Annotated[str, typer.Option("--user", help="Whose token.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke (delete) a token: it stops working at once."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        info = svc.auth.revoke_token(user, token)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"revoked token {info.display_name!r} (id {info.id}) of {user}")


# -- organizations -------------------------------------------------------------------------------------------
@org_app.command("create")
def org_create(
    name: str,
    owner: Annotated[str, typer.Option("--owner", help="The user who becomes the org's first admin.")],
    fullname: Annotated[str, typer.Option("--fullname", help="The org's display name.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an organization with OWNER as its admin."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        svc.orgs.create(None, name, owner=owner, fullname=fullname)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"created organization {name} (admin: {owner})")


@org_app.command("add-member")
def org_add_member(
    org: str,
    user: str,
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")] = "read",
    data_dir: DataDir = None,
) -> None:
    """Add USER to ORG with a role, or change their role."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        svc.orgs.set_member(None, org, user, role)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"{user} is {role} in {org}")


@org_app.command("remove-member")
def org_remove_member(org: str, user: str, data_dir: DataDir = None) -> None:
    """Remove USER from ORG (an org keeps at least one admin)."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        svc.orgs.remove_member(None, org, user)
    except HubError as exc:
        _fail(exc.message)
    typer.echo(f"{user} removed from {org}")


@org_app.command("members")
def org_members(org: str, data_dir: DataDir = None) -> None:
    """List ORG's members and their roles."""
    from openmodelhub.services.errors import HubError

    svc = _open(data_dir)
    try:
        members = svc.orgs.members(org)
    except HubError as exc:
        _fail(exc.message)
    for m in members:
        typer.echo(f"{m.name}\t{m.role}")

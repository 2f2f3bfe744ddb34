"""``clearland users …`` and ``clearland audit``: users, roles, passwords, API tokens, the log.

Only an admin manages users (``--as`` an admin; the local admin by default)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from clearland.cli import output
from clearland.cli.common import JsonOpt, handles_errors, registry
from clearland.errors import ConfigError

users_app = typer.Typer(
    help="Users, their roles, passwords and API tokens (admins only).", no_args_is_help=True
)

ROLES_HELP = "surveyor, reviewer, records_custodian, victim_data, admin"
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input (for scripts)."
    ),
]


def _password(from_stdin: bool) -> str:
    """From the first line of stdin, or asked for twice without echo on a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ConfigError("--password-stdin: standard input holds no password")
        return password
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for the password on: give it with --password-stdin")
    first = typer.prompt("Password", hide_input=True, err=True)
    if typer.prompt("Again", hide_input=True, err=True) != first:
        raise ConfigError("the two passwords differ; nothing was changed")
    return str(first)


@users_app.command("add")
@handles_errors
def users_add(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    role: Annotated[list[str], typer.Option("--role", help=f"{ROLES_HELP} (repeatable).")],
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user with roles (and, with --password-stdin, a password to log in with)."""
    from clearland.services.users import add_user

    password = _password(True) if password_stdin else None
    result = add_user(registry(), name, role, password=password)
    if as_json:
        output.print_json(result)
    else:
        with_password = " with a password" if result["password"] else ""
        output.out.print(f"Added user {result['name']} ({', '.join(result['roles'])}){with_password}")


@users_app.command("grant")
@handles_errors
def users_grant(
    name: Annotated[str, typer.Argument(help="The user.")],
    roles: Annotated[list[str], typer.Argument(help=f"Roles to grant: {ROLES_HELP}.")],
    as_json: JsonOpt = False,
) -> None:
    """Grant roles to a user."""
    from clearland.services.users import grant

    result = grant(registry(), name, roles)
    if as_json:
        output.print_json(result)
    else:
        added = ", ".join(result["added"]) or "nothing new"
        output.out.print(f"Granted {name}: {added}; roles now {', '.join(result['roles']) or 'none'}")


@users_app.command("revoke")
@handles_errors
def users_revoke(
    name: Annotated[str, typer.Argument(help="The user.")],
    roles: Annotated[list[str], typer.Argument(help=f"Roles to take away: {ROLES_HELP}.")],
    as_json: JsonOpt = False,
) -> None:
    """Take roles from a user (the last admin keeps admin)."""
    from clearland.services.users import revoke

    result = revoke(registry(), name, roles)
    if as_json:
        output.print_json(result)
    else:
        removed = ", ".join(result["removed"]) or "nothing (did not hold them)"
        output.out.print(f"Revoked from {name}: {removed}; roles now {', '.join(result['roles']) or 'none'}")


@users_app.command("passwd")
@handles_errors
def users_passwd(
    name: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's password (asked for twice, or read with --password-stdin); ends their sessions."""
    from clearland.services.users import set_password

    result = set_password(registry(), name, _password(password_stdin))
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Password of {name} set; their login sessions have ended")


@users_app.command("token")
@handles_errors
def users_token(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    label: Annotated[
        str | None, typer.Option(help="What the token is for, e.g. 'qgis laptop'.", metavar="L")
    ] = None,
    expires_days: Annotated[
        int | None, typer.Option(help="Days until the token stops working (default: never).", metavar="N")
    ] = None,
    revoke: Annotated[
        str | None,
        typer.Option("--revoke", metavar="TOKEN_ID", help="Revoke this token of the user instead."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a new API token for a user and print it, once; or --revoke one by its id."""
    from clearland.services.users import create_token, revoke_token

    if revoke is not None:
        if label is not None or expires_days is not None:
            raise ConfigError("--revoke takes no --label or --expires-days")
        result = revoke_token(registry(), name, revoke)
        if as_json:
            output.print_json(result)
        else:
            output.out.print(f"Revoked token {revoke} of {name}")
        return
    made = create_token(registry(), name, label=label, expires_days=expires_days)
    if as_json:
        output.print_json(made)
        return
    # the token alone on stdout (TOKEN=$(clearland users token ana)); the words on stderr
    output.out.print(made["token"], markup=False)
    expiry = f"expires {made['expires_at']}" if made["expires_at"] else "does not expire"
    output.err.print(
        f"Token {made['id']} for {name} ({expiry}). Keep it now: it is not stored and cannot be shown "
        "again. Send it as 'Authorization: Bearer <token>'.",
        markup=False,
    )


@users_app.command("list")
@handles_errors
def users_list(as_json: JsonOpt = False) -> None:
    """List users: roles, whether a password is set, active API tokens (ids and labels)."""
    from clearland.services.users import list_users

    items = list_users(registry())
    if as_json:
        output.print_json(items)
        return
    output.table(
        "users",
        ["name", "roles", "password", "tokens"],
        [
            [
                u["name"],
                ", ".join(u["roles"]),
                "yes" if u["password"] else "no",
                ", ".join(f"{t['id']} ({t['label']})" if t["label"] else t["id"] for t in u["tokens"]),
            ]
            for u in items
        ],
    )


@handles_errors
def audit_command(
    user: Annotated[str | None, typer.Option(help="Only what this user did.", metavar="U")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only from this date (YYYY-MM-DD) or UTC date-time on.", metavar="D")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the newest N entries.", metavar="N")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log (admins): who wrote what, when, from where; oldest first."""
    from clearland.services.users import list_audit, parse_since

    when = None
    if since is not None:
        try:
            when = parse_since(since)
        except ValueError as exc:
            raise ConfigError(f"--since {exc}") from None
    entries = list_audit(registry(), user=user, since=when, limit=limit)
    if as_json:
        output.print_json(entries)
        return
    output.table(
        f"{len(entries)} audit entries",
        ["at (UTC)", "user", "action", "target", "source", "detail"],
        [
            [
                e["at"],
                e["user"] or "-",
                e["action"],
                e["target"] or "",
                e["source"] + (f" {e['remote']}" if e["remote"] else ""),
                ", ".join(f"{k}={_shown(v)}" for k, v in (e["detail"] or {}).items()),
            ]
            for e in entries
        ],
    )


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)

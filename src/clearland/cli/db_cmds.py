"""``clearland db …``: upgrade, back up, restore and copy the registry's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from clearland.cli import output
from clearland.cli.common import JsonOpt, handles_errors, registry

db_app = typer.Typer(
    help="The registry's database: upgrade, back up, restore, copy (SQLite or PostgreSQL + PostGIS).",
    no_args_is_help=True,
)

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace what the target holds already.")]
STAGES = {"copy": "Copying", "verify": "Verifying"}


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    with output.progress_bar() as bar:
        yield lambda stage, done, total: bar(STAGES.get(stage, stage), done, total)


def _summary(result: dict[str, Any]) -> str:
    return f"{result['rows']:,} rows in {len(result['tables'])} tables, verified ({result['seconds']:.1f} s)"


@db_app.command("upgrade")
@handles_errors
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Upgrade the registry's schema in place to this clearland's (back it up first)."""
    from clearland.services import dbadmin

    result = dbadmin.upgrade(registry())
    if as_json:
        output.print_json(result)
    elif result["upgraded"]:
        output.out.print(f"Upgraded {result['database']} from schema {result['from']} to {result['to']}")
    else:
        output.out.print(f"{result['database']} is at schema {result['to']} already: nothing to do")


@db_app.command("backup")
@handles_errors
def db_backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (an SQLite registry file).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up the registry (SQLite or PostGIS) to FILE, from one consistent snapshot."""
    from clearland.services import dbadmin

    with _progress() as progress:
        result = dbadmin.backup(registry(), file, force=force, progress=progress)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Backed up {result['source']} to {result['file']}: {_summary(result)}")


@db_app.command("restore")
@handles_errors
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `clearland db backup`.")],
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace the registry with a backup: all of it or nothing, verified; --force over a registry."""
    from clearland.services import dbadmin

    with _progress() as progress:
        result = dbadmin.restore(registry(), file, force=force, progress=progress)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Restored {result['source']} into {result['target']}: {_summary(result)}")


@db_app.command("copy")
@handles_errors
def db_copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL_OR_PATH",
            help="The target database: postgresql://user:pass@host/db, or an SQLite file path.",
        ),
    ],
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy the registry (--db) to another database with every row and id, verified."""
    from clearland.services import dbadmin

    with _progress() as progress:
        result = dbadmin.copy(registry(), to, force=force, progress=progress)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Copied {result['source']} to {result['target']}: {_summary(result)}")

"""What every command shares: global options, the registry, error handling, option parsing."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from clearland.cli import output
from clearland.domain.records import parse_date
from clearland.errors import ClearlandError, ConfigError
from clearland.settings import Settings

if TYPE_CHECKING:
    from clearland.services.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", metavar="DATE", help="The registry as it was on DATE (YYYY-MM-DD)."),
]


class State:
    db: str | None = None
    user: str | None = None


state = State()


def registry() -> Registry:
    """The registry of ``--db``/``--as``; ``handles_errors`` closes it when the command ends."""
    from clearland.services.registry import open_registry

    opened = open_registry(Settings(), db=state.db, user=state.user)
    _opened.append(opened)
    return opened


#: registries opened by the running command, closed when it ends: their connections are let go
#: then (a server database keeps a connection until its client closes it), also when commands
#: run inside another program (a test's runner, a script) rather than a process of their own
_opened: list[Registry] = []


def handles_errors(func: F) -> F:
    """Turn clearland errors into one line on stderr (+ detail), exit status 1; close the
    registries the command opened."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        first = len(_opened)
        try:
            return func(*args, **kwargs)
        except ClearlandError as exc:
            output.report_error(exc, as_json=bool(kwargs.get("as_json")))
            raise typer.Exit(1) from None
        finally:
            while len(_opened) > first:
                _opened.pop().close()

    return wrapper  # type: ignore[return-value]


def date_option(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def pairs_option(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected FIELD=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs

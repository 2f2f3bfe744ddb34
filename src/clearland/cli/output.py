"""Terminal output: Rich tables and progress for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clearland.errors import ClearlandError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STAGES = {"read": "Reading", "check": "Checking", "match": "Matching", "write": "Writing"}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "wkt"):
        return value.wkt
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def report_error(exc: ClearlandError, *, as_json: bool, shown: int = 10) -> None:
    """One line on stderr, then a summary of the detail; everything as JSON with --json."""
    err.print(f"[bold red]error:[/] {exc.message}", markup=True)
    if as_json:
        print_json(exc.to_dict())
        return
    # entries that only repeat the file name say nothing the first line did not
    detail = [p for p in exc.detail if p.get("message")]
    for problem in detail[:shown]:
        err.print("  " + describe_problem(problem), markup=False)
    if len(detail) > shown:
        err.print(f"  … and {len(detail) - shown} more (all of them with --json)", markup=False)


def describe_problem(problem: dict[str, Any]) -> str:
    parts = []
    if "feature" in problem:
        fid = f" (fid {problem['fid']})" if problem.get("fid") not in (None, "") else ""
        parts.append(f"feature {problem['feature']}{fid}")
    elif "ref" in problem:
        parts.append(str(problem["ref"]))
    if problem.get("field"):
        parts.append(f"field {problem['field']}")
    text = ", ".join(parts)
    message = problem.get("message") or json.dumps(problem, ensure_ascii=False, default=str)
    action = f" [{problem['action']}]" if problem.get("action") else ""
    return f"{text}: {message}{action}" if text else f"{message}{action}"


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    grid = Table(title=title, show_lines=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*["" if v is None else str(v) for v in row])
    out.print(grid)


def km2(area_m2: float | None) -> str:
    return "" if area_m2 is None else f"{area_m2 / 1e6:,.3f} km²"


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A callback ``(stage, done, total)`` drawing a bar on stderr when it is a terminal."""
    if not enabled or not err.is_terminal:
        yield lambda _stage, _done, _total: None
        return
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update

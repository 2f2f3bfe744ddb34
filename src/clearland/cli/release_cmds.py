"""``clearland release …``: land release recorded in bulk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer

from clearland.cli import output
from clearland.cli.common import JsonOpt, date_option, handles_errors, registry
from clearland.domain.vocab import ActivityType, OnInvalid, OnUnmatched, OutcomeKind, Vocabulary
from clearland.errors import ConfigError

release_app = typer.Typer(help="Land release: outcomes of survey and clearance.", no_args_is_help=True)


V = TypeVar("V", bound=Vocabulary)


def _choice(vocab: type[V], value: str, option: str) -> V:
    try:
        return vocab(vocab.parse(value))
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


@release_app.command("import")
@handles_errors
def release_import(
    file: Annotated[
        Path, typer.Argument(help="Polygons of released land (any format `clearland import` reads).")
    ],
    outcome: Annotated[str, typer.Option(help="cancelled, reduced or cleared.")],
    activity_type: Annotated[
        str, typer.Option(help="nts, ts, clearance, bac, eod_spot_task, qa, qc, handover.")
    ],
    organisation: Annotated[str | None, typer.Option(help="Who did the work.")] = None,
    date_of_information: Annotated[str | None, typer.Option(metavar="DATE", help="Default today.")] = None,
    on_invalid: Annotated[str, typer.Option(help="reject, repair or skip (as for import).")] = "reject",
    on_unmatched: Annotated[
        str,
        typer.Option(
            help="reject: refuse a file reaching outside every hazard area; skip: drop those parts."
        ),
    ] = "reject",
    layer: Annotated[str | None, typer.Option(help="Layer to read from a multi-layer file.")] = None,
    crs: Annotated[
        str | None, typer.Option(metavar="EPSG:N", help="CRS of a file that declares none.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record released land: each polygon is clipped to the hazard areas it overlaps, and their
    remaining land is recomputed. One report: all of it lands, or nothing does."""
    from clearland.services.release_import import ReleaseOptions, import_outcomes

    kind = _choice(OutcomeKind, outcome, "--outcome")
    if kind is OutcomeKind.CONFIRMED:
        raise ConfigError("--outcome confirmed is not land release: confirmed parts come with survey reports")
    options = ReleaseOptions(
        outcome=kind,
        activity_type=_choice(ActivityType, activity_type, "--activity-type"),
        organisation=organisation,
        date_of_information=date_option(date_of_information, "--date-of-information"),
        on_invalid=_choice(OnInvalid, on_invalid, "--on-invalid"),
        on_unmatched=_choice(OnUnmatched, on_unmatched, "--on-unmatched"),
        layer=layer,
        crs=crs,
    )
    with output.progress_bar() as progress:
        result = import_outcomes(registry(), file, options, progress)
    if as_json:
        output.print_json(result)
        return
    output.out.print(
        f"{file.name}: {result['features']} polygons, {result['parts']} parts in "
        f"{len(result['hazard_areas'])} hazard areas; {result['created']} created, "
        f"{result['updated']} updated, "
        f"{result['unchanged']} unchanged, {result['unmatched']} outside every hazard area"
    )
    for problem in result["problems"][:10]:
        output.err.print("  " + output.describe_problem(problem), markup=False)
    if result["report"] is not None:
        output.out.print(f"Release report {result['report']}: {result['status']}")

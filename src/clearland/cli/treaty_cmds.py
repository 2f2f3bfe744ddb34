"""``clearland treaty …``: treaty reports (Mine Ban Treaty Article 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clearland.cli import output
from clearland.cli.common import JsonOpt, handles_errors, registry

treaty_app = typer.Typer(help="Treaty reports: Mine Ban Treaty Article 7 forms.", no_args_is_help=True)


@treaty_app.command("article7")
@handles_errors
def treaty_article7(
    year: Annotated[int, typer.Option("--year", help="The calendar year reported on.")],
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", help="Also write the forms to this .xlsx file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Article 7 Form C (mined areas) and Form G (AP mines destroyed) for a year (records custodians)."""
    from clearland.services.treaty import article7

    result = article7(registry(), year, xlsx=xlsx)
    if as_json:
        output.print_json(result)
        return
    c, g = result["form_c"], result["form_g"]
    output.table(
        f"Form C — {c['mined_areas']} mined areas as of {result['as_of']} "
        f"({c['ap_mines_recorded']} AP mines recorded)",
        ["hazard area", "status", "admin area", "lon", "lat", "record", "mine type", "quantity", "laid"],
        [
            [
                r["hazard_area"],
                f"{r['category']} {r['status']}",
                r["admin_area"],
                r["lon"],
                r["lat"],
                r["minefield_record"],
                r["mine_type"],
                r["quantity"],
                r["date_laid"],
            ]
            for r in c["rows"]
        ],
    )
    output.table(
        f"Form G — AP mines destroyed in {year}: {g['destroyed']}",
        ["mine type", "destroyed", "removed", "rendered safe"],
        [[r["mine_type"], r["destroyed"], r["removed"], r["rendered_safe"]] for r in g["rows"]],
    )
    if xlsx is not None:
        output.out.print(f"Written to {result['xlsx']}")

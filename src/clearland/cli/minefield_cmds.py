"""``clearland minefields …``: minefield records (records custodians only), their item logs,
marking and inspections, record sheets and handover packages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clearland.cli import output
from clearland.cli.common import AsOfOpt, JsonOpt, date_option, handles_errors, registry

minefields_app = typer.Typer(
    help="Minefield records (records custodians): list, show, items, overdue, sign-gaps, sheet, package.",
    no_args_is_help=True,
)


def minefield_submitted(result: dict[str, Any]) -> str:
    """One line for ``report submit`` of a minefield record or a marking/inspection report."""
    if result["type"] == "minefield_record":
        checked = (
            f", polygon agrees within {result['disagreement_m']:.2f} m" if result["disagreement_m"] else ""
        )
        return (
            f"Report {result['report']} (minefield_record) submitted for review: "
            f"{result['minefield_record']} "
            f"and its CHA {result['hazard_area']} (perimeter from {result['perimeter_source']}{checked})"
        )
    inspection = f", inspection {result['inspection']}" if result["inspection"] else ""
    return (
        f"Report {result['report']} (marking_inspection) submitted for review: {result['minefield_record']}, "
        f"{len(result['markers'])} marker change(s){inspection}"
    )


@minefields_app.command("list")
@handles_errors
def minefields_list(as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """List minefield records with their mine totals and last inspection."""
    from clearland.services import minefields

    items = minefields.list_records(registry(), as_of=date_option(as_of, "--as-of"))
    if as_json:
        output.print_json([{k: v for k, v in i.items() if k not in ("geometry", "record_id")} for i in items])
        return
    output.table(
        f"{len(items)} minefield records",
        ["ref", "name", "recording unit", "laid", "mines", "CHA", "last inspected", "information"],
        [
            [
                i["ref"],
                i.get("name"),
                i.get("recording_unit"),
                f"{i.get('laid_from')} – {i.get('laid_to')}",
                ", ".join(f"{n} {c}" for c, n in sorted(i["mine_totals"].items())),
                i.get("hazard_ref"),
                i.get("last_inspected") or "never",
                i.get("date_of_information"),
            ]
            for i in items
        ],
    )


@minefields_app.command("show")
@handles_errors
def minefields_show(
    ref: Annotated[str, typer.Argument(help="The record's ref, e.g. MFR-000001.")],
    history: Annotated[bool, typer.Option("--history", help="Every report that changed it.")] = False,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one minefield record: reference points, turning points, mines, marking, inspections."""
    from clearland.services import minefields

    item = minefields.show_record(registry(), ref, as_of=date_option(as_of, "--as-of"), history=history)
    item.pop("record_id", None)
    geometry = item.pop("geometry")
    if as_json:
        output.print_json({**item, "geometry": geometry.__geo_interface__})
        return
    simple = {k: v for k, v in item.items() if not isinstance(v, list | dict)}
    output.table(item["ref"], ["field", "value"], [[k, v] for k, v in simple.items()])
    output.table(
        "reference points",
        ["id", "longitude", "latitude", "description"],
        [[p["id"], f"{p['lon']:.7f}", f"{p['lat']:.7f}", p["description"]] for p in item["reference_points"]],
    )
    output.table(
        "turning points",
        ["id", "from", "bearing °", "distance m", "longitude", "latitude"],
        [
            [
                t["id"],
                t.get("from"),
                f"{t['bearing_deg']:.2f}",
                f"{t['distance_m']:.2f}",
                f"{t['lon']:.7f}",
                f"{t['lat']:.7f}",
            ]
            for t in item["turning_points"]
        ],
    )
    output.table(
        "mines",
        [
            "type",
            "category",
            "quantity",
            "fuze",
            "life (d)",
            "self-destruct (d)",
            "self-deactivation (d)",
            "AHD",
        ],
        [
            [
                m["type_name"],
                m["category"],
                m["quantity"],
                m.get("fuze"),
                m.get("life_time_days"),
                m.get("self_destruct_days"),
                m.get("self_deactivation_days"),
                "yes" if m.get("anti_handling") else "no",
            ]
            for m in item["mines"]
        ],
    )
    if item["markers"]:
        output.table(
            "markers",
            ["ref", "type", "condition", "installed", "last inspected"],
            [
                [m["ref"], m["type"], m["condition"], m.get("installed_on"), m.get("last_inspected")]
                for m in item["markers"]
            ],
        )
    if item["inspections"]:
        output.table(
            "inspections",
            ["ref", "date", "inspector", "condition", "missing", "damaged"],
            [
                [
                    i["ref"],
                    i["inspected_on"],
                    i["inspector"],
                    i["condition"],
                    ", ".join(i.get("missing_markers") or []),
                    ", ".join(i.get("damaged_markers") or []),
                ]
                for i in item["inspections"]
            ],
        )
    if item.get("history") is not None:
        output.table(
            "history",
            ["report", "type", "status", "information", "by", "changed"],
            [
                [
                    v["report"],
                    v["type"],
                    v["status"],
                    v["date_of_information"],
                    v["by"],
                    ", ".join(v["changed"]),
                ]
                for v in item["history"]
            ],
        )


@minefields_app.command("items")
@handles_errors
def minefields_items(
    ref: Annotated[str, typer.Argument(help="The record's ref.")],
    file: Annotated[Path, typer.Argument(help="CSV with columns id, lon, lat, category, time.")],
    margin: Annotated[
        float, typer.Option("--margin", help="Margin of the marking perimeter, metres.")
    ] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Check an item log against a record: counts per category, items outside the perimeter."""
    from clearland.services import minefields

    result = minefields.items(registry(), ref, file, margin_m=margin)
    if as_json:
        output.print_json(result)
        return
    output.table(
        f"{result['items']} items logged against {ref}",
        ["category", "recorded", "logged", "missing", "extra"],
        [[c, n["recorded"], n["logged"], n["missing"], n["extra"]] for c, n in result["categories"].items()],
    )
    for item in result["outside"]:
        output.out.print(
            f"  outside the perimeter: {item['id']} ({item['category']}) at "
            f"{item['lon']:.7f}, {item['lat']:.7f}, "
            f"{item['distance_m']:.1f} m out"
        )
    if result["unrecorded_ids"]:
        output.out.print(f"  not among the recorded items: {', '.join(result['unrecorded_ids'])}")
    if result["unlogged_ids"]:
        output.out.print(f"  recorded but not in the log: {', '.join(result['unlogged_ids'])}")
    marking = result["marking_perimeter"]
    if marking is not None:
        output.out.print(
            f"Suggested perimeter for marking (signs or fencing), {marking['margin_m']:g} m around "
            "the record and "
            f"every item: {marking['area_m2']:,.1f} m²; the coordinates are in --json"
        )
    output.out.print(
        "The log matches the record." if result["matches"] else "The log does NOT match the record."
    )


@minefields_app.command("overdue")
@handles_errors
def minefields_overdue(
    days: Annotated[int, typer.Option("--days", help="Inspections older than this many days are overdue.")],
    as_json: JsonOpt = False,
) -> None:
    """Records whose marking was last inspected more than N days ago, or never."""
    from clearland.services import minefields

    items = minefields.overdue(registry(), days)
    if as_json:
        output.print_json(items)
        return
    output.table(
        f"{len(items)} records with inspection overdue (more than {days} days)",
        ["ref", "name", "CHA", "last inspected", "days since"],
        [
            [i["ref"], i["name"], i["hazard_ref"], i["last_inspected"] or "never", i["days_since"]]
            for i in items
        ],
    )


@minefields_app.command("sign-gaps")
@handles_errors
def minefields_sign_gaps(
    ref: Annotated[str, typer.Argument(help="The record's ref.")],
    max_gap: Annotated[float, typer.Option("--max-gap", help="Metres from the nearest sign.")] = 50.0,
    as_json: JsonOpt = False,
) -> None:
    """Stretches of the perimeter with no sign within M metres (a person could walk in unwarned)."""
    from clearland.services import minefields

    result = minefields.gaps(registry(), ref, max_gap_m=max_gap)
    if as_json:
        output.print_json(result)
        return
    output.table(
        f"{ref}: {len(result['gaps'])} stretches with no sign within {max_gap:g} m "
        f"({result['signs']} signs, {result['signs_missing']} missing)",
        ["start lon", "start lat", "end lon", "end lat", "length m"],
        [
            [
                f"{g['start'][0]:.7f}",
                f"{g['start'][1]:.7f}",
                f"{g['end'][0]:.7f}",
                f"{g['end'][1]:.7f}",
                g["length_m"],
            ]
            for g in result["gaps"]
        ],
    )


@minefields_app.command("sheet")
@handles_errors
def minefields_sheet(
    ref: Annotated[str, typer.Argument(help="The record's ref.")],
    out: Annotated[Path, typer.Option("--out", help="The PDF file to write.")],
    as_json: JsonOpt = False,
) -> None:
    """Write the record sheet (PDF): map, reference and turning points, mines, marking, signatures."""
    from clearland.services.minefield_docs import record_sheet

    result = record_sheet(registry(), ref, out)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Record sheet of {ref} written to {result['file']}")


@minefields_app.command("package")
@handles_errors
def minefields_package(
    ref: Annotated[str, typer.Argument(help="The record's ref.")],
    out: Annotated[Path, typer.Option("--out", help="A directory, or a file ending in .zip.")],
    as_json: JsonOpt = False,
) -> None:
    """Write the handover package for a clearance organisation: GeoPackage + record sheet."""
    from clearland.services.minefield_docs import handover_package

    result = handover_package(registry(), ref, out)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(
            f"Handover package of {ref} written to {result['path']}: {', '.join(result['files'])}"
        )

"""``clearland`` command line: thin adapters over ``clearland.services``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clearland.cli import output
from clearland.cli.common import (
    AsOfOpt,
    JsonOpt,
    date_option,
    handles_errors,
    pairs_option,
    registry,
    state,
)
from clearland.cli.db_cmds import db_app
from clearland.cli.minefield_cmds import minefields_app
from clearland.cli.release_cmds import release_app
from clearland.cli.report_cmds import report_app
from clearland.cli.safety_cmds import check_app, screen_command
from clearland.cli.serve_cmds import serve_command
from clearland.cli.treaty_cmds import treaty_app
from clearland.cli.users_cmds import audit_command, users_app
from clearland.domain.vocab import OnInvalid, RecordKind
from clearland.errors import ConfigError

# Services (and through them GDAL, Arrow and SQLAlchemy) are imported inside each command:
# `clearland --help` and commands that fail early stay fast.

app = typer.Typer(
    help="clearland: the hazard registry for mine action. Records, warns, tracks clearance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
hazards_app = typer.Typer(help="Read hazard areas.", no_args_is_help=True)
app.add_typer(hazards_app, name="hazards")
app.add_typer(users_app, name="users")
app.add_typer(report_app, name="report")
app.add_typer(release_app, name="release")
app.add_typer(check_app, name="check")
app.add_typer(minefields_app, name="minefields")
app.add_typer(treaty_app, name="treaty")
app.add_typer(db_app, name="db")
app.command("screen")(handles_errors(screen_command))
app.command("serve")(handles_errors(serve_command))
app.command("audit")(audit_command)


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH_OR_URL",
            help="Registry database (default $CLEARLAND_DATABASE_URL or ./clearland.db).",
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", metavar="USER", help="Act as USER (default: the local admin)."),
    ] = None,
) -> None:
    state.db = db
    state.user = as_user


@app.command()
@handles_errors
def init(as_json: JsonOpt = False) -> None:
    """Create a registry (or upgrade an existing one) with a local admin user."""
    from clearland.services.registry import init_registry

    reg = registry()
    result = init_registry(reg)
    if as_json:
        output.print_json(result)
    else:
        verb = "Created" if result["created"] else "Checked"
        output.out.print(f"{verb} registry {result['database']} (revision {result['revision']})")


KIND_NAMES = {"hazard-areas": RecordKind.HAZARD_AREA, "admin-areas": RecordKind.ADMIN_AREA}


@app.command("import")
@handles_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), KML/KMZ, CSV, FlatGeobuf or GeoParquet."
        ),
    ],
    layer: Annotated[str | None, typer.Option(help="Layer to read from a multi-layer file.")] = None,
    as_kind: Annotated[str, typer.Option("--as", help="hazard-areas or admin-areas.")] = "hazard-areas",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="FIELD=COLUMN", help="Read FIELD from COLUMN (repeatable)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="FIELD=VALUE",
            help="Give FIELD this value on every feature (repeatable).",
        ),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(metavar="EPSG:N", help="CRS of a file that declares none.")
    ] = None,
    on_invalid: Annotated[
        str,
        typer.Option(
            help="reject (default): import nothing if anything is wrong; "
            "repair: fix invalid geometry, skip what cannot be fixed; skip: skip every bad feature."
        ),
    ] = "reject",
    date_of_information: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Date the file's information is from (default today)."),
    ] = None,
    lon_col: Annotated[str | None, typer.Option(help="CSV longitude column.")] = None,
    lat_col: Annotated[str | None, typer.Option(help="CSV latitude column.")] = None,
    wkt_col: Annotated[str | None, typer.Option(help="CSV WKT geometry column.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import features as one import report: all of it lands, or nothing does."""
    from clearland.services.imports import ImportOptions, import_file

    if as_kind not in KIND_NAMES:
        raise ConfigError(f"--as {as_kind}: choose hazard-areas or admin-areas")
    try:
        policy = OnInvalid(OnInvalid.parse(on_invalid))
    except ValueError as exc:
        raise ConfigError(f"--on-invalid: {exc}") from None
    csv_geometry: tuple[str, ...] | None = None
    if wkt_col:
        csv_geometry = (wkt_col,)
    elif lon_col or lat_col:
        if not (lon_col and lat_col):
            raise ConfigError("--lon-col and --lat-col go together")
        csv_geometry = (lon_col, lat_col)
    options = ImportOptions(
        kind=KIND_NAMES[as_kind],
        layer=layer,
        mapping=pairs_option(map_, "--map"),
        constants=pairs_option(set_, "--set"),
        crs=crs,
        on_invalid=policy,
        date_of_information=date_option(date_of_information, "--date-of-information"),
        csv_geometry=csv_geometry,
    )
    reg = registry()
    with output.progress_bar() as progress:
        result = import_file(reg, file, options, progress)
    if as_json:
        output.print_json(result)
        return
    output.out.print(
        f"{file.name}: {result['features']} features read; {result['created']} created, "
        f"{result['updated']} updated, {result['unchanged']} unchanged, {result['skipped']} skipped, "
        f"{result['repaired']} repaired"
    )
    for note in result["notes"]:
        output.out.print(f"  note: {note}")
    for problem in result["problems"][:10]:
        output.err.print("  " + output.describe_problem(problem), markup=False)
    if len(result["problems"]) > 10:
        output.err.print(f"  … and {len(result['problems']) - 10} more (all of them with --json)")
    if result["report"] is not None:
        output.out.print(f"Import report {result['report']}: {result['status']}")


@app.command()
@handles_errors
def export(
    file: Annotated[
        Path, typer.Argument(help="Output file; the format follows the extension unless --format.")
    ],
    format: Annotated[
        str | None, typer.Option(help="gpkg, geojson, kml, shp, csv, fgb, parquet or osm.")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="Only the fields the public may see.")] = False,
    as_kind: Annotated[
        str,
        typer.Option(
            "--as",
            help="hazard-areas, admin-areas, outcomes (released land), markers, "
            "or minefield-records (records custodians; never --public).",
        ),
    ] = "hazard-areas",
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export hazard areas (or admin areas, or outcomes) to a GIS file."""
    from clearland.services import exports

    kinds = {
        **KIND_NAMES,
        "outcomes": RecordKind.OUTCOME,
        "markers": RecordKind.MARKER,
        "minefield-records": RecordKind.MINEFIELD_RECORD,
    }
    if as_kind not in kinds:
        raise ConfigError(f"--as {as_kind}: choose {', '.join(kinds)}")
    result = exports.export(
        registry(),
        file,
        format=format,
        kind=kinds[as_kind],
        public=public,
        as_of=date_option(as_of, "--as-of"),
    )
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Wrote {result['features']} features to {result['file']} ({result['format']})")


stats_app = typer.Typer(
    help="Counts and areas; `stats release` for land released.", invoke_without_command=True
)
app.add_typer(stats_app, name="stats")


@stats_app.callback()
@handles_errors
def stats(
    ctx: typer.Context,
    by: Annotated[str | None, typer.Option(help="Group by status, category or admin-area.")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts and areas of hazard areas; net area counts overlaps once."""
    if ctx.invoked_subcommand is not None:
        return
    from clearland.services import statistics

    result = statistics.statistics(registry(), by=by, as_of=date_option(as_of, "--as-of"))
    if as_json:
        output.print_json(result)
        return
    if result.get("synthetic"):
        output.err.print(f"[yellow]{result['synthetic']}[/]")
    rows = [
        [
            "all",
            result["count"],
            output.km2(result["area_m2_sum"]),
            output.km2(result["area_m2_net"]),
        ]
    ]
    for key, group in (result.get("groups") or {}).items():
        rows.append(
            [
                key,
                group["count"],
                output.km2(group["area_m2_sum"]),
                output.km2(group["area_m2_net"]),
            ]
        )
    when = f" as of {result['as_of']}" if result["as_of"] else ""
    output.table(
        f"Hazard areas{when} (revision {result['revision']}, "
        f"information up to {result['latest_information'] or 'none yet'})",
        [by or "", "count", "sum of areas", "net area (overlaps once)"],
        rows,
    )
    released = result["released_m2"]
    output.out.print(
        f"Remaining in areas not closed: {output.km2(result['remaining_m2_net'])}; released: "
        + ", ".join(f"{kind} {output.km2(m2)}" for kind, m2 in released.items())
    )


@stats_app.command("release")
@handles_errors
def stats_release(
    by: Annotated[str, typer.Option(help="month or admin-area.")] = "month",
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Land released per month or per admin area, by outcome kind (overlaps once)."""
    from clearland.services import statistics

    result = statistics.release_statistics(registry(), by=by, as_of=date_option(as_of, "--as-of"))
    if as_json:
        output.print_json(result)
        return
    kinds = ["cancelled", "reduced", "cleared", "total"]
    rows = [[key, *(output.km2(group[k]) for k in kinds)] for key, group in result["groups"].items()]
    rows.append(["all", *(output.km2(result["released_m2"][k]) for k in kinds)])
    output.table(f"Land released by {by}", [by, *kinds], rows)
    devices = result["devices_destroyed"]
    if devices["total"]:
        categories = sorted(devices["total"])
        rows = [[key, *(counts.get(c, 0) for c in categories)] for key, counts in devices["groups"].items()]
        rows.append(["all", *(devices["total"][c] for c in categories)])
        output.table(f"Devices destroyed by {by}", [by, *categories], rows)
    events = result.get("hazard_areas")
    if events and events["groups"]:
        rows = [[month, c["opened"], c["closed"]] for month, c in events["groups"].items()]
        rows.append(["all", events["total"]["opened"], events["total"]["closed"]])
        output.table("Hazard areas opened and closed by month", ["month", "opened", "closed"], rows)


@app.command()
@handles_errors
def validate(as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Data quality: overlaps, near-duplicates, slivers and broken rules."""
    from clearland.services import statistics

    result = statistics.validate(registry(), as_of=date_option(as_of, "--as-of"))
    if as_json:
        output.print_json(result)
    else:
        counts = result["counts"]
        output.out.print(
            f"{result['checked']} hazard areas checked: {counts.get('overlaps', 0)} overlapping pairs, "
            f"{counts.get('near_duplicates', 0)} near-duplicates, {counts.get('slivers', 0)} slivers, "
            f"{counts.get('rule_violations', 0)} rule violations"
        )
        for item in result["near_duplicates"][:10]:
            output.out.print(f"  near-duplicate {item['a']} ~ {item['b']} (IoU {item['iou']:.3f})")
        for item in result["overlaps"][:10]:
            output.out.print(f"  overlap {item['a']} ∩ {item['b']}: {item['overlap_m2']:,.1f} m²")
        for item in result["slivers"][:10]:
            output.out.print(f"  sliver in {item['ref']}: {item['reason']}")
        for item in result["rule_violations"][:10]:
            output.out.print(f"  {item['ref']}: {item['message']}")
    if not result["ok"]:
        raise typer.Exit(1)


@hazards_app.command("list")
@handles_errors
def hazards_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    public: Annotated[bool, typer.Option("--public", help="Only public fields.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List hazard areas."""
    from clearland.services import queries

    where = {k: v for k, v in {"status": status, "category": category}.items() if v}
    items = queries.records(registry(), as_of=date_option(as_of, "--as-of"), where=where, public=public)
    if limit is not None:
        items = items[:limit]
    if as_json:
        hidden = ("geometry", "record_id", "remaining_geometry")
        output.print_json([{k: v for k, v in i.items() if k not in hidden} for i in items])
        return
    output.table(
        f"{len(items)} hazard areas",
        ["ref", "name", "category", "status", "hazard types", "marking", "area", "information"],
        [
            [
                i["ref"],
                i.get("name"),
                i.get("category"),
                i.get("status"),
                ", ".join(i.get("hazard_types") or []),
                i.get("marking"),
                output.km2(i.get("area_m2")),
                i.get("date_of_information"),
            ]
            for i in items
        ],
    )


@hazards_app.command("show")
@handles_errors
def hazards_show(
    ref: Annotated[str, typer.Argument(help="The hazard area's ref, e.g. HA-000123.")],
    history: Annotated[bool, typer.Option("--history", help="Every report that changed it.")] = False,
    public: Annotated[bool, typer.Option("--public", help="Only public fields.")] = False,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one hazard area."""
    from clearland.services import queries

    item = queries.record(
        registry(), ref, as_of=date_option(as_of, "--as-of"), history=history, public=public
    )
    item.pop("record_id", None)
    geometry = item.pop("geometry")
    remaining = item.pop("remaining_geometry", None)
    versions = item.pop("history", None)
    if as_json:
        data: dict[str, Any] = {**item, "geometry": geometry.__geo_interface__}
        if remaining is not None:
            data["remaining_geometry"] = remaining.__geo_interface__
        if versions is not None:
            data["history"] = versions
        output.print_json(data)
        return
    output.table(item["ref"], ["field", "value"], [[k, v] for k, v in item.items()])
    if versions is not None:
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
                for v in versions
            ],
        )


@app.command()
@handles_errors
def demo(
    count: Annotated[int, typer.Option(help="How many synthetic hazard areas.")] = 3000,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing registry at --db.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a SYNTHETIC demo registry (invented areas at sea near 0°N 0°E, labelled as such)."""
    from clearland.services import demo as demo_service

    reg = registry()
    with output.progress_bar() as progress:
        result = demo_service.create_demo(reg, count=count, force=force, progress=progress)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(
            f"Demo registry {result['database']}: {result['hazard_areas']} hazard areas, "
            f"{result['admin_areas']} admin areas. {result['label']}."
        )


def main() -> None:
    app(prog_name="clearland")


if __name__ == "__main__":
    main()

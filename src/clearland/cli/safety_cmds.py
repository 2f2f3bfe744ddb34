"""``clearland check …`` and ``clearland screen``: does a point, route or field touch a recorded
hazard, and which of millions of GPS fixes did."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clearland.cli import output
from clearland.cli.common import JsonOpt, handles_errors, registry

check_app = typer.Typer(
    help="Safety check: is this point, route or field inside or near a recorded hazard area?",
    no_args_is_help=True,
)

WithinOpt = Annotated[
    float, typer.Option("--within", metavar="M", help="Distance in metres that counts as near.")
]
LayerOpt = Annotated[str | None, typer.Option(help="Layer to read (GPKG, KML with several).")]


@check_app.command("point")
@handles_errors
def check_point(
    lon: Annotated[float, typer.Argument(help="Longitude, degrees (WGS84).")],
    lat: Annotated[float, typer.Argument(help="Latitude, degrees (WGS84).")],
    within: WithinOpt = 100.0,
    as_json: JsonOpt = False,
) -> None:
    """Check one position: clearland check point 18.4131 43.8563 --within 100"""
    from clearland.services.safety import check_point as check

    _show(check(registry(), lon, lat, within), as_json)


@check_app.command("route")
@handles_errors
def check_route(
    file: Annotated[Path, typer.Argument(help="GPX (tracks and routes), GeoJSON or KML lines.")],
    within: WithinOpt = 100.0,
    layer: LayerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a route or track: does it cross or pass near a recorded hazard area?"""
    from clearland.services.safety import check_file

    _show(check_file(registry(), file, "route", within, layer=layer), as_json)


@check_app.command("area")
@handles_errors
def check_area(
    file: Annotated[Path, typer.Argument(help="Field polygons: GeoJSON, KML, GPKG, Shapefile …")],
    within: WithinOpt = 100.0,
    layer: LayerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a field or plot: does it overlap or lie near a recorded hazard area?"""
    from clearland.services.safety import check_file

    _show(check_file(registry(), file, "area", within, layer=layer), as_json)


def _show(answer: dict[str, Any], as_json: bool) -> None:
    from clearland.services.safety import ANSWER_WORDS

    if as_json:
        output.print_json(answer)
        return
    reg = answer["registry"]
    colour = {"inside": "bold red", "near": "bold yellow", "no_record": "bold"}[answer["answer"]]
    output.out.print(
        f"[{colour}]{ANSWER_WORDS[answer['answer']].capitalize()}[/{colour}] "
        f"(within {answer['within_m']:g} m)"
    )
    rows = [
        [
            h["ref"],
            h["category"],
            h["status"],
            h["marking"] or "",
            "inside" if h["inside"] else f"{h['distance_m']:,.1f} m",
            "" if h["bearing_deg"] is None else f"{h['bearing_deg']:.0f}°",
        ]
        for h in answer["hazards"]
    ]
    if rows:
        output.table(None, ["hazard area", "category", "status", "marking", "distance", "bearing"], rows)
    for feature in answer.get("features", []):
        if len(answer.get("features", [])) > 1:
            output.out.print(f"  {feature['feature']}: {ANSWER_WORDS[feature['answer']]}")
    for warning in answer.get("warnings", []):
        output.out.print(f"[yellow]warning:[/yellow] {warning}")
    latest = reg["latest_information"] or "no approved information yet"
    output.out.print(f"Registry revision {reg['revision']}, information up to {latest}.")
    if "synthetic" in reg:
        output.out.print(f"[yellow]{reg['synthetic']}[/yellow]")
    output.out.print(answer["notice"])


def screen_command(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", help="CSV, GPX, GeoJSON, FlatGeobuf or GeoParquet.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Results: .csv or .parquet (GeoParquet).")],
    within: WithinOpt = 100.0,
    lon_col: Annotated[
        str | None, typer.Option(help="Longitude column (default: lon, longitude, x …).")
    ] = None,
    lat_col: Annotated[
        str | None, typer.Option(help="Latitude column (default: lat, latitude, y …).")
    ] = None,
    id_col: Annotated[str | None, typer.Option(help="Id column (default: id, else the row number).")] = None,
    time_col: Annotated[str | None, typer.Option(help="Timestamp column checked for corrupt clocks.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes to use (default: every core).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Screen GPS points in bulk: one row per point with status inside, near, no_record or
    invalid_input, the nearest hazard area and the distance; a summary at the end."""
    from clearland.services.screening import screen

    with _points_bar(not as_json) as progress:
        result = screen(
            registry(),
            input_file,
            out,
            within_m=within,
            lon_col=lon_col,
            lat_col=lat_col,
            id_col=id_col,
            time_col=time_col,
            workers=workers,
            progress=progress,
        )
    if as_json:
        output.print_json(result)
        return
    counts = result["counts"]
    output.out.print(
        f"{result['points']:,} points screened in {result['seconds']:.1f} s "
        f"({result['points_per_second'] or 0:,} points/s) → {result['output']}"
    )
    output.table(None, ["status", "points"], [[k, f"{v:,}"] for k, v in counts.items()])
    for reason, count in result["invalid_reasons"].items():
        output.out.print(f"  invalid_input: {count:,} × {reason}")
    reg = result["registry"]
    output.out.print(
        f"Registry revision {reg['revision']}, information up to {reg['latest_information'] or 'none'}; "
        f"{result['hazard_areas_indexed']:,} hazard areas indexed."
    )
    output.out.print(result["notice"])


class _points_bar:
    """A progress bar with points per second on stderr, when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and output.err.is_terminal
        self.bar: Progress | None = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        self.bar = Progress(
            TextColumn("screening"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=output.err,
            transient=True,
        )
        self.bar.__enter__()
        bar = self.bar
        task = bar.add_task("screen", total=None, rate="")

        def update(done: int, total: int | None) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f} points/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

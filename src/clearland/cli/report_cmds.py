"""``clearland report …``: report files and the review workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clearland.cli import output
from clearland.cli.common import JsonOpt, handles_errors, registry
from clearland.cli.minefield_cmds import minefield_submitted

report_app = typer.Typer(
    help="Reports: submit, review (list, show, approve, reject), unapprove.", no_args_is_help=True
)


@report_app.command("submit")
@handles_errors
def report_submit(
    file: Annotated[Path, typer.Argument(help="The report as JSON (see `clearland report schema TYPE`).")],
    as_json: JsonOpt = False,
) -> None:
    """Submit a report file for review; it is checked whole and stored only if all of it is right."""
    from clearland.services.submissions import submit_report_file

    result = submit_report_file(registry(), file)
    if as_json:
        output.print_json(result)
    elif "activity" in result:
        output.out.print(
            f"Report {result['report']} ({result['type']}) submitted for review: activity "
            f"{result['activity']}, {len(result['outcomes'])} outcome part(s), "
            f"{len(result['devices'])} device record(s)"
        )
        if result["dropped_outside_m2"]:
            output.out.print(f"{result['dropped_outside_m2']:,.1f} m² outside the hazard areas were dropped")
    elif "minefield_record" in result:
        output.out.print(minefield_submitted(result))
    else:
        output.out.print(
            f"Report {result['report']} ({result['type']}) submitted for review: "
            f"{', '.join(result['records'])}"
        )


@report_app.command("schema")
@handles_errors
def report_schema_cmd(
    report_type: Annotated[
        str, typer.Argument(help="Report type, e.g. hazard_report, minefield-record, marking-inspection.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Print the JSON Schema of a report type (with an example)."""
    from clearland.io.report_files import report_schema

    output.print_json(report_schema(report_type))


@report_app.command("list")
@handles_errors
def report_list(
    status: Annotated[
        str | None, typer.Option(help="draft, submitted, approved, rejected or unapproved.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List reports, newest first."""
    from clearland.services import review

    items = review.list_reports(registry(), status=status)
    if as_json:
        output.print_json(items)
        return
    output.table(
        f"{len(items)} reports",
        ["id", "type", "status", "information", "records", "by", "decided by", "source"],
        [
            [
                r["id"],
                r["type"],
                r["status"],
                r["date_of_information"],
                r["records"],
                r["created_by"],
                r["decided_by"],
                r["source_name"],
            ]
            for r in items
        ],
    )


@report_app.command("show")
@handles_errors
def report_show(
    report_id: Annotated[int, typer.Argument(help="The report's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a report and what it would change (before → after)."""
    from clearland.services import review

    item = review.show_report(registry(), report_id)
    if as_json:
        output.print_json(item)
        return
    summary = item["summary"]
    output.out.print(
        f"Report {item['id']} ({item['type']}, {item['status']}), "
        f"information of {item['date_of_information']}, "
        f"by {item['created_by']}: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['no_change']} unchanged"
    )
    rows = []
    for change in item["changes"]:
        if change.get("restricted"):
            rows.append([change["ref"], change["action"], "(restricted)", None, None])
        for name, diff in change["fields"].items():
            rows.append([change["ref"], change["action"], name, diff["before"], diff["after"]])
        if "geometry" in change:
            geometry = change["geometry"]
            rows.append(
                [
                    change["ref"],
                    change["action"],
                    "geometry (m²)",
                    geometry["area_m2_before"],
                    round(geometry["area_m2_after"], 1),
                ]
            )
    output.table(None, ["ref", "action", "field", "before", "after"], rows[:200])
    if len(rows) > 200:
        output.out.print(f"… and {len(rows) - 200} more lines (all of them with --json)")
    _print_transitions(item.get("transitions"), "If approved now:")
    if "approval_refused" in item:
        output.out.print(f"[red]Approval would be refused:[/red] {item['approval_refused']['message']}")


def _print_transitions(transitions: list[dict[str, Any]] | None, title: str) -> None:
    if not transitions:
        return
    output.out.print(title)
    for step in transitions:
        before, after = step["from"], step["to"]
        split = f"; splits off {step['split_off']}" if step.get("split_off") else ""
        output.out.print(
            f"  {step['ref']}: {before['category']} {before['status']} → {after['category']} "
            f"{after['status']}{split} — {step['reason']}"
        )


@report_app.command("approve")
@handles_errors
def report_approve(report_id: int, as_json: JsonOpt = False) -> None:
    """Approve a submitted report (reviewers): its changes become versions of the records."""
    from clearland.services import review

    result = review.approve_report(registry(), report_id)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(
            f"Approved report {report_id}: {result['records']} records (revision {result['revision']})"
        )
        _print_transitions(result.get("transitions"), "Hazard areas:")


@report_app.command("reject")
@handles_errors
def report_reject(
    report_id: int,
    reason: Annotated[str | None, typer.Option(help="Why, for the reporter.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a submitted report (reviewers). It stays in the history; nothing changes."""
    from clearland.services import review

    result = review.reject_report(registry(), report_id, reason)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(f"Rejected report {report_id}")


@report_app.command("unapprove")
@handles_errors
def report_unapprove(
    report_id: int,
    reason: Annotated[str, typer.Option(help="Why it is withdrawn (required).")],
    as_json: JsonOpt = False,
) -> None:
    """Withdraw an approved report (admins); its records are rebuilt from the other reports."""
    from clearland.services import review

    result = review.unapprove_report(registry(), report_id, reason)
    if as_json:
        output.print_json(result)
    else:
        output.out.print(
            f"Unapproved report {report_id}: {result['records_rebuilt']} records rebuilt, "
            f"{result['records_withdrawn']} withdrawn (revision {result['revision']})"
        )


@report_app.command("pdf")
@handles_errors
def report_pdf(
    report_id: Annotated[int, typer.Argument(help="An activity report's id.")],
    out: Annotated[Path, typer.Option("--out", help="The PDF file to write.")],
    hazard: Annotated[
        str | None, typer.Option("--hazard", help="The hazard area, when the report worked on several.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the completion report (or, for a handover, the handover certificate) as PDF."""
    from clearland.services.documents import report_pdf as make_pdf

    result = make_pdf(registry(), report_id, out, hazard_ref=hazard)
    if as_json:
        output.print_json(result)
    else:
        title = result["document"].replace("_", " ").capitalize()
        output.out.print(f"{title} for {result['hazard_area']} written to {result['file']}")

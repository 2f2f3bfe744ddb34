// The review inbox, for reviewers and admins: the submitted reports (GET /reports), and for each
// what approving it would change (GET /reports/{id}: per record the fields before → after, the
// geometry before and after on a map, the hazard area transitions of an activity report), and
// approve or reject with a reason. A decision sends back the report's ETag as If-Match: when
// another reviewer decided it meanwhile the server answers 409, and the page says so and reloads.
import GeoJSON from "ol/format/GeoJSON";
import type { Feature as OlFeature } from "ol";
import { createEmpty, extend, isEmpty } from "ol/extent";
import {
  ApiProblem,
  decide,
  report,
  unapprove,
  reports,
  type RecordChange,
  type ReportDetail,
  type ReportSummary,
} from "../api";
import { append, clear, facts, h } from "../dom";
import { formatDate, formatNumber, t, vocab } from "../i18n";
import { createMap, registryChanged, toLonLat, type RegistryMap } from "../mapview";
import { hasRole, REVIEW_ROLES, UNAPPROVE_ROLES } from "../session";
import { whenRefused } from "./login";
import { probe, recordHref, type MapProbe } from "./map";
import type { Context, Page } from "./page";

export type ReviewProbe = {
  etag(): string | null;
  report(): ReportDetail | null;
  /** the refs drawn on the report's map as they are ("before") or would be ("after") */
  drawnRefs(role: "before" | "after"): string[];
};

declare global {
  interface Window {
    clearlandReview?: ReviewProbe;
  }
}

function value(field: string, raw: unknown): string {
  if (raw === null || raw === undefined || raw === "") return t("value.none");
  if (Array.isArray(raw)) return raw.map((x) => value(field, x)).join(", ");
  if (typeof raw === "number") return formatNumber(raw, 2);
  if (typeof raw === "object") return JSON.stringify(raw);
  const text = String(raw);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return formatDate(text);
  const vocabField: Record<string, string> = {
    hazard_types: "hazard_type",
    category: "category",
    status: "status",
    marking: "marking",
    kind: "outcome",
    activity_type: "activity",
  };
  return field in vocabField ? vocab(vocabField[field], text) : text;
}

function problemText(error: unknown): string {
  return t("error.api", { detail: error instanceof ApiProblem ? error.detail : String(error) });
}

/** how many approved reports the inbox lists for administrators (newest first) */
const APPROVED_LISTED = 20;

function reportTable(found: ReportSummary[], caption: string): HTMLTableElement {
  return h(
    "table",
    { class: "hazard-table report-list" },
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...[t("review.report"), t("review.type"), t("field.date_of_information"), t("review.by"), t("review.records")].map(
          (x) => h("th", { scope: "col" }, x),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      ...found.map((r) =>
        h(
          "tr",
          { "data-report": r.id },
          h("th", { scope: "row" }, h("a", { href: `#/review/${r.id}` }, t("review.open", { id: String(r.id) }))),
          h("td", {}, vocab("report_type", r.type)),
          h("td", {}, formatDate(r.date_of_information)),
          h("td", {}, r.created_by),
          h("td", {}, formatNumber(r.records)),
        ),
      ),
    ),
  );
}

async function inbox(main: HTMLElement, ctx: Context): Promise<Page> {
  let found: ReportSummary[];
  try {
    found = await reports("submitted");
  } catch (error) {
    const refused = await whenRefused(main, ctx, error, REVIEW_ROLES);
    if (refused) return refused;
    main.append(h("h1", { id: "page-title" }, t("review.title")), h("p", { class: "error", role: "alert" }, problemText(error)));
    return { title: t("review.title"), destroy() {} };
  }
  const list = found.length ? reportTable(found, t("review.count", { count: found.length })) : h("p", {}, t("review.empty"));
  // administrators may withdraw an approved report: the latest ones, to open and unapprove
  let approved: HTMLElement | null = null;
  if (hasRole(UNAPPROVE_ROLES)) {
    try {
      const done = (await reports("approved")).slice(0, APPROVED_LISTED);
      approved = h(
        "section",
        { "aria-labelledby": "approved-title", class: "approved-reports" },
        h("h2", { id: "approved-title" }, t("review.approved_title")),
        h("p", {}, t("review.approved_intro")),
        done.length ? reportTable(done, t("review.approved_count", { count: done.length })) : h("p", {}, t("review.approved_none")),
      );
    } catch (error) {
      approved = h("p", { class: "error", role: "alert" }, problemText(error));
    }
  }
  main.append(
    h(
      "section",
      { class: "review-page", "aria-labelledby": "page-title" },
      h("h1", { id: "page-title" }, t("review.title")),
      h("p", {}, t("review.intro")),
      list,
      approved,
    ),
  );
  return { title: t("review.title"), destroy() {} };
}

function changesTable(changes: RecordChange[]): HTMLElement {
  if (!changes.length) return h("p", {}, t("review.no_changes"));
  const rows: HTMLTableRowElement[] = [];
  for (const change of changes) {
    const action = change.action === "create" ? t("review.create") : t("review.update");
    const label = `${change.ref} (${vocab("record_kind", change.kind)}, ${action})`;
    const ref = change.kind === "hazard_area" && change.action === "update" ? h("a", { href: recordHref(change.ref) }, label) : label;
    for (const [field, diff] of Object.entries(change.fields)) {
      rows.push(
        h(
          "tr",
          { "data-ref": change.ref, "data-field": field },
          h("th", { scope: "row" }, ref instanceof Node ? ref.cloneNode(true) : ref),
          h("td", {}, vocab("field", field)),
          h("td", { class: "before" }, value(field, diff.before)),
          h("td", { class: "after" }, value(field, diff.after)),
        ),
      );
    }
    if (change.geometry) {
      const { area_m2_before: before, area_m2_after: after } = change.geometry;
      rows.push(
        h(
          "tr",
          { "data-ref": change.ref, "data-field": "geometry" },
          h("th", { scope: "row" }, label),
          h("td", {}, t("review.geometry")),
          h("td", { class: "before" }, before === null ? t("value.none") : t("value.area", { m2: formatNumber(before), ha: formatNumber(before / 10_000, 2) })),
          h("td", { class: "after" }, t("value.area", { m2: formatNumber(after), ha: formatNumber(after / 10_000, 2) })),
        ),
      );
    }
  }
  return h(
    "table",
    { class: "hazard-table changes" },
    h("caption", {}, t("review.changes_caption")),
    h(
      "thead",
      {},
      h("tr", {}, ...[t("review.record"), t("review.field"), t("review.before"), t("review.after")].map((x) => h("th", { scope: "col" }, x))),
    ),
    h("tbody", {}, ...rows),
  );
}

function drawChanges(view: RegistryMap, changes: RecordChange[]): number[] | null {
  const format = new GeoJSON();
  const extent = createEmpty();
  for (const change of changes) {
    for (const role of ["before", "after"] as const) {
      const geometry = change.geometry?.[role];
      if (!geometry) continue;
      const feature = format.readFeature(
        { type: "Feature", geometry, properties: { role, ref: change.ref } },
        { featureProjection: "EPSG:3857" },
      ) as OlFeature;
      view.overlay.addFeature(feature);
      extend(extent, feature.getGeometry()?.getExtent() ?? createEmpty());
    }
  }
  if (isEmpty(extent)) return null;
  const [w, s] = toLonLat([extent[0], extent[1]]);
  const [e, n] = toLonLat([extent[2], extent[3]]);
  return [w, s, e, n];
}

async function detail(main: HTMLElement, ctx: Context, id: number): Promise<Page> {
  let shown: ReportDetail | null = null;
  let etag: string | null = null;
  let view: RegistryMap | null = null;
  let mapProbe: MapProbe | null = null;
  let published = false;
  const title = t("review.report_title", { id: String(id) });
  const body = h("div", { class: "review-detail" });
  const outcome = h("div", { class: "decision-outcome", role: "status", "aria-live": "polite" });
  main.append(
    h(
      "section",
      { class: "review-page", "aria-labelledby": "page-title" },
      h("p", { class: "no-print" }, h("a", { href: "#/review" }, t("review.back"))),
      h("h1", { id: "page-title" }, title),
      outcome,
      body,
    ),
  );

  async function load(): Promise<Page | null> {
    let answer;
    try {
      answer = await report(id);
    } catch (error) {
      const refused = await whenRefused(main, ctx, error, REVIEW_ROLES);
      if (refused) {
        main.firstElementChild?.remove();
        return refused;
      }
      clear(body);
      body.append(h("p", { class: "error", role: "alert" }, error instanceof ApiProblem && error.status === 404 ? t("review.not_found", { id: String(id) }) : problemText(error)));
      return null;
    }
    shown = answer.body;
    etag = answer.etag;
    view?.map.setTarget(undefined);
    clear(body);
    const r = shown;
    const mapEl = h("div", { class: "map small-map", id: "map" });
    const decided = r.status !== "submitted";
    append(
      body,
      facts([
        [t("review.type"), vocab("report_type", r.type)],
        [t("field.status"), vocab("report_status", r.status)],
        [t("field.date_of_information"), formatDate(r.date_of_information)],
        [t("review.by"), r.created_by],
        [t("review.source"), r.source_name || t("value.none")],
        [t("review.summary"), t("review.summary_text", { create: r.summary.create, update: r.summary.update, same: r.summary.no_change })],
        ...(r.decided_by ? ([[t("review.decided_by"), `${r.decided_by} · ${formatDate(r.decided_at)}`]] as Array<[string, string]>) : []),
        ...(r.reason ? ([[t("review.reason"), r.reason]] as Array<[string, string]>) : []),
      ]),
      r.transitions?.length
        ? h(
            "section",
            { "aria-labelledby": "transitions-title" },
            h("h2", { id: "transitions-title" }, t("review.transitions")),
            h(
              "ul",
              {},
              ...r.transitions.map((x) =>
                h(
                  "li",
                  {},
                  `${x.ref}: ${vocab("category", x.from.category)}, ${vocab("status", x.from.status)} → ${vocab("category", x.to.category)}, ${vocab("status", x.to.status)}`,
                  x.split_off ? ` (${t("review.split_off", { ref: x.split_off })})` : "",
                  ` — ${x.reason}`,
                ),
              ),
            ),
          )
        : null,
      r.approval_refused ? h("p", { class: "error" }, t("review.would_be_refused", { detail: r.approval_refused.message })) : null,
      h(
        "div",
        { class: "record-grid" },
        h("section", { "aria-labelledby": "changes-title" }, h("h2", { id: "changes-title" }, t("review.changes_title")), changesTable(r.changes)),
        h(
          "section",
          { "aria-labelledby": "review-map-title" },
          h("h2", { id: "review-map-title" }, t("review.map_title")),
          mapEl,
          h("p", { class: "hint" }, t("review.map_legend")),
        ),
      ),
      decided ? h("p", {}, t("review.already_decided", { status: vocab("report_status", r.status) })) : decisionForm(),
      r.status === "approved" && hasRole(UNAPPROVE_ROLES) ? unapproveForm() : null,
    );
    view = createMap(mapEl, ctx.config, t("review.map_label"));
    const bbox = drawChanges(view, r.changes);
    if (bbox) view.fitLonLat(bbox, 16);
    else view.map.getView().setZoom(2);
    mapProbe = probe(view);
    if (published) window.clearlandMap = mapProbe;
    return null;
  }

  function decisionForm(): HTMLElement {
    const reason = h("textarea", { id: "decision-reason", name: "reason", rows: 3 });
    const approve = h("button", { type: "button", class: "approve" }, t("review.approve"));
    const reject = h("button", { type: "button", class: "reject" }, t("review.reject"));
    const form = h(
      "form",
      { class: "decision no-print", "aria-labelledby": "decision-title" },
      h("h2", { id: "decision-title" }, t("review.decision")),
      h("label", { for: "decision-reason" }, t("review.reason_label")),
      reason,
      h("div", { class: "decision-buttons" }, approve, reject),
    );
    form.addEventListener("submit", (event) => event.preventDefault());
    const run = (what: "approve" | "reject") => {
      approve.disabled = reject.disabled = true;
      clear(outcome);
      outcome.append(h("p", {}, t("review.deciding")));
      decide(id, what, etag, reason.value.trim() || undefined)
        .then(async ({ body: result }) => {
          if (what === "approve") registryChanged();
          clear(outcome);
          const where = shown ? mapLink(shown.changes) : null;
          append(
            outcome,
            h(
              "p",
              { class: "success" },
              what === "approve"
                ? t("review.approved", { id: String(id), records: Number(result.records ?? 0), revision: String(result.revision ?? "") })
                : t("review.rejected", { id: String(id) }),
            ),
            where ? h("p", {}, h("a", { href: where }, t("review.show_on_map"))) : null,
            h("p", {}, h("a", { href: "#/review" }, t("review.back"))),
          );
          await load();
        })
        .catch(async (error: unknown) => {
          clear(outcome);
          if (error instanceof ApiProblem && error.status === 409) {
            // someone decided it meanwhile, or the rules refuse it now: say so, show it as it is
            outcome.append(h("p", { class: "error", role: "alert" }, t("review.conflict", { detail: error.detail })));
            await load();
            return;
          }
          outcome.append(h("p", { class: "error", role: "alert" }, problemText(error)));
          approve.disabled = reject.disabled = false;
        });
    };
    approve.addEventListener("click", () => run("approve"));
    reject.addEventListener("click", () => run("reject"));
    return form;
  }

  /** Withdraw an approved report (administrators): the reason is required; the records it
   * touched are rebuilt from the reports still approved. */
  function unapproveForm(): HTMLElement {
    const reason = h("textarea", { id: "unapprove-reason", name: "reason", rows: 3, required: true });
    reason.setAttribute("aria-describedby", "unapprove-hint");
    const button = h("button", { type: "submit", class: "reject" }, t("review.unapprove"));
    const form = h(
      "form",
      { class: "decision no-print", "aria-labelledby": "unapprove-title" },
      h("h2", { id: "unapprove-title" }, t("review.unapprove_title")),
      h("p", { id: "unapprove-hint", class: "hint" }, t("review.unapprove_hint")),
      h("label", { for: "unapprove-reason" }, t("review.unapprove_reason")),
      reason,
      h("div", { class: "decision-buttons" }, button),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!reason.value.trim()) {
        reason.setCustomValidity(t("review.unapprove_reason_needed"));
        reason.reportValidity();
        return;
      }
      reason.setCustomValidity("");
      button.disabled = true;
      clear(outcome);
      outcome.append(h("p", {}, t("review.deciding")));
      unapprove(id, etag, reason.value.trim())
        .then(async ({ body: result }) => {
          registryChanged();
          clear(outcome);
          append(
            outcome,
            h(
              "p",
              { class: "success" },
              t("review.unapproved", { id: String(id), revision: String(result.revision ?? "") }),
            ),
            h("p", {}, h("a", { href: "#/review" }, t("review.back"))),
          );
          await load();
        })
        .catch(async (error: unknown) => {
          clear(outcome);
          if (error instanceof ApiProblem && error.status === 409) {
            outcome.append(h("p", { class: "error", role: "alert" }, t("review.conflict", { detail: error.detail })));
            await load();
            return;
          }
          outcome.append(h("p", { class: "error", role: "alert" }, problemText(error)));
          button.disabled = false;
        });
    });
    reason.addEventListener("input", () => reason.setCustomValidity(""));
    return form;
  }

  function mapLink(changes: RecordChange[]): string | null {
    const format = new GeoJSON();
    const extent = createEmpty();
    for (const change of changes) {
      const geometry = change.geometry?.after;
      if (geometry) extend(extent, format.readGeometry(geometry)?.getExtent() ?? createEmpty());
    }
    if (isEmpty(extent)) return null;
    const pad = Math.max(extent[2] - extent[0], extent[3] - extent[1], 0.002) * 0.5;
    const box = [extent[0] - pad, extent[1] - pad, extent[2] + pad, extent[3] + pad];
    return `#/map?bbox=${box.map((v) => v.toFixed(5)).join(",")}`;
  }

  const refused = await load();
  if (refused) return refused;
  const reviewProbe: ReviewProbe = {
    etag: () => etag,
    report: () => shown,
    drawnRefs: (role) =>
      (view?.overlay.getFeatures() ?? [])
        .filter((f) => f.get("role") === role)
        .map((f) => String(f.get("ref")))
        .sort(),
  };
  return {
    title,
    destroy() {
      view?.map.setTarget(undefined);
      if (window.clearlandMap === mapProbe) delete window.clearlandMap;
      if (window.clearlandReview === reviewProbe) delete window.clearlandReview;
    },
    publish() {
      published = true;
      if (mapProbe) window.clearlandMap = mapProbe;
      window.clearlandReview = reviewProbe;
    },
  };
}

export async function reviewPage(main: HTMLElement, ctx: Context): Promise<Page> {
  const id = Number(ctx.route.args[0]);
  if (ctx.route.args.length && Number.isInteger(id) && id > 0) return detail(main, ctx, id);
  return inbox(main, ctx);
}

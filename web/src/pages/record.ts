// The record page of a hazard area: the public fields of the OGC item, its geometry on a small
// map with the land released from it (released-land items whose hazard_ref is this area) and the
// devices found in it, and from GET /records/{ref} its activities, outcomes and devices. Staff
// (surveyors, reviewers, admins, records custodians) also get the history from the server: every
// report that changed the record. The public gets what the server gives the public, no more.
import GeoJSON from "ol/format/GeoJSON";
import Feature from "ol/Feature";
import Point from "ol/geom/Point";
import type { Feature as OlFeature } from "ol";
import {
  ApiProblem,
  hazardArea,
  recordState,
  releasedLand,
  type HazardProperties,
  type HistoryEntry,
  type RecordState,
} from "../api";
import { facts, h } from "../dom";
import { formatDate, formatNumber, t, vocab } from "../i18n";
import { createMap, fromLonLat } from "../mapview";
import { probe, recordHref } from "./map";
import type { Context, Page } from "./page";

/** What the record page reports it shows, for the browser tests. */
export type RecordProbe = {
  overlayRefs(role: string): string[];
  historyReports(): number[];
  view(): string | null;
};

declare global {
  interface Window {
    clearlandRecord?: RecordProbe;
  }
}

function area(m2: number | null | undefined): string {
  if (m2 === null || m2 === undefined) return t("value.none");
  return t("value.area", { m2: formatNumber(m2), ha: formatNumber(m2 / 10_000, 2) });
}

function details(props: HazardProperties): HTMLElement {
  const types = props.hazard_types?.length
    ? props.hazard_types.map((x) => vocab("hazard_type", x)).join(", ")
    : t("value.none");
  return facts([
    [t("field.ref"), props.ref],
    [t("field.name"), props.name || t("value.none")],
    [t("field.category"), vocab("category", props.category)],
    [t("field.status"), vocab("status", props.status)],
    [t("field.hazard_types"), types],
    [t("field.marking"), vocab("marking", props.marking)],
    [t("field.admin_area"), props.admin_area || t("value.none")],
    [
      t("field.parent_ref"),
      props.parent_ref ? h("a", { href: recordHref(props.parent_ref) }, props.parent_ref) : t("value.none"),
    ],
    [t("field.area_m2"), area(props.area_m2)],
    [t("field.remaining_area_m2"), area(props.remaining_area_m2)],
    [t("field.handed_over_on"), props.handed_over_on ? formatDate(props.handed_over_on) : t("value.none")],
    [t("field.date_of_information"), formatDate(props.date_of_information)],
  ]);
}

function table(caption: string, head: string[], rows: Array<Array<string | Node>>): HTMLTableElement {
  return h(
    "table",
    { class: "hazard-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((x) => h("th", { scope: "col" }, x)))),
    h(
      "tbody",
      {},
      ...rows.map(([first, ...rest]) => h("tr", {}, h("th", { scope: "row" }, first), ...rest.map((x) => h("td", {}, x)))),
    ),
  );
}

function plain(field: string, value: unknown): string {
  if (value === null || value === undefined || value === "") return t("value.none");
  if (Array.isArray(value)) return value.map((x) => plain(field, x)).join(", ");
  if (typeof value === "number") return formatNumber(value, 2);
  if (typeof value === "object") return JSON.stringify(value);
  const text = String(value);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return formatDate(text);
  const vocabField = { hazard_types: "hazard_type", category: "category", status: "status", marking: "marking" }[field];
  return vocabField ? vocab(vocabField, text) : text;
}

function workSection(state: RecordState): HTMLElement {
  const activities = state.activities ?? [];
  const outcomes = state.outcomes ?? [];
  const devices = state.devices ?? [];
  return h(
    "section",
    { "aria-labelledby": "work-title", class: "record-work" },
    h("h2", { id: "work-title" }, t("record.work_title")),
    activities.length
      ? table(
          t("record.activities_caption", { count: activities.length }),
          [t("field.ref"), t("field.activity"), t("field.status"), t("record.period"), t("record.organisation")],
          activities.map((a) => [
            a.ref,
            vocab("activity", a.activity_type),
            vocab("activity_status", a.status),
            `${formatDate(a.start_date)} – ${formatDate(a.end_date)}`,
            a.organisation || t("value.none"),
          ]),
        )
      : h("p", {}, t("record.activities_none")),
    outcomes.length
      ? table(
          t("record.outcomes_caption", { count: outcomes.length }),
          [t("field.ref"), t("field.kind"), t("field.activity"), t("field.area_m2"), t("field.date_of_information")],
          outcomes.map((o) => [
            o.ref,
            vocab("outcome", o.kind),
            o.activity_ref || t("value.none"),
            area(o.area_m2),
            formatDate(o.date_of_information),
          ]),
        )
      : null,
    devices.length
      ? table(
          t("record.devices_caption", { count: devices.length }),
          [t("field.ref"), t("record.device_category"), t("record.quantity"), t("record.disposal"), t("record.position")],
          devices.map((d) => [
            d.ref,
            [vocab("device", d.category), d.model].filter(Boolean).join(" · "),
            formatNumber(d.quantity),
            vocab("disposal", d.disposal),
            d.lon !== null && d.lon !== undefined && d.lat !== null && d.lat !== undefined
              ? `${d.lon.toFixed(6)}, ${d.lat.toFixed(6)}`
              : t("value.none"),
          ]),
        )
      : h("p", {}, t("record.devices_none")),
  );
}

function historyItem(entry: HistoryEntry): HTMLLIElement {
  const values = Object.entries(entry.values ?? {});
  return h(
    "li",
    { class: `history-entry history-${entry.status}`, "data-report": entry.report },
    h(
      "p",
      { class: "history-head" },
      h("strong", {}, formatDate(entry.date_of_information)),
      " · ",
      t("history.report", { id: String(entry.report), type: vocab("report_type", entry.type) }),
      " · ",
      vocab("report_status", entry.status),
      entry.by ? ` · ${t("history.by", { name: entry.by })}` : "",
    ),
    h("p", { class: "history-changed" }, t("history.changed", { fields: entry.changed.map((f) => vocab("field", f)).join(", ") })),
    values.length
      ? facts(
          values.map(([field, value]) => [vocab("field", field), plain(field, value)]),
          "facts compact",
        )
      : null,
    entry.outcomes?.length
      ? h(
          "p",
          {},
          t("history.outcomes", {
            outcomes: entry.outcomes.map((o) => `${o.ref} (${vocab("outcome", o.kind)})`).join(", "),
          }),
        )
      : null,
  );
}

function historySection(state: RecordState | null): HTMLElement {
  const section = h(
    "section",
    { "aria-labelledby": "history-title", class: "record-history" },
    h("h2", { id: "history-title" }, t("history.title")),
  );
  if (!state) {
    section.append(h("p", {}, t("history.unavailable")));
  } else if (state.history === undefined) {
    // the server gives the history to staff only: the reports' values and authors are not public
    section.append(h("p", {}, t("history.staff_only"), " ", h("a", { href: "#/login" }, t("login.link"))));
  } else if (!state.history.length) {
    section.append(h("p", {}, t("history.none")));
  } else {
    section.append(h("ol", { class: "timeline" }, ...state.history.map(historyItem)));
  }
  return section;
}

export async function recordPage(main: HTMLElement, ctx: Context): Promise<Page> {
  const ref = decodeURIComponent(ctx.route.args[0] ?? "");
  let feature;
  try {
    feature = await hazardArea(ref);
  } catch (error) {
    const detail = error instanceof ApiProblem ? error.detail : String(error);
    main.append(h("h1", { id: "page-title" }, ref), h("p", { class: "error", role: "alert" }, t("error.api", { detail })));
    return { title: ref, destroy() {} };
  }
  if (!feature) {
    main.append(
      h("h1", { id: "page-title" }, t("record.not_found_title")),
      h("p", {}, t("record.not_found", { ref })),
      h("p", {}, h("a", { href: "#/map" }, t("record.back_to_map"))),
    );
    return { title: t("record.not_found_title"), destroy() {} };
  }
  const props = feature.properties;
  const [released, state] = await Promise.all([
    releasedLand(props.ref).catch(() => null),
    recordState(props.ref).catch(() => null),
  ]);
  const format = new GeoJSON();
  const drawn = format.readFeature(feature, { featureProjection: "EPSG:3857" }) as OlFeature;
  drawn.set("role", "highlight");
  const [w, s, e, n] = format.readGeometry(feature.geometry)?.getExtent() ?? [0, 0, 0, 0];
  const bbox = [w, s, e, n];
  const pad = Math.max(e - w, n - s, 0.002) * 0.5;
  const mapHref = `#/map?bbox=${[w - pad, s - pad, e + pad, n + pad].map((v) => v.toFixed(5)).join(",")}`;
  const api = `./collections/hazard-areas/items/${encodeURIComponent(props.ref)}`;

  const mapEl = h("div", { class: "map small-map", id: "map" });
  const releasedRows = released?.features ?? [];
  const releasedSection = h(
    "section",
    { "aria-labelledby": "released-title" },
    h("h2", { id: "released-title" }, t("record.released_title")),
    releasedRows.length
      ? h(
          "table",
          { class: "hazard-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, t("field.ref")),
              h("th", { scope: "col" }, t("field.kind")),
              h("th", { scope: "col" }, t("field.activity")),
              h("th", { scope: "col" }, t("field.area_m2")),
              h("th", { scope: "col" }, t("field.date_of_information")),
            ),
          ),
          h(
            "tbody",
            {},
            ...releasedRows.map((r) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, r.properties.ref),
                h("td", {}, vocab("outcome", r.properties.kind)),
                h(
                  "td",
                  {},
                  [r.properties.activity_ref, vocab("activity", r.properties.activity_type ?? "")]
                    .filter(Boolean)
                    .join(" · "),
                ),
                h("td", {}, area(r.properties.area_m2)),
                h("td", {}, formatDate(r.properties.date_of_information)),
              ),
            ),
          ),
        )
      : h("p", {}, released ? t("record.released_none") : t("record.released_unavailable")),
  );
  main.appendChild(
    h(
      "article",
      { class: "record-page" },
      h("h1", { id: "page-title" }, props.name ? `${props.ref} · ${props.name}` : props.ref),
      h(
        "div",
        { class: "record-grid" },
        h(
          "section",
          { "aria-labelledby": "details-title" },
          h("h2", { id: "details-title" }, t("record.details_title")),
          details(props),
          h(
            "ul",
            { class: "record-links no-print" },
            h("li", {}, h("a", { href: mapHref }, t("record.show_on_map"))),
            h("li", {}, h("a", { href: `${api}?f=html` }, t("record.api_html"))),
            h("li", {}, h("a", { href: `${api}?f=json` }, t("record.api_geojson"))),
          ),
        ),
        h("section", { "aria-label": t("record.map_label") }, mapEl),
      ),
      releasedSection,
      state ? workSection(state) : null,
      historySection(state),
      h("p", { class: "not-proof-strong" }, t("notice.not_proof")),
    ),
  );
  const view = createMap(mapEl, ctx.config, t("record.map_label"));
  view.overlay.addFeature(drawn);
  // the land released from it and the devices found in it, where the server gives their places
  for (const r of releasedRows) {
    const part = format.readFeature(r, { featureProjection: "EPSG:3857" }) as OlFeature;
    part.set("role", "outcome");
    part.set("ref", r.properties.ref);
    view.overlay.addFeature(part);
  }
  for (const d of state?.devices ?? []) {
    if (d.lon === null || d.lon === undefined || d.lat === null || d.lat === undefined) continue;
    view.overlay.addFeature(new Feature({ geometry: new Point(fromLonLat([d.lon, d.lat])), role: "device", ref: d.ref }));
  }
  const recordProbe: RecordProbe = {
    overlayRefs: (role: string) =>
      view.overlay
        .getFeatures()
        .filter((f) => f.get("role") === role)
        .map((f) => String(f.get("ref")))
        .sort(),
    historyReports: () => (state?.history ?? []).map((entry) => entry.report),
    view: () => state?.view ?? null,
  };
  view.fitLonLat(bbox as [number, number, number, number], 17);
  const mapProbe = probe(view);
  return {
    title: props.ref,
    destroy() {
      view.map.setTarget(undefined);
      if (window.clearlandMap === mapProbe) delete window.clearlandMap;
      if (window.clearlandRecord === recordProbe) delete window.clearlandRecord;
    },
    publish() {
      window.clearlandMap = mapProbe;
      window.clearlandRecord = recordProbe;
    },
  };
}

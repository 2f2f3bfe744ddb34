// The record page of a hazard area, from what the public API offers: the public fields of the
// OGC item, its geometry on a small map, and the land released from it (released-land items
// whose hazard_ref is this area). The history of the record (every report that changed it)
// needs the records REST endpoint, which is not there yet: this page does not show it.
import GeoJSON from "ol/format/GeoJSON";
import type { Feature as OlFeature } from "ol";
import { ApiProblem, hazardArea, releasedLand, type HazardProperties } from "../api";
import { facts, h } from "../dom";
import { formatDate, formatNumber, t, vocab } from "../i18n";
import { createMap } from "../mapview";
import { probe, recordHref } from "./map";
import type { Context, Page } from "./page";

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
  const released = await releasedLand(props.ref).catch(() => null);
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
      h("p", { class: "not-proof-strong" }, t("notice.not_proof")),
    ),
  );
  const view = createMap(mapEl, ctx.config, t("record.map_label"));
  view.overlay.addFeature(drawn);
  view.fitLonLat(bbox as [number, number, number, number], 17);
  window.clearlandMap = probe(view);
  return {
    title: props.ref,
    destroy() {
      view.map.setTarget(undefined);
      delete window.clearlandMap;
    },
  };
}

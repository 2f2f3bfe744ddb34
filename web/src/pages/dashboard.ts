// The programme dashboard, from the public statistics API: land left to release by admin area
// (GET /stats?by=admin-area: a map coloured by it, drawn from the admin-areas collection, a bar
// chart and a table), land released per month by outcome kind, devices destroyed, and hazard
// areas opened and closed per month, exact from the registry's history (all three from GET
// /stats/release?by=month). Charts are SVG drawn by charts.ts; every number is also in a table.
import Map from "ol/Map";
import View from "ol/View";
import GeoJSON from "ol/format/GeoJSON";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { defaults as defaultControls } from "ol/control";
import { Fill, Stroke, Style } from "ol/style";
import type { FeatureCollection, Geometry } from "geojson";
import {
  adminAreas,
  ApiProblem,
  releaseStatistics,
  statistics,
  type AdminAreaProperties,
  type ReleaseStatistics,
  type Statistics,
} from "../api";
import { barChart, hbarChart, type Row, type Series } from "../charts";
import { clear, facts, h } from "../dom";
import { formatDate, formatNumber, lang, t, vocab } from "../i18n";
import { ADMIN_COLOUR, CATEGORY_COLOURS, RELEASED_COLOUR, whenRendered } from "../mapview";
import type { Context, Page } from "./page";

const MONTHS = 12;
const KIND_COLOURS: Record<string, string> = { cancelled: "#0e7490", reduced: "#a16207", cleared: RELEASED_COLOUR };
const DEVICE_COLOUR = "#7f1d1d";

export type DashboardData = {
  byAdminArea: Statistics | null;
  adminAreas: FeatureCollection<Geometry, AdminAreaProperties> | null;
  totals: Statistics;
  release: ReleaseStatistics;
  openedClosed: Array<{ month: string; opened: number; closed: number }>;
};

/** what the dashboard's map drew: each admin area, what remains in it, and its colour */
export type DrawnArea = { name: string; remaining: number; colour: string };

declare global {
  interface Window {
    clearlandDashboard?: { data(): DashboardData; mapAreas(): DrawnArea[]; whenMapRendered(): Promise<void> };
  }
}

/** land left to release, light to dark: no land left, then five equal steps up to the most */
export const NO_LAND_COLOUR = "#f3f4f6";
export const REMAINING_COLOURS = ["#fee2e2", "#fca5a5", "#f87171", "#dc2626", "#991b1b"];

export function remainingColour(value: number, max: number): string {
  if (!(value > 0) || !(max > 0)) return NO_LAND_COLOUR;
  const step = Math.min(REMAINING_COLOURS.length - 1, Math.floor((value / max) * REMAINING_COLOURS.length));
  return REMAINING_COLOURS[step];
}

const km2 = (m2: number) => formatNumber(m2 / 1_000_000, 3);
const ha = (m2: number) => formatNumber(m2 / 10_000, 2);

/** The ``count`` months (YYYY-MM) up to and including ``last``, oldest first. */
export function lastMonths(last: string, count: number): string[] {
  const [year, month] = last.split("-").map(Number);
  const out = [];
  for (let i = count - 1; i >= 0; i--) out.push(new Date(Date.UTC(year, month - 1 - i, 1)).toISOString().slice(0, 7));
  return out;
}

function monthName(month: string): string {
  const [y, m] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(lang(), { month: "short", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, 1)),
  );
}

function cell(value: number, text: string): HTMLTableCellElement {
  return h("td", { "data-value": value }, text);
}

function dataTable(id: string, caption: string, head: string[], rows: Array<[string, ...HTMLTableCellElement[]]>): HTMLTableElement {
  return h(
    "table",
    { class: "hazard-table stats-table", id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map(([label, ...cells]) => h("tr", { "data-key": label }, h("th", { scope: "row" }, label), ...cells))),
  );
}

async function load(): Promise<DashboardData> {
  const noAdminAreas = (error: unknown) => {
    // 409: no admin areas in the registry to group by
    if (error instanceof ApiProblem && error.status === 409) return null;
    throw error;
  };
  const [totals, release, byAdminArea] = await Promise.all([
    statistics({}),
    releaseStatistics("month"),
    statistics({ by: "admin-area" }).catch(noAdminAreas),
  ]);
  const areas = byAdminArea ? await adminAreas() : null;
  const last = (totals.latest_information ?? new Date().toISOString()).slice(0, 7);
  const events = release.hazard_areas?.groups ?? {};
  const openedClosed = lastMonths(last, MONTHS).map((month) => ({
    month,
    opened: events[month]?.opened ?? 0,
    closed: events[month]?.closed ?? 0,
  }));
  return { byAdminArea, adminAreas: areas, totals, release, openedClosed };
}

/** A map of the admin areas, each coloured by the land left to release in it. */
function adminMap(
  target: HTMLElement,
  areas: FeatureCollection<Geometry, AdminAreaProperties>,
  groups: Record<string, { remaining_m2_net?: number }>,
): { map: Map; drawn: () => DrawnArea[] } {
  const max = Math.max(0, ...Object.values(groups).map((g) => g.remaining_m2_net ?? 0));
  const source = new VectorSource({
    features: new GeoJSON().readFeatures(areas, { featureProjection: "EPSG:3857" }),
  });
  const styles = new globalThis.Map<string, Style>();
  const layer = new VectorLayer({
    source,
    style: (feature) => {
      const colour = remainingColour(groups[String(feature.get("name"))]?.remaining_m2_net ?? 0, max);
      let style = styles.get(colour);
      if (!style) {
        style = new Style({ fill: new Fill({ color: colour }), stroke: new Stroke({ color: ADMIN_COLOUR, width: 1 }) });
        styles.set(colour, style);
      }
      return style;
    },
  });
  target.setAttribute("tabindex", "0");
  target.setAttribute("role", "application");
  target.setAttribute("aria-label", t("dash.admin_map_label"));
  const map = new Map({
    target,
    layers: [layer],
    view: new View({ center: [0, 0], zoom: 2 }),
    controls: defaultControls({ attribution: false, rotate: false }),
  });
  const extent = source.getExtent();
  if (extent && source.getFeatures().length) map.getView().fit(extent, { padding: [10, 10, 10, 10] });
  return {
    map,
    drawn: () =>
      source
        .getFeatures()
        .map((f) => {
          const name = String(f.get("name"));
          const remaining = groups[name]?.remaining_m2_net ?? 0;
          return { name, remaining, colour: remainingColour(remaining, max) };
        })
        .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function mapLegend(groups: Record<string, { remaining_m2_net?: number }>): HTMLElement {
  const max = Math.max(0, ...Object.values(groups).map((g) => g.remaining_m2_net ?? 0));
  const swatch = (colour: string) => {
    // set through the CSSOM: the Content-Security-Policy refuses style attributes
    const el = h("span", { class: "swatch", "aria-hidden": "true", "data-colour": colour });
    el.style.backgroundColor = colour;
    return el;
  };
  const n = REMAINING_COLOURS.length;
  return h(
    "ul",
    { class: "legend-list choropleth-legend", "aria-label": t("dash.admin_map_legend") },
    h("li", {}, swatch(NO_LAND_COLOUR), h("span", {}, t("dash.admin_map_none"))),
    ...REMAINING_COLOURS.map((colour, i) =>
      h(
        "li",
        {},
        swatch(colour),
        h("span", {}, t("dash.admin_map_range", { from: ha((max * i) / n), to: ha((max * (i + 1)) / n) })),
      ),
    ),
  );
}

function adminSection(data: DashboardData, mapEl: HTMLElement): HTMLElement {
  const section = h(
    "section",
    { "aria-labelledby": "admin-title", class: "dash-section" },
    h("h2", { id: "admin-title" }, t("dash.admin_title")),
  );
  const stats = data.byAdminArea;
  if (!stats?.groups) {
    section.append(h("p", {}, t("dash.no_admin_areas")));
    return section;
  }
  const entries = Object.entries(stats.groups);
  if (data.adminAreas?.features.length) {
    section.append(
      h(
        "figure",
        { class: "admin-map" },
        mapEl,
        h("figcaption", {}, t("dash.admin_map_caption")),
        mapLegend(stats.groups),
      ),
    );
  }
  const rows: Row[] = entries.map(([name, g]) => ({ label: name, values: { remaining: g.remaining_m2_net ?? 0 } }));
  section.append(
    hbarChart(rows, { key: "remaining", label: t("dash.remaining"), colour: CATEGORY_COLOURS.CHA }, {
      label: t("dash.admin_chart"),
      unit: (v) => `${ha(v)} ha`,
    }),
    dataTable(
      "admin-table",
      t("dash.admin_caption"),
      [t("field.admin_area"), t("dash.count"), t("dash.area_sum"), t("dash.area_net"), t("dash.remaining_ha")],
      entries.map(([name, g]) => [
        name,
        cell(g.count, formatNumber(g.count)),
        cell(g.area_m2_sum, ha(g.area_m2_sum)),
        cell(g.area_m2_net, ha(g.area_m2_net)),
        cell(g.remaining_m2_net ?? 0, ha(g.remaining_m2_net ?? 0)),
      ]),
    ),
  );
  return section;
}

function releaseSection(data: DashboardData): HTMLElement {
  const kinds = ["cancelled", "reduced", "cleared"] as const;
  const series: Series[] = kinds.map((k) => ({ key: k, label: vocab("outcome", k), colour: KIND_COLOURS[k] }));
  const months = Object.entries(data.release.groups);
  const section = h(
    "section",
    { "aria-labelledby": "release-title", class: "dash-section" },
    h("h2", { id: "release-title" }, t("dash.release_title")),
  );
  if (!months.length) {
    section.append(h("p", {}, t("dash.release_none")));
    return section;
  }
  section.append(
    barChart(
      months.map(([month, r]) => ({ label: monthName(month), values: { ...r } })),
      series,
      { label: t("dash.release_chart"), stacked: true, unit: (v) => `${ha(v)} ha` },
    ),
    dataTable(
      "release-table",
      t("dash.release_caption"),
      [t("dash.month"), ...series.map((s) => `${s.label} (ha)`), `${t("dash.total")} (ha)`],
      months.map(([month, r]) => [
        month,
        ...kinds.map((k) => cell(r[k], ha(r[k]))),
        cell(r.total ?? 0, ha(r.total ?? 0)),
      ]),
    ),
  );
  return section;
}

function devicesSection(data: DashboardData): HTMLElement {
  const { total, groups } = data.release.devices_destroyed;
  const categories = Object.keys(total);
  const section = h(
    "section",
    { "aria-labelledby": "devices-title", class: "dash-section" },
    h("h2", { id: "devices-title" }, t("dash.devices_title")),
  );
  if (!categories.length) {
    section.append(h("p", {}, t("dash.devices_none")));
    return section;
  }
  section.append(
    hbarChart(
      categories.map((c) => ({ label: vocab("device", c), values: { n: total[c] } })),
      { key: "n", label: t("dash.devices_title"), colour: DEVICE_COLOUR },
      { label: t("dash.devices_chart") },
    ),
    dataTable(
      "devices-table",
      t("dash.devices_caption"),
      [t("dash.month"), ...categories.map((c) => vocab("device", c))],
      Object.entries(groups).map(([month, counts]) => [
        month,
        ...categories.map((c) => cell(counts[c] ?? 0, formatNumber(counts[c] ?? 0))),
      ]),
    ),
  );
  return section;
}

function openedClosedSection(data: DashboardData): HTMLElement {
  const series: Series[] = [
    { key: "opened", label: t("dash.opened"), colour: CATEGORY_COLOURS.CHA },
    { key: "closed", label: t("dash.closed"), colour: RELEASED_COLOUR },
  ];
  return h(
    "section",
    { "aria-labelledby": "opened-title", class: "dash-section" },
    h("h2", { id: "opened-title" }, t("dash.opened_title")),
    h("p", { class: "hint" }, t("dash.opened_hint")),
    barChart(
      data.openedClosed.map((m) => ({ label: monthName(m.month), values: { opened: m.opened, closed: m.closed } })),
      series,
      { label: t("dash.opened_chart"), stacked: false },
    ),
    dataTable(
      "opened-table",
      t("dash.opened_caption"),
      [t("dash.month"), t("dash.opened"), t("dash.closed")],
      data.openedClosed.map((m) => [m.month, cell(m.opened, formatNumber(m.opened)), cell(m.closed, formatNumber(m.closed))]),
    ),
  );
}

export async function dashboardPage(main: HTMLElement, _ctx: Context): Promise<Page> {
  const title = t("dash.title");
  const body = h("div", { class: "dashboard", "aria-busy": "true" }, h("p", {}, t("dash.loading")));
  main.append(h("h1", { id: "page-title" }, title), body);
  let data: DashboardData;
  try {
    data = await load();
  } catch (error) {
    clear(body);
    body.append(h("p", { class: "error", role: "alert" }, t("error.api", { detail: error instanceof ApiProblem ? error.detail : String(error) })));
    return { title, destroy() {} };
  }
  clear(body);
  body.removeAttribute("aria-busy");
  const mapEl = h("div", { class: "map admin-choropleth", id: "admin-map" });
  const tot = data.totals;
  body.append(
    facts(
      [
        [t("dash.count"), h("span", { "data-value": tot.count }, formatNumber(tot.count))],
        [t("dash.area_net"), h("span", { "data-value": tot.area_m2_net }, `${km2(tot.area_m2_net)} km²`)],
        [t("dash.remaining"), h("span", { "data-value": tot.remaining_m2_net }, `${km2(tot.remaining_m2_net)} km²`)],
        [
          t("dash.released_total"),
          h(
            "span",
            { "data-value": data.release.released_m2.total ?? 0 },
            `${ha(data.release.released_m2.total ?? 0)} ha`,
          ),
        ],
        [t("registry.latest"), formatDate(tot.latest_information)],
        [t("registry.revision"), String(tot.revision)],
      ],
      "facts dash-totals",
    ),
    h("div", { class: "dash-grid" }, adminSection(data, mapEl), releaseSection(data), devicesSection(data), openedClosedSection(data)),
  );
  // drawn once its element is in the page, so the map knows its size
  const drawnMap = data.adminAreas?.features.length && data.byAdminArea?.groups ? adminMap(mapEl, data.adminAreas, data.byAdminArea.groups) : null;
  const dashboardProbe = {
    data: () => data,
    mapAreas: () => drawnMap?.drawn() ?? [],
    whenMapRendered: () => (drawnMap ? whenRendered(drawnMap.map) : Promise.resolve()),
  };
  return {
    title,
    destroy() {
      drawnMap?.map.setTarget(undefined);
      if (window.clearlandDashboard === dashboardProbe) delete window.clearlandDashboard;
    },
    publish() {
      window.clearlandDashboard = dashboardProbe;
    },
  };
}

// The programme dashboard, from the public statistics API: land left to release by admin area
// (GET /stats?by=admin-area), land released per month by outcome kind and devices destroyed
// (GET /stats/release?by=month), and hazard areas opened and closed per month (GET
// /stats?by=status as of the end of each month: the change in the count of recorded areas and in
// the count of closed ones). Charts are SVG drawn by charts.ts; every number is also in a table.
import {
  ApiProblem,
  releaseStatistics,
  statistics,
  type ReleaseStatistics,
  type Statistics,
} from "../api";
import { barChart, hbarChart, type Row, type Series } from "../charts";
import { clear, facts, h } from "../dom";
import { formatDate, formatNumber, lang, t, vocab } from "../i18n";
import { CATEGORY_COLOURS, RELEASED_COLOUR } from "../mapview";
import type { Context, Page } from "./page";

const MONTHS = 12;
const KIND_COLOURS: Record<string, string> = { cancelled: "#0e7490", reduced: "#a16207", cleared: RELEASED_COLOUR };
const DEVICE_COLOUR = "#7f1d1d";

export type DashboardData = {
  byAdminArea: Statistics | null;
  totals: Statistics;
  release: ReleaseStatistics;
  openedClosed: Array<{ month: string; opened: number; closed: number; count: number; closedCount: number }>;
};

declare global {
  interface Window {
    clearlandDashboard?: { data(): DashboardData };
  }
}

const km2 = (m2: number) => formatNumber(m2 / 1_000_000, 3);
const ha = (m2: number) => formatNumber(m2 / 10_000, 2);

/** The last day of each of the ``count`` months up to ``last`` (YYYY-MM), and of the one before. */
export function monthEnds(last: string, count: number): Array<{ month: string; asOf: string }> {
  const [year, month] = last.split("-").map(Number);
  const out = [];
  for (let i = count; i >= 0; i--) {
    const first = new Date(Date.UTC(year, month - 1 - i, 1));
    const end = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0));
    out.push({ month: first.toISOString().slice(0, 7), asOf: end.toISOString().slice(0, 10) });
  }
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
  const [totals, release, byAdminArea] = await Promise.all([
    statistics({}),
    releaseStatistics("month"),
    statistics({ by: "admin-area" }).catch((error: unknown) => {
      // 409: no admin areas in the registry to group by
      if (error instanceof ApiProblem && error.status === 409) return null;
      throw error;
    }),
  ]);
  const today = new Date().toISOString().slice(0, 10);
  const last = (totals.latest_information ?? today).slice(0, 7);
  const ends = monthEnds(last, MONTHS);
  const states = await Promise.all(
    ends.map(({ asOf }) => statistics({ by: "status", as_of: asOf < today ? asOf : today })),
  );
  const openedClosed = ends.slice(1).map(({ month }, i) => {
    const before = states[i];
    const now = states[i + 1];
    const closed = (s: Statistics) => s.groups?.closed?.count ?? 0;
    return {
      month,
      opened: now.count - before.count,
      closed: closed(now) - closed(before),
      count: now.count,
      closedCount: closed(now),
    };
  });
  return { byAdminArea, totals, release, openedClosed };
}

function adminSection(data: DashboardData): HTMLElement {
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
      data.openedClosed.map((m) => ({ label: monthName(m.month), values: { opened: Math.max(0, m.opened), closed: Math.max(0, m.closed) } })),
      series,
      { label: t("dash.opened_chart"), stacked: false },
    ),
    dataTable(
      "opened-table",
      t("dash.opened_caption"),
      [t("dash.month"), t("dash.opened"), t("dash.closed"), t("dash.count_end"), t("dash.closed_end")],
      data.openedClosed.map((m) => [
        m.month,
        cell(m.opened, formatNumber(m.opened)),
        cell(m.closed, formatNumber(m.closed)),
        cell(m.count, formatNumber(m.count)),
        cell(m.closedCount, formatNumber(m.closedCount)),
      ]),
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
    h("div", { class: "dash-grid" }, adminSection(data), releaseSection(data), devicesSection(data), openedClosedSection(data)),
  );
  const dashboardProbe = { data: () => data };
  return {
    title,
    destroy() {
      if (window.clearlandDashboard === dashboardProbe) delete window.clearlandDashboard;
    },
    publish() {
      window.clearlandDashboard = dashboardProbe;
    },
  };
}

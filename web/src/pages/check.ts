// The public safety check: click the map (or type a position) or send a GPX/GeoJSON/KML file;
// the answer in plain words, the hazards involved highlighted on the map, the date of the
// registry's information, and — always — that no record is not proof of safety. Printable.
import Feature from "ol/Feature";
import GeoJSON from "ol/format/GeoJSON";
import GPX from "ol/format/GPX";
import KML from "ol/format/KML";
import Point from "ol/geom/Point";
import { createEmpty, extend, isEmpty } from "ol/extent";
import {
  ApiProblem,
  checkFile,
  checkPoint,
  hazardArea,
  suffix,
  tileJSON,
  type SafetyAnswer,
  type SafetyHazard,
} from "../api";
import { clear, facts, h } from "../dom";
import { formatDate, formatNumber, t, vocab, type MessageKey } from "../i18n";
import { createMap, fromLonLat, toLonLat, type RegistryMap } from "../mapview";
import { probe, recordHref } from "./map";
import type { Context, Page } from "./page";

const MAX_HIGHLIGHTED = 50;
/** a transparent 1×1 GIF: what a KML file's icons are drawn with, so none is ever fetched */
const NO_ICON = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
const COMPASS: MessageKey[] = [
  "compass.n",
  "compass.ne",
  "compass.e",
  "compass.se",
  "compass.s",
  "compass.sw",
  "compass.w",
  "compass.nw",
];

export type CheckProbe = {
  highlightedRefs(): string[];
  lastAnswer(): SafetyAnswer | null;
  /** the geometry types of the features of the query drawn (the file's, or the point clicked) */
  drawnQuery(): string[];
};

declare global {
  interface Window {
    clearlandCheck?: CheckProbe;
  }
}

function compass(bearing: number | null): string {
  if (bearing === null) return "";
  return t(COMPASS[Math.round((((bearing % 360) + 360) % 360) / 45) % 8]);
}

function headline(answer: SafetyAnswer): string {
  const inside = answer.hazards.filter((x) => x.inside).length;
  if (answer.answer === "inside") return t("answer.inside", { count: inside });
  if (answer.answer === "near") {
    const nearest = answer.hazards.reduce((a, b) => (b.distance_m < a.distance_m ? b : a));
    return t("answer.near", {
      distance: formatNumber(nearest.distance_m),
      direction: compass(nearest.bearing_deg),
      ref: nearest.ref,
    });
  }
  return t("answer.no_record", { within: formatNumber(answer.within_m) });
}

function queryWords(answer: SafetyAnswer): string {
  const q = answer.query;
  if (q.type === "point") {
    return t("answer.query_point", { lon: (q.lon ?? 0).toFixed(5), lat: (q.lat ?? 0).toFixed(5) });
  }
  return t(q.type === "area" ? "answer.query_area" : "answer.query_route", { file: q.file ?? "" });
}

function hazardRow(hazard: SafetyHazard): HTMLTableRowElement {
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("a", { href: recordHref(hazard.ref) }, hazard.ref)),
    h("td", {}, vocab("category", hazard.category)),
    h("td", {}, vocab("status", hazard.status)),
    h("td", {}, vocab("marking", hazard.marking)),
    h(
      "td",
      {},
      hazard.inside
        ? t("answer.hazard_inside")
        : t("answer.hazard_distance", {
            distance: formatNumber(hazard.distance_m),
            direction: compass(hazard.bearing_deg),
          }),
    ),
  );
}

function answerView(answer: SafetyAnswer, onPrint: () => void): HTMLElement {
  const table = answer.hazards.length
    ? h(
        "table",
        { class: "hazard-table" },
        h("caption", {}, t("answer.hazards_caption", { count: answer.hazards.length })),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, t("field.ref")),
            h("th", { scope: "col" }, t("field.category")),
            h("th", { scope: "col" }, t("field.status")),
            h("th", { scope: "col" }, t("field.marking")),
            h("th", { scope: "col" }, t("answer.where")),
          ),
        ),
        h("tbody", {}, ...answer.hazards.map(hazardRow)),
      )
    : null;
  const perFeature =
    answer.features && answer.features.length > 1
      ? h(
          "details",
          {},
          h("summary", {}, t("answer.per_feature", { count: answer.features.length })),
          h(
            "ul",
            {},
            ...answer.features.map((f) =>
              h("li", {}, `${f.feature}: ${t(`answer.word.${f.answer}` as MessageKey)}`),
            ),
          ),
        )
      : null;
  const warnings = answer.warnings?.length
    ? h(
        "div",
        { class: "warnings" },
        h("h3", {}, t("answer.warnings")),
        h("ul", {}, ...answer.warnings.map((w) => h("li", {}, w))),
      )
    : null;
  const print = h("button", { type: "button", class: "no-print" }, t("answer.print"));
  print.addEventListener("click", onPrint);
  return h(
    "section",
    { class: `answer answer-${answer.answer}`, "aria-labelledby": "answer-title", "data-answer": answer.answer },
    h("h2", { id: "answer-title" }, t("answer.title")),
    h("p", { class: "answer-headline" }, headline(answer)),
    h("p", {}, queryWords(answer)),
    h("p", { class: "not-proof-strong" }, t("notice.not_proof")),
    table,
    perFeature,
    warnings,
    facts([
      [t("answer.within"), t("answer.metres", { value: formatNumber(answer.within_m) })],
      [t("registry.latest"), formatDate(answer.registry.latest_information)],
      [t("registry.revision"), String(answer.registry.revision)],
      [t("answer.checked_at"), formatDate(answer.checked_at)],
    ]),
    answer.registry.synthetic ? h("p", { class: "synthetic" }, t("registry.synthetic")) : null,
    print,
  );
}

async function drawnFile(file: File): Promise<Feature[]> {
  const kind = suffix(file.name);
  const options = { featureProjection: "EPSG:3857" };
  if (kind === "gpx") return new GPX().readFeatures(await file.text(), options) as Feature[];
  if (kind === "geojson" || kind === "json") {
    return new GeoJSON().readFeatures(await file.text(), options) as Feature[];
  }
  if (kind === "kml") {
    // the file's own styles are not used (extractStyles: false), but OpenLayers still reads a
    // KML <Style> and loads its icon at once; an icon may be on any host, and nothing may be
    // fetched from another host (nor from this one on a file's say-so): every icon's address
    // becomes an empty image in the page itself. A NetworkLink is never followed. The features
    // are drawn in the page's own style, as GPX and GeoJSON are.
    const kml = new KML({ extractStyles: false, showPointNames: false, iconUrlFunction: () => NO_ICON });
    return kml.readFeatures(await file.text(), options) as Feature[];
  }
  return []; // KMZ (zipped KML) is checked by the server but not drawn here (see docs/web.md)
}

export async function checkPage(main: HTMLElement, ctx: Context): Promise<Page> {
  const mapEl = h("div", { class: "map", id: "map" });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const within = h("input", { type: "number", id: "within-m", min: 0, max: 100000, step: 10, value: 100, required: true });
  const lon = h("input", { type: "number", id: "check-lon", min: -180, max: 180, step: "any", required: true });
  const lat = h("input", { type: "number", id: "check-lat", min: -90, max: 90, step: "any", required: true });
  const fileInput = h("input", { type: "file", id: "check-file", accept: ".gpx,.geojson,.json,.kml,.kmz", required: true });
  const route = h("input", { type: "radio", name: "what", id: "what-route", value: "route", checked: true });
  const area = h("input", { type: "radio", name: "what", id: "what-area", value: "area" });

  const pointForm = h(
    "form",
    { class: "check-form" },
    h("h2", {}, t("check.point_title")),
    h("p", {}, t("check.point_hint")),
    h(
      "div",
      { class: "coords" },
      h("div", {}, h("label", { for: "check-lon" }, t("check.lon")), lon),
      h("div", {}, h("label", { for: "check-lat" }, t("check.lat")), lat),
    ),
    h("button", { type: "submit" }, t("check.point_button")),
  );
  const fileForm = h(
    "form",
    { class: "check-form" },
    h("h2", {}, t("check.file_title")),
    h("p", { id: "file-hint" }, t("check.file_hint")),
    h("label", { for: "check-file" }, t("check.file_label")),
    fileInput,
    h(
      "fieldset",
      {},
      h("legend", {}, t("check.what")),
      h("div", { class: "check-row" }, route, h("label", { for: "what-route" }, t("check.what_route"))),
      h("div", { class: "check-row" }, area, h("label", { for: "what-area" }, t("check.what_area"))),
    ),
    h("button", { type: "submit" }, t("check.file_button")),
  );
  fileInput.setAttribute("aria-describedby", "file-hint");
  const panel = h(
    "section",
    { class: "panel check-panel", "aria-labelledby": "page-title" },
    h("h1", { id: "page-title" }, t("check.title")),
    h("p", {}, t("check.intro")),
    h("p", { class: "not-proof-strong" }, t("notice.not_proof")),
    result,
    h("div", { class: "within no-print" }, h("label", { for: "within-m" }, t("check.within")), within),
    h("div", { class: "no-print" }, pointForm, fileForm),
  );
  main.appendChild(h("div", { class: "check-page" }, panel, h("div", { class: "map-wrap" }, mapEl)));

  const view: RegistryMap = createMap(mapEl, ctx.config, t("check.map_label"));
  const { map } = view;
  let last: SafetyAnswer | null = null;
  let highlighted: string[] = [];

  function withinM(): number | null {
    const value = within.valueAsNumber;
    if (!within.checkValidity() || !Number.isFinite(value)) {
      within.reportValidity();
      return null;
    }
    return value;
  }

  function showBusy(): void {
    clear(result);
    result.appendChild(h("p", {}, t("check.checking")));
  }

  function showError(error: unknown): void {
    clear(result);
    const detail = error instanceof ApiProblem ? error.detail : String(error);
    const items =
      error instanceof ApiProblem
        ? error.errors.map((e) => h("li", {}, Object.values(e).map(String).join(" · ")))
        : [];
    result.appendChild(
      h(
        "div",
        { class: "error", role: "alert" },
        h("p", {}, t("error.api", { detail })),
        items.length ? h("ul", {}, ...items) : null,
      ),
    );
  }

  async function show(answer: SafetyAnswer, query: Feature[]): Promise<void> {
    last = answer;
    view.overlay.clear();
    clear(result);
    result.appendChild(answerView(answer, () => window.print()));
    // the answer is what the person came for: bring it into view and move the focus to it
    const title = result.querySelector<HTMLElement>("#answer-title");
    title?.setAttribute("tabindex", "-1");
    title?.focus();
    result.scrollIntoView({ block: "start" });
    query.forEach((f) => f.set("role", "query"));
    view.overlay.addFeatures(query);
    const refs = answer.hazards.slice(0, MAX_HIGHLIGHTED).map((x) => x.ref);
    const found = await Promise.all(refs.map((ref) => hazardArea(ref).catch(() => null)));
    const format = new GeoJSON();
    highlighted = [];
    for (const feature of found) {
      if (!feature) continue;
      const drawn = format.readFeature(feature, { featureProjection: "EPSG:3857" }) as Feature;
      drawn.set("role", "highlight");
      view.overlay.addFeature(drawn);
      highlighted.push(String(feature.properties.ref));
    }
    const extent = createEmpty();
    for (const f of view.overlay.getFeatures()) {
      const geometry = f.getGeometry();
      if (geometry) extend(extent, geometry.getExtent());
    }
    if (!isEmpty(extent)) {
      map.getView().fit(extent, { padding: [40, 40, 40, 40], maxZoom: 16, duration: 0 });
    }
  }

  async function runPoint(lonValue: number, latValue: number): Promise<void> {
    const metres = withinM();
    if (metres === null) return;
    showBusy();
    try {
      const answer = await checkPoint(lonValue, latValue, metres);
      await show(answer, [new Feature(new Point(fromLonLat([lonValue, latValue])))]);
    } catch (error) {
      showError(error);
    }
  }

  map.on("singleclick", (event) => {
    const [x, y] = toLonLat(event.coordinate);
    lon.value = x.toFixed(6);
    lat.value = y.toFixed(6);
    void runPoint(Number(lon.value), Number(lat.value));
  });
  pointForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void runPoint(lon.valueAsNumber, lat.valueAsNumber);
  });
  fileForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) {
      fileInput.reportValidity();
      return;
    }
    const metres = withinM();
    if (metres === null) return;
    const what = area.checked ? "area" : "route";
    showBusy();
    void (async () => {
      try {
        const answer = await checkFile(what, file, metres);
        const drawn = await drawnFile(file).catch(() => []);
        await show(answer, drawn);
      } catch (error) {
        showError(error);
      }
    })();
  });

  try {
    view.fitLonLat((await tileJSON("hazard-areas")).bounds, 14);
  } catch {
    map.getView().setZoom(2);
  }
  const mapProbe = probe(view);
  const checkProbe: CheckProbe = {
    highlightedRefs: () => [...highlighted].sort(),
    lastAnswer: () => last,
    drawnQuery: () =>
      view.overlay
        .getFeatures()
        .filter((f) => f.get("role") === "query")
        .map((f) => f.getGeometry()?.getType() ?? "none")
        .sort(),
  };
  return {
    title: t("check.title"),
    destroy() {
      map.setTarget(undefined);
      if (window.clearlandMap === mapProbe) delete window.clearlandMap;
      if (window.clearlandCheck === checkProbe) delete window.clearlandCheck;
    },
    publish() {
      window.clearlandMap = mapProbe;
      window.clearlandCheck = checkProbe;
    },
  };
}

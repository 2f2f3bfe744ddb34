// The map page: hazard areas from the vector tiles, styled by category and status, released
// land and markers; a layer switcher, a legend, search by ref or name, and a popup leading to
// each hazard's record page.
import Overlay from "ol/Overlay";
import type { FeatureLike } from "ol/Feature";
import type BaseLayer from "ol/layer/Base";
import type VectorTileLayer from "ol/layer/VectorTile";
import GeoJSON from "ol/format/GeoJSON";
import { createEmpty } from "ol/extent";
import type { Extent } from "ol/extent";
import { ApiProblem, hazardArea, hazardAreas, tileJSON, type HazardProperties } from "../api";
import { clear, h } from "../dom";
import { t, vocab } from "../i18n";
import { legend } from "../legend";
import { createMap, fromLonLat, whenRendered, type RegistryMap } from "../mapview";
import type { Context, Page } from "./page";
import type { Feature, Geometry } from "geojson";

const REF_PATTERN = /^[A-Za-z]+-\d+$/;

/** What the map reports it drew, for people's tools and for the browser tests. */
export type MapProbe = {
  whenRendered(): Promise<void>;
  renderedFeatureRefs(): string[];
  renderedFeatureCount(): number;
  /** the refs (or ids) of the features a tile layer drew in view: "admin-areas", "markers"… */
  renderedRefsOf(collection: string): string[];
  pixelOf(lon: number, lat: number): [number, number];
  fit(bbox: Extent): Promise<void>;
  viewBbox(): Extent;
  layerVisible(collection: string): boolean;
  /** the layers' collections from the bottom of the map to the top */
  layerOrder(): string[];
};

declare global {
  interface Window {
    clearlandMap?: MapProbe;
  }
}

export function parseBbox(text: string | null): Extent | null {
  if (!text) return null;
  const parts = text.split(",").map(Number);
  if (parts.length !== 4 || parts.some((v) => !Number.isFinite(v))) return null;
  return parts as Extent;
}

export function probe(view: RegistryMap): MapProbe {
  const { map, hazards } = view;
  const inView = (): FeatureLike[] =>
    hazards.getFeaturesInExtent(map.getView().calculateExtent(map.getSize())) as FeatureLike[];
  return {
    whenRendered: () => whenRendered(map),
    renderedFeatureRefs: () =>
      [...new Set(inView().map((f) => f.get("ref")).filter((r): r is string => typeof r === "string"))].sort(),
    renderedFeatureCount: () =>
      inView().reduce((sum, f) => sum + (Number(f.get("count") ?? 0) > 1 ? Number(f.get("count")) : 1), 0),
    renderedRefsOf(collection: string) {
      const layer = map
        .getLayers()
        .getArray()
        .find((l) => l.get("collection") === collection) as VectorTileLayer | undefined;
      if (!layer) return [];
      const found = layer.getFeaturesInExtent(map.getView().calculateExtent(map.getSize())) as FeatureLike[];
      const refs = found.map((f) => f.get("ref") ?? f.get("id")).filter((r): r is string => typeof r === "string");
      return [...new Set(refs)].sort();
    },
    pixelOf(lon: number, lat: number) {
      const pixel = map.getPixelFromCoordinate(fromLonLat([lon, lat]));
      if (!pixel) throw new Error("the map has not been drawn yet");
      const box = (map.getTargetElement() as HTMLElement).getBoundingClientRect();
      return [box.left + pixel[0], box.top + pixel[1]];
    },
    async fit(bbox: Extent) {
      view.fitLonLat(bbox);
      await whenRendered(map);
    },
    viewBbox: () => view.viewLonLat(),
    layerOrder: () =>
      map
        .getLayers()
        .getArray()
        .filter((layer) => typeof layer.get("collection") === "string")
        .sort((a, b) => (a.getZIndex() ?? 0) - (b.getZIndex() ?? 0))
        .map((layer) => String(layer.get("collection"))),
    layerVisible: (collection: string) =>
      map
        .getLayers()
        .getArray()
        .some((layer) => layer.get("collection") === collection && layer.getVisible()),
  };
}

function layerSwitcher(view: RegistryMap): HTMLElement {
  const entries: Array<[BaseLayer | null, string]> = [
    [view.hazards, t("layer.hazards")],
    [view.released, t("layer.released")],
    [view.markers, t("layer.markers")],
    [view.admin, t("layer.admin")],
    [view.graticule, t("layer.graticule")],
    [view.basemap, t("layer.basemap")],
  ];
  const fieldset = h("fieldset", { class: "layers" }, h("legend", {}, t("layers.title")));
  entries.forEach(([layer, label], i) => {
    if (!layer) return;
    const id = `layer-${i}`;
    const box = h("input", { type: "checkbox", id, checked: layer.getVisible() });
    box.addEventListener("change", () => layer.setVisible(box.checked));
    fieldset.appendChild(h("div", { class: "check-row" }, box, h("label", { for: id }, label)));
  });
  return fieldset;
}

function hazardSummary(props: Partial<HazardProperties>): HTMLElement {
  return h(
    "dl",
    { class: "facts compact" },
    h("dt", {}, t("field.category")),
    h("dd", {}, vocab("category", props.category)),
    h("dt", {}, t("field.status")),
    h("dd", {}, vocab("status", props.status)),
    h("dt", {}, t("field.marking")),
    h("dd", {}, vocab("marking", props.marking)),
  );
}

export function recordHref(ref: string): string {
  return `#/records/${encodeURIComponent(ref)}`;
}

function extentOf(feature: Feature<Geometry, HazardProperties>): Extent {
  // read without a projection: the extent stays in longitude/latitude
  return new GeoJSON().readGeometry(feature.geometry)?.getExtent() ?? createEmpty();
}

export async function mapPage(main: HTMLElement, ctx: Context): Promise<Page> {
  const mapEl = h("div", { class: "map", id: "map" });
  const results = h("div", { class: "search-results", "aria-live": "polite" });
  const input = h("input", { type: "search", id: "search-q", name: "q", autocomplete: "off", required: true });
  const form = h(
    "form",
    { class: "search", role: "search" },
    h("label", { for: "search-q" }, t("search.label")),
    h("div", { class: "search-row" }, input, h("button", { type: "submit" }, t("search.button"))),
    h("p", { class: "hint", id: "search-hint" }, t("search.hint")),
  );
  input.setAttribute("aria-describedby", "search-hint");
  const panel = h("aside", { class: "panel", "aria-labelledby": "page-title" });
  const popup = h("div", { class: "popup", role: "dialog", "aria-labelledby": "popup-title", hidden: true });
  main.appendChild(h("div", { class: "map-page" }, panel, h("div", { class: "map-wrap" }, mapEl, popup)));

  const view = createMap(mapEl, ctx.config, t("map.label"));
  const { map } = view;
  panel.append(
    h("h1", { id: "page-title" }, t("map.title")),
    form,
    results,
    layerSwitcher(view),
    legend(),
  );

  const overlay = new Overlay({ element: popup, autoPan: { animation: { duration: 200 } }, positioning: "bottom-center", offset: [0, -10] });
  map.addOverlay(overlay);

  function closePopup(): void {
    popup.hidden = true;
    overlay.setPosition(undefined);
  }

  function openPopup(coordinate: number[], content: HTMLElement[]): void {
    clear(popup);
    const close = h("button", { type: "button", class: "popup-close", "aria-label": t("popup.close") }, "×");
    close.addEventListener("click", () => {
      closePopup();
      mapEl.focus();
    });
    popup.append(close, ...content);
    popup.hidden = false;
    overlay.setPosition(coordinate);
  }

  map.on("singleclick", (event) => {
    const found = map.getFeaturesAtPixel(event.pixel, {
      layerFilter: (layer) => layer === view.hazards,
      hitTolerance: 4,
    });
    if (!found.length) {
      closePopup();
      return;
    }
    const feature = found[0];
    const count = Number(feature.get("count") ?? 0);
    if (count > 1) {
      const zoomIn = h("button", { type: "button" }, t("popup.zoom_in"));
      zoomIn.addEventListener("click", () => {
        closePopup();
        map.getView().animate({ center: event.coordinate, zoom: (map.getView().getZoom() ?? 8) + 3 });
      });
      openPopup(event.coordinate, [
        h("h2", { id: "popup-title" }, t("popup.many", { count })),
        hazardSummary(feature.getProperties() as Partial<HazardProperties>),
        zoomIn,
      ]);
      zoomIn.focus();
      return;
    }
    const ref = String(feature.get("ref"));
    const link = h("a", { href: recordHref(ref), class: "popup-link" }, t("popup.open_record"));
    openPopup(event.coordinate, [
      h("h2", { id: "popup-title" }, ref),
      hazardSummary(feature.getProperties() as Partial<HazardProperties>),
      link,
    ]);
    link.focus();
  });
  popup.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closePopup();
      mapEl.focus();
    }
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void search(input.value.trim());
  });

  async function search(q: string): Promise<void> {
    clear(results);
    if (!q) return;
    results.appendChild(h("p", {}, t("search.searching")));
    let found: Array<Feature<Geometry, HazardProperties>> = [];
    try {
      if (REF_PATTERN.test(q)) {
        const one = await hazardArea(q.toUpperCase());
        if (one) found = [one];
      }
      if (!found.length) found = (await hazardAreas({ name: q })).features;
    } catch (error) {
      clear(results);
      results.appendChild(h("p", { class: "error" }, t("error.api", { detail: error instanceof ApiProblem ? error.detail : String(error) })));
      return;
    }
    clear(results);
    if (!found.length) {
      results.appendChild(h("p", {}, t("search.none", { q })));
      return;
    }
    results.appendChild(h("p", {}, t("search.found", { count: found.length })));
    const list = h("ul", { class: "result-list" });
    for (const feature of found) {
      const props = feature.properties;
      const show = h("button", { type: "button" }, t("search.show_on_map"));
      show.addEventListener("click", () => {
        view.fitLonLat(extentOf(feature));
        mapEl.focus();
      });
      list.appendChild(
        h(
          "li",
          {},
          h("a", { href: recordHref(props.ref) }, props.ref),
          " ",
          props.name ? h("span", {}, props.name) : null,
          h("span", { class: "muted" }, ` · ${vocab("category", props.category)} · ${vocab("status", props.status)}`),
          " ",
          show,
        ),
      );
    }
    results.appendChild(list);
    if (found.length === 1) view.fitLonLat(extentOf(found[0]));
  }

  const asked = parseBbox(ctx.route.params.get("bbox"));
  if (asked) {
    view.fitLonLat(asked);
  } else {
    try {
      const tj = await tileJSON("hazard-areas");
      view.fitLonLat(tj.bounds, 14);
    } catch {
      map.getView().setZoom(2);
    }
  }
  // keep the view in the address, so a view can be shared or bookmarked
  let shown = true;
  let address = window.location.hash;
  const keepView = () => {
    // A move that ends after the page was left, or after the address was changed to another page
    // whose hashchange is still on its way, must not rewrite that page's address: the router would
    // then draw the map again instead of the page that was asked for.
    if (!shown || window.location.hash !== address) return;
    const [w, s, e, n] = view.viewLonLat();
    const bbox = [w, s, e, n].map((v) => v.toFixed(5)).join(",");
    history.replaceState(null, "", `#/map?bbox=${bbox}`);
    address = window.location.hash;
  };
  map.on("moveend", keepView);

  const mapProbe = probe(view);

  return {
    title: t("map.title"),
    destroy() {
      shown = false;
      map.setTarget(undefined);
      if (window.clearlandMap === mapProbe) delete window.clearlandMap;
    },
    publish() {
      window.clearlandMap = mapProbe;
    },
  };
}

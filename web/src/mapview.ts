// The map every page shares: the registry's vector tiles (hazard areas, released land,
// markers), the admin boundaries and a graticule so the map reads without any basemap, and an
// optional basemap when
// the server is configured with one. Styles by category and status, with the legend drawn
// from the same table.
import Map from "ol/Map";
import View from "ol/View";
import type { FeatureLike } from "ol/Feature";
import MVT from "ol/format/MVT";
import Graticule from "ol/layer/Graticule";
import TileLayer from "ol/layer/Tile";
import VectorLayer from "ol/layer/Vector";
import VectorTileLayer from "ol/layer/VectorTile";
import { fromLonLat, toLonLat, transformExtent } from "ol/proj";
import { defaults as defaultControls, ScaleLine } from "ol/control";
import VectorSource from "ol/source/Vector";
import VectorTileSource from "ol/source/VectorTile";
import XYZ from "ol/source/XYZ";
import { Circle, Fill, RegularShape, Stroke, Style, Text } from "ol/style";
import type { Extent } from "ol/extent";
import type Tile from "ol/Tile";
import TileState from "ol/TileState";
import type VectorTile from "ol/VectorTile";
import type { UiConfig } from "./api";
import { tileUrl } from "./api";

export const CATEGORY_COLOURS: Record<string, string> = {
  CHA: "#b91c1c",
  SHA: "#c2410c",
  indication: "#6d28d9",
};
const UNKNOWN_COLOUR = "#374151";
/** status → how the outline is drawn and how strong the fill is */
export const STATUS_LOOK: Record<string, { dash: number[]; fillAlpha: number; width: number }> = {
  open: { dash: [], fillAlpha: 0.4, width: 2.5 },
  worked_on: { dash: [8, 5], fillAlpha: 0.22, width: 2.5 },
  closed: { dash: [2, 4], fillAlpha: 0.08, width: 1.5 },
};
export const RELEASED_COLOUR = "#15803d";
export const MARKER_COLOUR = "#1d4ed8";
export const ADMIN_COLOUR = "#4b5563";
export const ADMIN_DASH = [8, 3, 2, 3];
export const HIGHLIGHT_COLOUR = "#facc15";
export const QUERY_COLOUR = "#0369a1";

export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

const styleCache = new globalThis.Map<string, Style>();

function cached(key: string, make: () => Style): Style {
  let style = styleCache.get(key);
  if (!style) {
    style = make();
    styleCache.set(key, style);
  }
  return style;
}

function countStyle(count: number, colour: string): Style {
  const radius = Math.min(8 + Math.log2(count) * 2.5, 22);
  return cached(`count:${colour}:${count}`, () =>
    new Style({
      image: new Circle({
        radius,
        fill: new Fill({ color: colour }),
        stroke: new Stroke({ color: "#ffffff", width: 2 }),
      }),
      text: new Text({
        text: String(count),
        font: "bold 12px system-ui, sans-serif",
        fill: new Fill({ color: "#ffffff" }),
      }),
    }),
  );
}

/** A hazard area: colour by category, outline and fill strength by status. */
export function hazardStyle(feature: FeatureLike): Style {
  const category = String(feature.get("category") ?? "");
  const status = String(feature.get("status") ?? "");
  const colour = CATEGORY_COLOURS[category] ?? UNKNOWN_COLOUR;
  const count = Number(feature.get("count") ?? 0);
  if (count > 1) return countStyle(count, colour);
  const look = STATUS_LOOK[status] ?? STATUS_LOOK.open;
  const type = feature.getGeometry()?.getType();
  if (type === "Point" || type === "MultiPoint") {
    return cached(`hazard-point:${category}:${status}`, () =>
      new Style({
        image: new Circle({
          radius: 6,
          fill: new Fill({ color: colour }),
          stroke: new Stroke({ color: "#ffffff", width: 2, lineDash: look.dash }),
        }),
      }),
    );
  }
  return cached(`hazard:${category}:${status}`, () =>
    new Style({
      fill: new Fill({ color: withAlpha(colour, look.fillAlpha) }),
      stroke: new Stroke({ color: colour, width: look.width, lineDash: look.dash }),
    }),
  );
}

export function releasedStyle(feature: FeatureLike): Style {
  const count = Number(feature.get("count") ?? 0);
  if (count > 1) return countStyle(count, RELEASED_COLOUR);
  return cached("released", () =>
    new Style({
      fill: new Fill({ color: withAlpha(RELEASED_COLOUR, 0.3) }),
      stroke: new Stroke({ color: RELEASED_COLOUR, width: 1.5 }),
      image: new Circle({ radius: 4, fill: new Fill({ color: RELEASED_COLOUR }) }),
    }),
  );
}

export function markerStyle(feature: FeatureLike): Style {
  const count = Number(feature.get("count") ?? 0);
  if (count > 1) return countStyle(count, MARKER_COLOUR);
  const type = String(feature.get("type") ?? "");
  return cached(`marker:${type}`, () => {
    const fill = new Fill({ color: MARKER_COLOUR });
    const stroke = new Stroke({ color: "#ffffff", width: 1.5 });
    const image =
      type === "sign"
        ? new RegularShape({ points: 3, radius: 7, fill, stroke })
        : type === "fence"
          ? new RegularShape({ points: 4, radius: 6, angle: Math.PI / 4, fill, stroke })
          : new Circle({ radius: 5, fill, stroke });
    return new Style({ image });
  });
}

/** An admin area: its boundary only, light and dashed, under everything else. */
export function adminStyle(): Style {
  return cached("admin", () =>
    new Style({ stroke: new Stroke({ color: withAlpha(ADMIN_COLOUR, 0.75), width: 1.5, lineDash: ADMIN_DASH }) }),
  );
}

export const highlightStyle = new Style({
  stroke: new Stroke({ color: HIGHLIGHT_COLOUR, width: 7 }),
  image: new Circle({ radius: 10, stroke: new Stroke({ color: HIGHLIGHT_COLOUR, width: 5 }) }),
});
export const highlightInnerStyle = new Style({
  stroke: new Stroke({ color: "#111827", width: 2 }),
  image: new Circle({ radius: 10, stroke: new Stroke({ color: "#111827", width: 2 }) }),
});
export const queryStyle = new Style({
  stroke: new Stroke({ color: QUERY_COLOUR, width: 3 }),
  fill: new Fill({ color: withAlpha(QUERY_COLOUR, 0.15) }),
  image: new Circle({
    radius: 7,
    fill: new Fill({ color: QUERY_COLOUR }),
    stroke: new Stroke({ color: "#ffffff", width: 2 }),
  }),
});

export const DEVICE_COLOUR = "#7f1d1d";
export const BEFORE_COLOUR = "#4b5563";
export const AFTER_COLOUR = "#1d4ed8";
/** what a page draws on top of the tiles, by the feature's "role" */
const OVERLAY_STYLES: Record<string, Style[]> = {
  highlight: [highlightStyle, highlightInnerStyle],
  outcome: [
    new Style({
      fill: new Fill({ color: withAlpha(RELEASED_COLOUR, 0.45) }),
      stroke: new Stroke({ color: RELEASED_COLOUR, width: 2 }),
    }),
  ],
  device: [
    new Style({
      image: new RegularShape({
        points: 4,
        radius: 7,
        radius2: 0,
        angle: Math.PI / 4,
        stroke: new Stroke({ color: DEVICE_COLOUR, width: 3 }),
      }),
    }),
  ],
  before: [
    new Style({
      fill: new Fill({ color: withAlpha(BEFORE_COLOUR, 0.12) }),
      stroke: new Stroke({ color: BEFORE_COLOUR, width: 2, lineDash: [6, 4] }),
    }),
  ],
  after: [
    new Style({
      fill: new Fill({ color: withAlpha(AFTER_COLOUR, 0.25) }),
      stroke: new Stroke({ color: AFTER_COLOUR, width: 3 }),
      image: new Circle({ radius: 7, fill: new Fill({ color: AFTER_COLOUR }) }),
    }),
  ],
};

/** Once this browser has changed the registry (a reviewer approved a report), maps drawn after
 * that ask the server whether each tile changed (If-None-Match) instead of reusing the copy the
 * browser may keep for a minute (the tiles' Cache-Control): the reviewer sees the change at once. */
let revalidateTiles = false;

export function registryChanged(): void {
  revalidateTiles = true;
  // the footer's revision and date of information are read again (main.ts)
  window.dispatchEvent(new Event("clearland:registry-changed"));
}

function revalidatingLoader(tile: Tile, url: string): void {
  const vector = tile as VectorTile<FeatureLike>;
  vector.setLoader((extent, _resolution, projection) => {
    fetch(url, { cache: "no-cache", credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error(`${response.status}`);
        return response.arrayBuffer();
      })
      .then((data) => {
        const format = vector.getFormat();
        vector.setFeatures(format.readFeatures(data, { extent, featureProjection: projection }) as FeatureLike[]);
      })
      .catch(() => vector.setState(TileState.ERROR));
  });
}

function tiles(collection: string, style: (f: FeatureLike) => Style, zIndex: number): VectorTileLayer {
  const source = new VectorTileSource({ format: new MVT(), url: tileUrl(collection), maxZoom: 22 });
  if (revalidateTiles) source.setTileLoadFunction(revalidatingLoader);
  return new VectorTileLayer({
    source,
    style,
    zIndex,
    declutter: false,
    renderMode: "hybrid",
    properties: { collection },
  });
}

export type RegistryMap = {
  map: Map;
  admin: VectorTileLayer;
  hazards: VectorTileLayer;
  released: VectorTileLayer;
  markers: VectorTileLayer;
  graticule: Graticule;
  basemap: TileLayer | null;
  /** for what a page draws on top: the hazards of an answer, the track checked, a record */
  overlay: VectorSource;
  fitLonLat(bbox: Extent, maxZoom?: number): void;
  viewLonLat(): Extent;
};

export function createMap(target: HTMLElement, config: UiConfig, label: string): RegistryMap {
  const basemap = config.basemap_url
    ? new TileLayer({
        source: new XYZ({
          url: config.basemap_url,
          attributions: config.basemap_attribution || undefined,
        }),
        zIndex: 0,
        properties: { collection: "basemap" },
      })
    : null;
  const graticule = new Graticule({
    strokeStyle: new Stroke({ color: "rgba(55, 65, 81, 0.35)", width: 1, lineDash: [2, 4] }),
    showLabels: true,
    lonLabelStyle: new Text({
      font: "11px system-ui, sans-serif",
      textBaseline: "bottom",
      fill: new Fill({ color: "#1f2937" }),
      stroke: new Stroke({ color: "#ffffff", width: 3 }),
    }),
    latLabelStyle: new Text({
      font: "11px system-ui, sans-serif",
      textAlign: "end",
      fill: new Fill({ color: "#1f2937" }),
      stroke: new Stroke({ color: "#ffffff", width: 3 }),
    }),
    wrapX: false,
    zIndex: 1,
  });
  const admin = tiles("admin-areas", adminStyle, 1.5);
  const released = tiles("released-land", releasedStyle, 2);
  const hazards = tiles("hazard-areas", hazardStyle, 3);
  const markers = tiles("markers", markerStyle, 4);
  const overlay = new VectorSource();
  const overlayLayer = new VectorLayer({
    source: overlay,
    zIndex: 5,
    style: (feature) => OVERLAY_STYLES[String(feature.get("role"))] ?? queryStyle,
  });
  target.setAttribute("tabindex", "0");
  target.setAttribute("role", "application");
  target.setAttribute("aria-label", label);
  const map = new Map({
    target,
    layers: [...(basemap ? [basemap] : []), graticule, admin, released, hazards, markers, overlayLayer],
    view: new View({ center: [0, 0], zoom: 2, maxZoom: 22, constrainResolution: false }),
    controls: defaultControls({ attributionOptions: { collapsible: true } }).extend([
      new ScaleLine({ units: "metric" }),
    ]),
  });
  return {
    map,
    admin,
    hazards,
    released,
    markers,
    graticule,
    basemap,
    overlay,
    fitLonLat(bbox: Extent, maxZoom = 17) {
      const extent = transformExtent(bbox, "EPSG:4326", "EPSG:3857");
      map.getView().fit(extent, { padding: [30, 30, 30, 30], maxZoom });
    },
    viewLonLat() {
      const extent = map.getView().calculateExtent(map.getSize());
      return transformExtent(extent, "EPSG:3857", "EPSG:4326");
    },
  };
}

export { fromLonLat, toLonLat };

/** Resolves when the map has drawn every tile it asked for at its current view. */
export function whenRendered(map: Map): Promise<void> {
  return new Promise((resolve) => {
    map.once("rendercomplete", () => resolve());
    map.render();
  });
}

// The server's public API, by relative URL: the UI is served from the API's root, so these
// resolve against wherever the server is (also behind a proxy that adds a path prefix).
import type { Feature, FeatureCollection, Geometry } from "geojson";

export type HazardProperties = {
  ref: string;
  name?: string | null;
  category?: string | null;
  status?: string | null;
  hazard_types?: string[] | null;
  marking?: string | null;
  admin_area?: string | null;
  parent_ref?: string | null;
  handed_over_on?: string | null;
  area_m2?: number | null;
  remaining_area_m2?: number | null;
  date_of_information?: string | null;
};

export type RegistryStatus = {
  revision: number;
  latest_information: string | null;
  notice: string;
  synthetic?: boolean;
};

export type SafetyHazard = {
  ref: string;
  category: string | null;
  status: string | null;
  marking: string | null;
  inside: boolean;
  distance_m: number;
  bearing_deg: number | null;
};

export type SafetyAnswer = {
  answer: "inside" | "near" | "no_record";
  hazards: SafetyHazard[];
  within_m: number;
  query: { type: string; lon?: number; lat?: number; file?: string };
  registry: { revision: number; latest_information: string | null; synthetic?: boolean };
  checked_at: string;
  notice: string;
  features?: Array<{ feature: string; answer: string; hazards: SafetyHazard[] }>;
  warnings?: string[];
};

export type UiConfig = { basemap_url: string | null; basemap_attribution: string | null };

export type TileJSON = { bounds: [number, number, number, number]; tiles: string[] };

/** A problem+json answer (RFC 9457), or a failure to reach the server. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors: Array<Record<string, unknown>> = [],
  ) {
    super(detail);
  }
}

async function request<T>(url: string, init: RequestInit = {}): Promise<T | null> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers: { Accept: "application/json", ...(init.headers ?? {}) },
    });
  } catch (error) {
    throw new ApiProblem(0, String(error));
  }
  if (response.status === 404) return null;
  if (!response.ok) {
    let detail = response.statusText;
    let errors: Array<Record<string, unknown>> = [];
    try {
      const body = await response.json();
      detail = body.detail ?? detail;
      errors = body.errors ?? [];
    } catch {
      // not a problem document; the status text says what there is to say
    }
    throw new ApiProblem(response.status, detail, errors);
  }
  return (await response.json()) as T;
}

async function required<T>(url: string, init?: RequestInit): Promise<T> {
  const found = await request<T>(url, init);
  if (found === null) throw new ApiProblem(404, url);
  return found;
}

export function registryStatus(): Promise<{ registry: RegistryStatus }> {
  return required("./?f=json");
}

export function uiConfig(): Promise<UiConfig> {
  return required("./ui/config.json");
}

export function tileJSON(collection: string): Promise<TileJSON> {
  return required(`./tiles/${encodeURIComponent(collection)}.json`);
}

export function tileUrl(collection: string): string {
  // absolute, from the document's own URL: OpenLayers fetches tiles with this template
  return new URL(`./tiles/${encodeURIComponent(collection)}/{z}/{x}/{y}.mvt`, document.baseURI)
    .href.replace(/%7B/g, "{")
    .replace(/%7D/g, "}");
}

export function hazardArea(ref: string): Promise<Feature<Geometry, HazardProperties> | null> {
  return request(`./collections/hazard-areas/items/${encodeURIComponent(ref)}?f=json`);
}

export async function hazardAreas(
  filters: Record<string, string>,
  limit = 20,
): Promise<FeatureCollection<Geometry, HazardProperties>> {
  const query = new URLSearchParams({ ...filters, limit: String(limit), f: "json" });
  return required(`./collections/hazard-areas/items?${query}`);
}

export type ReleasedProperties = {
  ref: string;
  kind: string;
  hazard_ref: string;
  activity_type?: string | null;
  activity_ref?: string | null;
  area_m2?: number | null;
  date_of_information?: string | null;
};

export function releasedLand(
  hazardRef: string,
): Promise<FeatureCollection<Geometry, ReleasedProperties>> {
  const query = new URLSearchParams({ hazard_ref: hazardRef, limit: "1000", f: "json" });
  return required(`./collections/released-land/items?${query}`);
}

export function checkPoint(lon: number, lat: number, withinM: number): Promise<SafetyAnswer> {
  const query = new URLSearchParams({ lon: String(lon), lat: String(lat), within_m: String(withinM) });
  return required(`./check/point?${query}`);
}

const MEDIA_TYPES: Record<string, string> = {
  gpx: "application/gpx+xml",
  geojson: "application/geo+json",
  json: "application/geo+json",
  kml: "application/vnd.google-earth.kml+xml",
  kmz: "application/vnd.google-earth.kmz",
};

export function suffix(name: string): string {
  return (name.split(".").pop() ?? "").toLowerCase();
}

export function checkFile(what: "route" | "area", file: File, withinM: number): Promise<SafetyAnswer> {
  const query = new URLSearchParams({ filename: file.name, within_m: String(withinM) });
  const mediaType = MEDIA_TYPES[suffix(file.name)] ?? "application/octet-stream";
  return required(`./check/${what}?${query}`, {
    method: "POST",
    body: file,
    headers: { "Content-Type": mediaType },
  });
}

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

/** The session's CSRF token (from /auth/login or /auth/me): every POST the UI sends carries
 * it as X-CSRF-Token, which the server demands of any change made with the session cookie. */
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** The last ETag an answer carried (GET /reports/{id}), for the If-Match of a decision. */
export type WithETag<T> = { body: T; etag: string | null };

async function send(url: string, init: RequestInit): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = {
    Accept: "application/json",
    ...((init.headers as Record<string, string> | undefined) ?? {}),
  };
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  try {
    // same-origin: the session cookie goes with it, and only to this server
    return await fetch(url, { ...init, method, headers, credentials: "same-origin" });
  } catch (error) {
    throw new ApiProblem(0, String(error));
  }
}

async function problemOf(response: Response): Promise<ApiProblem> {
  let detail = response.statusText;
  let errors: Array<Record<string, unknown>> = [];
  try {
    const body = await response.json();
    detail = body.detail ?? detail;
    errors = body.errors ?? [];
  } catch {
    // not a problem document; the status text says what there is to say
  }
  return new ApiProblem(response.status, detail, errors);
}

async function withETag<T>(url: string, init: RequestInit = {}): Promise<WithETag<T>> {
  const response = await send(url, init);
  if (!response.ok) throw await problemOf(response);
  return { body: (await response.json()) as T, etag: response.headers.get("etag") };
}

async function request<T>(url: string, init: RequestInit = {}): Promise<T | null> {
  let response: Response;
  try {
    response = await send(url, init);
  } catch (error) {
    if (error instanceof ApiProblem) throw error;
    throw new ApiProblem(0, String(error));
  }
  if (response.status === 404) return null;
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return {} as T;
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

// -- who is signed in ---------------------------------------------------------------------------

export type Me = {
  name: string | null;
  roles: string[];
  authenticated_by: string | null;
  csrf_token?: string;
};

export function whoAmI(): Promise<Me> {
  return required("./auth/me");
}

export function login(name: string, password: string): Promise<Me> {
  return required("./auth/login", {
    method: "POST",
    body: JSON.stringify({ name, password }),
    headers: { "Content-Type": "application/json" },
  });
}

export async function logout(): Promise<void> {
  await request("./auth/logout", { method: "POST" });
}

// -- reports and review (staff) -------------------------------------------------------------------

export type ReportSummary = {
  id: number;
  type: string;
  status: string;
  date_of_information: string;
  created_at?: string;
  decided_at?: string | null;
  reason?: string | null;
  source_name?: string | null;
  created_by: string;
  decided_by?: string | null;
  records: number;
};

export type FieldChange = { before: unknown; after: unknown };

export type RecordChange = {
  kind: string;
  ref: string;
  action: "create" | "update";
  fields: Record<string, FieldChange>;
  geometry?: {
    area_m2_before: number | null;
    area_m2_after: number;
    before?: Geometry | null;
    after?: Geometry;
  };
};

export type Transition = {
  ref: string;
  from: { category: string | null; status: string | null };
  to: { category: string | null; status: string | null };
  reason: string;
  split_off?: string | null;
};

export type ReportDetail = ReportSummary & {
  changes: RecordChange[];
  summary: { create: number; update: number; no_change: number };
  transitions?: Transition[];
  approval_refused?: { message: string };
};

export function reports(status: string): Promise<ReportSummary[]> {
  return required(`./reports?${new URLSearchParams({ status })}`);
}

export function report(id: number): Promise<WithETag<ReportDetail>> {
  return withETag(`./reports/${id}`);
}

/** Withdraw an approved report (admins): the reason is required. */
export function unapprove(id: number, etag: string | null, reason: string): Promise<WithETag<Record<string, unknown>>> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (etag) headers["If-Match"] = etag;
  return withETag(`./reports/${id}/unapprove`, { method: "POST", headers, body: JSON.stringify({ reason }) });
}

export type Submitted = {
  report: number;
  status: string;
  type: string;
  /** a hazard report: the refs of the records it would create or change */
  records?: string[];
  /** an activity report: the activity's ref */
  activity?: string;
};

/** Submit a report document (the JSON of `clearland report submit`) for review; every refusal
 * (400, 404 for an unknown ref, 409) is an ApiProblem with the server's words and its errors. */
export async function submitReport(document: unknown): Promise<Submitted> {
  return (
    await withETag<Submitted>("./reports", {
      method: "POST",
      body: JSON.stringify(document),
      headers: { "Content-Type": "application/json" },
    })
  ).body;
}

export function decide(
  id: number,
  decision: "approve" | "reject",
  etag: string | null,
  reason?: string,
): Promise<WithETag<Record<string, unknown>>> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (etag) headers["If-Match"] = etag;
  return withETag(`./reports/${id}/${decision}`, {
    method: "POST",
    headers,
    body: decision === "reject" ? JSON.stringify(reason ? { reason } : {}) : "",
  });
}

// -- records and statistics -------------------------------------------------------------------------

export type HistoryEntry = {
  report: number;
  type: string;
  status: string;
  date_of_information: string;
  approval_seq?: number | null;
  by?: string;
  source?: string | null;
  changed: string[];
  values?: Record<string, unknown>;
  outcomes?: Array<{ ref: string; kind: string }>;
};

export type RecordActivity = {
  ref: string;
  activity_type: string;
  organisation?: string | null;
  start_date?: string | null;
  end_date?: string | null;
  status?: string | null;
  assets?: string[] | null;
  depth_cm?: number | null;
  date_of_information?: string | null;
};

export type RecordOutcome = {
  ref: string;
  kind: string;
  activity_ref?: string | null;
  activity_type?: string | null;
  area_m2?: number | null;
  date_of_information?: string | null;
};

export type RecordDevice = {
  ref: string;
  category: string;
  model?: string | null;
  quantity: number;
  depth_cm?: number | null;
  disposal?: string | null;
  activity_ref?: string | null;
  lon?: number | null;
  lat?: number | null;
  date_of_information?: string | null;
};

export type RecordState = {
  ref: string;
  view: "public" | "restricted";
  geometry: Geometry;
  remaining_geometry?: Geometry;
  activities?: RecordActivity[];
  outcomes?: RecordOutcome[];
  devices?: RecordDevice[];
  children?: string[];
  history?: HistoryEntry[];
};

export function recordState(ref: string): Promise<RecordState | null> {
  return request(`./records/${encodeURIComponent(ref)}`);
}

export type Totals = { count: number; area_m2_sum: number; area_m2_net: number; remaining_m2_net?: number };
export type Released = { cancelled: number; reduced: number; cleared: number; total?: number };

export type Statistics = Totals & {
  revision: number;
  latest_information: string | null;
  remaining_m2_net: number;
  released_m2: Released;
  by?: string;
  groups?: Record<string, Totals>;
};

export type OpenedClosed = { opened: number; closed: number };

export type ReleaseStatistics = {
  revision: number;
  latest_information: string | null;
  by: string;
  released_m2: Released;
  groups: Record<string, Released>;
  devices_destroyed: { total: Record<string, number>; groups: Record<string, Record<string, number>> };
  /** by month only: hazard areas opened and closed, from the registry's history */
  hazard_areas?: { total: OpenedClosed; groups: Record<string, OpenedClosed> };
};

export type AdminAreaProperties = { ref: string; name: string; code?: string | null; level?: number | null };

export function adminAreas(): Promise<FeatureCollection<Geometry, AdminAreaProperties>> {
  return required(`./collections/admin-areas/items?${new URLSearchParams({ limit: "10000", f: "json" })}`);
}

export function statistics(params: Record<string, string>): Promise<Statistics> {
  return required(`./stats?${new URLSearchParams(params)}`);
}

export function releaseStatistics(by: string): Promise<ReleaseStatistics> {
  return required(`./stats/release?${new URLSearchParams({ by })}`);
}

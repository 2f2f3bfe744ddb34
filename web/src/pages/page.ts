import type { UiConfig } from "../api";

export type Route = { name: string; args: string[]; params: URLSearchParams };
export type Context = { config: UiConfig; route: Route };
/** A page drawn into <main>; destroy() releases what it holds (its map). */
export type Page = { title: string; destroy(): void };

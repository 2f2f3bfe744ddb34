import type { UiConfig } from "../api";

export type Route = { name: string; args: string[]; params: URLSearchParams };
export type Context = { config: UiConfig; route: Route };
/** A page drawn into <main>; destroy() releases what it holds (its map). publish() puts its
 * probes (what it reports it drew, for tools and the browser tests) on window: main.ts calls it
 * only for the page that is shown, so a page left before it finished drawing never replaces
 * the probes of the page that replaced it. */
export type Page = { title: string; destroy(): void; publish?(): void };

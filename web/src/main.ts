// The clearland web UI. Pages are hash routes (#/map, #/check, #/records/HA-000123), so the
// server serves one document at / and no UI path can clash with an API path.
import "ol/ol.css";
import "./style.css";
import { ApiProblem, registryStatus, uiConfig, type UiConfig } from "./api";
import { clear, h } from "./dom";
import { formatDate, lang, onLangChange, setLang, t, translateStatic, type Lang } from "./i18n";
import { checkPage } from "./pages/check";
import { mapPage } from "./pages/map";
import type { Context, Page, Route } from "./pages/page";
import { recordPage } from "./pages/record";

const PAGES: Record<string, (main: HTMLElement, ctx: Context) => Promise<Page>> = {
  map: mapPage,
  check: checkPage,
  records: recordPage,
};

function currentRoute(): Route {
  const hash = window.location.hash.startsWith("#/") ? window.location.hash.slice(2) : "map";
  const [path, query = ""] = hash.split("?", 2);
  const [name = "map", ...args] = path.split("/").filter(Boolean);
  return { name: name in PAGES ? name : "map", args, params: new URLSearchParams(query) };
}

let config: UiConfig = { basemap_url: null, basemap_attribution: null };
let page: Page | null = null;
let drawing = 0;

async function draw(focus: boolean): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const route = currentRoute();
  const mine = ++drawing;
  page?.destroy();
  page = null;
  clear(main);
  document.querySelectorAll<HTMLAnchorElement>("[data-route]").forEach((a) => {
    if (a.dataset.route === route.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  const drawn = await PAGES[route.name](main, { config, route });
  if (mine !== drawing) {
    drawn.destroy(); // a newer route was asked for while this one loaded
    return;
  }
  page = drawn;
  document.title = `${drawn.title} · ${t("app.name")}`;
  document.body.dataset.page = route.name;
  if (focus) {
    // a new page: screen readers and keyboards start at its title, as after a page load
    const title = document.getElementById("page-title");
    title?.setAttribute("tabindex", "-1");
    title?.focus();
  }
}

async function showStatus(): Promise<void> {
  const el = document.getElementById("registry-status") as HTMLElement;
  try {
    const { registry } = await registryStatus();
    el.textContent = t("registry.status", {
      date: formatDate(registry.latest_information),
      revision: String(registry.revision),
    });
    if (registry.synthetic) el.append(" ", h("strong", {}, t("registry.synthetic")));
  } catch (error) {
    el.textContent = t("error.api", { detail: error instanceof ApiProblem ? error.detail : String(error) });
  }
}

async function start(): Promise<void> {
  document.documentElement.lang = lang();
  translateStatic();
  const select = document.getElementById("lang-select") as HTMLSelectElement;
  select.value = lang();
  select.addEventListener("change", () => setLang(select.value as Lang));
  onLangChange(() => {
    translateStatic();
    void showStatus();
    void draw(false);
  });
  document.getElementById("skip-link")?.addEventListener("click", (event) => {
    event.preventDefault(); // #main is not a route: move the focus, keep the hash
    document.getElementById("main")?.focus();
  });
  try {
    config = await uiConfig();
  } catch {
    // without the server's settings, no basemap: the map still draws the registry
  }
  window.addEventListener("hashchange", () => {
    if (window.location.hash.startsWith("#/") || window.location.hash === "") void draw(true);
  });
  void showStatus();
  await draw(false);
}

void start();

// The clearland web UI. Pages are hash routes (#/map, #/check, #/records/HA-000123), so the
// server serves one document at / and no UI path can clash with an API path.
import "ol/ol.css";
import "./style.css";
import { ApiProblem, registryStatus, uiConfig, type UiConfig } from "./api";
import { clear, h } from "./dom";
import { formatDate, lang, onLangChange, setLang, t, translateStatic, type Lang } from "./i18n";
import { checkPage } from "./pages/check";
import { dashboardPage } from "./pages/dashboard";
import { loginPage, refusedPage } from "./pages/login";
import { mapPage } from "./pages/map";
import type { Context, Page, Route } from "./pages/page";
import { recordPage } from "./pages/record";
import { reviewPage } from "./pages/review";
import { submitPage } from "./pages/submit";
import {
  hasRole,
  onSessionChange,
  REPORT_ROLES,
  REVIEW_ROLES,
  refreshSession,
  session,
  signOut,
} from "./session";

type PageDef = {
  draw: (main: HTMLElement, ctx: Context) => Promise<Page>;
  /** who may open it (any of these roles); none: everyone */
  roles?: readonly string[];
};

const PAGES: Record<string, PageDef> = {
  map: { draw: mapPage },
  check: { draw: checkPage },
  records: { draw: recordPage },
  dashboard: { draw: dashboardPage },
  login: { draw: loginPage },
  review: { draw: reviewPage, roles: REVIEW_ROLES },
  submit: { draw: submitPage, roles: REPORT_ROLES },
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
  const def = PAGES[route.name];
  const ctx = { config, route };
  const drawn =
    def.roles && !hasRole(def.roles) ? refusedPage(main, ctx, def.roles) : await def.draw(main, ctx);
  if (mine !== drawing) {
    drawn.destroy(); // a newer route was asked for while this one loaded
    return;
  }
  page = drawn;
  drawn.publish?.();
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

/** The header: who is signed in (and a way out), and the links their roles open. */
function showSession(): void {
  const me = session();
  document.querySelectorAll<HTMLElement>("[data-roles]").forEach((item) => {
    item.hidden = !hasRole((item.dataset.roles ?? "").split(" "));
  });
  const who = document.getElementById("who") as HTMLElement;
  clear(who);
  if (me.name === null) {
    who.append(h("a", { href: "#/login", "data-route": "login" }, t("login.link")));
    return;
  }
  const out = h("button", { type: "button", class: "link-button" }, t("login.sign_out"));
  out.addEventListener("click", () => {
    void signOut().then(() => {
      if (window.location.hash === "#/map") void draw(true);
      else window.location.hash = "#/map";
    });
  });
  who.append(h("span", { class: "who-name" }, t("login.who", { name: me.name })), " ", out);
}

async function start(): Promise<void> {
  document.documentElement.lang = lang();
  translateStatic();
  const select = document.getElementById("lang-select") as HTMLSelectElement;
  select.value = lang();
  select.addEventListener("change", () => setLang(select.value as Lang));
  onSessionChange(showSession);
  window.addEventListener("clearland:registry-changed", () => void showStatus());
  onLangChange(() => {
    translateStatic();
    showSession();
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
  await refreshSession();
  await draw(false);
}

void start();

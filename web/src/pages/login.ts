// Sign in (POST /auth/login: the server sets its session cookie and gives the CSRF token) and
// sign out; the page restricted routes show to an anonymous visitor, and the "not allowed" page
// they show to a user without the role.
import { ApiProblem } from "../api";
import { h } from "../dom";
import { t, vocab } from "../i18n";
import { hasRole, refreshSession, session, signIn, signOut } from "../session";
import type { Context, Page } from "./page";

/** Only a route of this UI may be where a sign-in leads: never another site. */
function safeNext(next: string | null): string {
  return next && /^#\/[\w/?=&%.,:-]*$/.test(next) && !next.startsWith("#/login") ? next : "#/map";
}

function roleList(roles: readonly string[]): string {
  return roles.map((role) => vocab("role", role)).join(", ");
}

function loginForm(next: string, reason: string | null): HTMLElement {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const name = h("input", { id: "login-name", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const button = h("button", { type: "submit" }, t("login.button"));
  const form = h(
    "form",
    { class: "login-form" },
    h("div", { class: "field" }, h("label", { for: "login-name" }, t("login.name")), name),
    h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")), password),
    button,
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    status.className = "form-status";
    status.textContent = t("login.signing_in");
    signIn(name.value.trim(), password.value)
      .then(() => {
        password.value = "";
        if (window.location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
        else window.location.hash = next;
      })
      .catch((error: unknown) => {
        status.className = "form-status error";
        const problem = error instanceof ApiProblem ? error : new ApiProblem(0, String(error));
        status.textContent =
          problem.status === 401
            ? t("login.wrong")
            : problem.status === 429
              ? t("login.too_many")
              : t("error.api", { detail: problem.detail });
        password.value = "";
        password.focus();
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  return h(
    "section",
    { class: "login-page", "aria-labelledby": "page-title" },
    h("h1", { id: "page-title" }, t("login.title")),
    reason ? h("p", { class: "notice" }, reason) : null,
    h("p", {}, t("login.intro")),
    form,
  );
}

export async function loginPage(main: HTMLElement, ctx: Context): Promise<Page> {
  const next = safeNext(ctx.route.params.get("next"));
  const me = session();
  if (me.name !== null) {
    const out = h("button", { type: "button" }, t("login.sign_out"));
    out.addEventListener("click", () => void signOut().then(() => (window.location.hash = "#/map")));
    main.appendChild(
      h(
        "section",
        { class: "login-page", "aria-labelledby": "page-title" },
        h("h1", { id: "page-title" }, t("login.signed_in_title")),
        h("p", {}, t("login.signed_in_as", { name: me.name, roles: roleList(me.roles) })),
        out,
      ),
    );
    return { title: t("login.signed_in_title"), destroy() {} };
  }
  main.appendChild(loginForm(next, null));
  return { title: t("login.title"), destroy() {} };
}

/** What a restricted route shows to someone who may not see it: the sign-in form to the
 * anonymous (back to the page afterwards), a plain "not allowed" to a user without the role. */
export function refusedPage(main: HTMLElement, ctx: Context, roles: readonly string[]): Page {
  const here = `#/${[ctx.route.name, ...ctx.route.args].join("/")}`;
  const me = session();
  if (me.name === null) {
    main.appendChild(loginForm(here, t("login.needed", { roles: roleList(roles) })));
    return { title: t("login.title"), destroy() {} };
  }
  main.appendChild(
    h(
      "section",
      { class: "not-allowed", "aria-labelledby": "page-title" },
      h("h1", { id: "page-title" }, t("refused.title")),
      h(
        "p",
        { role: "alert" },
        t("refused.detail", { name: me.name, roles: roleList(me.roles), needed: roleList(roles) }),
      ),
      h("p", {}, h("a", { href: "#/map" }, t("record.back_to_map"))),
    ),
  );
  return { title: t("refused.title"), destroy() {} };
}

/** A page whose data the server refused (401: the session ended; 403: not allowed). */
export async function whenRefused(
  main: HTMLElement,
  ctx: Context,
  error: unknown,
  roles: readonly string[],
): Promise<Page | null> {
  if (!(error instanceof ApiProblem) || (error.status !== 401 && error.status !== 403)) return null;
  if (error.status === 401) await refreshSession(); // the session has ended (or was never there)
  if (error.status === 403 && hasRole(roles)) return null; // refused for another reason: show it
  return refusedPage(main, ctx, roles);
}

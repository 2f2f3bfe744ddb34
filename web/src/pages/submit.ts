// Submitting a report for review, for surveyors (and reviewers, admins, records custodians): a
// report document — the same JSON file as `clearland report submit FILE` takes — sent to POST
// /reports. The server checks it whole: either it lands as a submitted report (its number, what
// it would change, and for reviewers a link to it in the review inbox), or nothing is stored and
// the page lists each problem the server named, field by field.
import { ApiProblem, submitReport, type Submitted } from "../api";
import { clear, facts, h } from "../dom";
import { t, vocab } from "../i18n";
import { hasRole, REVIEW_ROLES } from "../session";
import { recordHref } from "./map";
import type { Context, Page } from "./page";

/** the largest file read here; the server has its own limit (413) */
const MAX_BYTES = 20 * 1024 * 1024;

export type SubmitProbe = { last(): Submitted | ApiProblem | null };

declare global {
  interface Window {
    clearlandSubmit?: SubmitProbe;
  }
}

function problemItems(problem: ApiProblem): HTMLElement | null {
  const items = problem.errors.map((e) => {
    const where = e.field ?? e.parameter;
    const message = e.message ?? Object.values(e).map(String).join(" · ");
    return h("li", {}, where ? h("code", {}, String(where)) : null, where ? `: ${String(message)}` : String(message));
  });
  return items.length ? h("ul", { class: "problems" }, ...items) : null;
}

export async function submitPage(main: HTMLElement, _ctx: Context): Promise<Page> {
  const title = t("submit.title");
  const fileInput = h("input", { type: "file", id: "report-file", accept: ".json,application/json", required: true });
  fileInput.setAttribute("aria-describedby", "report-file-hint");
  const button = h("button", { type: "submit" }, t("submit.button"));
  const result = h("div", { class: "result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "check-form submit-form" },
    h("label", { for: "report-file" }, t("submit.file_label")),
    fileInput,
    h("p", { class: "hint", id: "report-file-hint" }, t("submit.file_hint")),
    button,
  );
  main.append(
    h(
      "section",
      { class: "review-page", "aria-labelledby": "page-title" },
      h("h1", { id: "page-title" }, title),
      h("p", {}, t("submit.intro")),
      form,
      result,
    ),
  );
  let last: Submitted | ApiProblem | null = null;

  function showRefusal(message: string, list: HTMLElement | null): void {
    clear(result);
    result.append(
      h(
        "div",
        { class: "error", role: "alert" },
        h("h2", {}, t("submit.refused_title")),
        h("p", {}, message),
        list,
        h("p", {}, t("submit.nothing_stored")),
      ),
    );
  }

  function showSubmitted(done: Submitted, file: string): void {
    clear(result);
    const refs = done.records ?? [];
    result.append(
      h(
        "div",
        { class: "success-box", role: "status" },
        h("h2", {}, t("submit.done_title", { id: String(done.report) })),
        facts([
          [t("submit.file"), file],
          [t("review.type"), vocab("report_type", done.type)],
          [t("field.status"), vocab("report_status", done.status)],
          ...(refs.length
            ? ([[t("submit.records"), h("span", {}, ...refs.flatMap((ref, i) => [i ? ", " : "", h("a", { href: recordHref(ref) }, ref)]))]] as Array<[string, HTMLElement]>)
            : []),
          ...(done.activity ? ([[t("submit.activity"), done.activity]] as Array<[string, string]>) : []),
        ]),
        h("p", {}, t("submit.next")),
        hasRole(REVIEW_ROLES)
          ? h("p", {}, h("a", { href: `#/review/${done.report}` }, t("submit.open_in_review", { id: String(done.report) })))
          : null,
      ),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) {
      fileInput.reportValidity();
      return;
    }
    void (async () => {
      button.disabled = true;
      clear(result);
      result.append(h("p", {}, t("submit.sending")));
      try {
        if (file.size > MAX_BYTES) {
          showRefusal(t("submit.too_large", { mb: MAX_BYTES / 1024 / 1024 }), null);
          return;
        }
        let document: unknown;
        try {
          document = JSON.parse(await file.text());
        } catch (error) {
          showRefusal(t("submit.not_json", { file: file.name, detail: String(error instanceof Error ? error.message : error) }), null);
          return;
        }
        const done = await submitReport(document);
        last = done;
        showSubmitted(done, file.name);
      } catch (error) {
        if (error instanceof ApiProblem) {
          last = error;
          const words =
            error.status === 401
              ? t("submit.signed_out")
              : error.status === 403
                ? t("submit.forbidden", { detail: error.detail })
                : t("submit.refused", { detail: error.detail });
          showRefusal(words, problemItems(error));
        } else {
          showRefusal(t("error.api", { detail: String(error) }), null);
        }
      } finally {
        button.disabled = false;
        result.querySelector<HTMLElement>("h2")?.setAttribute("tabindex", "-1");
        result.querySelector<HTMLElement>("h2")?.focus();
      }
    })();
  });

  const probe: SubmitProbe = { last: () => last };
  return {
    title,
    destroy() {
      if (window.clearlandSubmit === probe) delete window.clearlandSubmit;
    },
    publish() {
      window.clearlandSubmit = probe;
    },
  };
}

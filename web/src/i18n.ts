// Message catalogues: every string the UI shows comes from i18n/<lang>.json. The Ukrainian
// catalogue is typed against the English one, so a missing key fails `tsc`.
import en from "./i18n/en.json";
import ukCatalogue from "./i18n/uk.json";

export type MessageKey = keyof typeof en;
export type Lang = "en" | "uk";

const uk: Record<MessageKey, string> = ukCatalogue satisfies Record<MessageKey, string>;
const catalogues: Record<Lang, Record<MessageKey, string>> = { en, uk };
const STORAGE_KEY = "clearland.lang";
const listeners: Array<() => void> = [];

let current: Lang = initialLang();

function initialLang(): Lang {
  try {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    if (saved === "en" || saved === "uk") return saved;
  } catch {
    // storage may be refused (private mode); fall back to the browser's languages
  }
  for (const lang of navigator.languages ?? [navigator.language]) {
    if (lang.toLowerCase().startsWith("uk")) return "uk";
    if (lang.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  if (next === current) return;
  current = next;
  try {
    window.localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not kept across visits; the switch still applies now
  }
  document.documentElement.lang = next;
  for (const listener of listeners) listener();
}

export function onLangChange(listener: () => void): void {
  listeners.push(listener);
}

/** The message for ``key`` in the current language, ``{name}`` replaced from ``params``. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[current][key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? formatValue(params[name]) : whole,
  );
}

function formatValue(value: string | number): string {
  return typeof value === "number" ? formatNumber(value) : value;
}

export function formatNumber(value: number, maximumFractionDigits = 0): string {
  return new Intl.NumberFormat(current, { maximumFractionDigits }).format(value);
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return t("value.none");
  const day = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T00:00:00Z`) : new Date(iso);
  if (Number.isNaN(day.getTime())) return iso;
  const withTime = iso.length > 10;
  return new Intl.DateTimeFormat(current, {
    dateStyle: "long",
    ...(withTime ? { timeStyle: "short" } : {}),
    timeZone: "UTC",
  }).format(day);
}

/** A vocabulary value (category, status, marking, hazard type…) in words, or the value itself. */
export function vocab(field: string, value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return t("value.none");
  const key = `${field}.${value}` as MessageKey;
  return key in en ? t(key) : value;
}

/** Translate the static page: elements marked data-i18n (text) and data-i18n-aria-label. */
export function translateStatic(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n as MessageKey);
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-aria-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel as MessageKey));
  });
}

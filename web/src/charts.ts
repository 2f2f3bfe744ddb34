// Small SVG charts drawn here (no chart library, nothing fetched): bars, stacked or grouped,
// with each chart's numbers also in a table beside it, which is what screen readers and the
// tests read.
import { formatNumber } from "./i18n";

const SVG = "http://www.w3.org/2000/svg";

export type Series = { key: string; label: string; colour: string };
export type Row = { label: string; values: Record<string, number> };

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A "nice" top for an axis: 1, 2 or 5 times a power of ten, at least ``max``. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Vertical bars per row: the series stacked (``stacked``) or side by side. */
export function barChart(
  rows: Row[],
  series: Series[],
  options: { label: string; stacked: boolean; unit?: (v: number) => string },
): SVGSVGElement {
  const unit = options.unit ?? ((v: number) => formatNumber(v));
  const width = 640;
  const height = 260;
  const left = 72;
  const bottom = 46;
  const top = 12;
  const plotH = height - top - bottom;
  const plotW = width - left - 10;
  const totals = rows.map((r) =>
    options.stacked
      ? series.reduce((sum, s) => sum + (r.values[s.key] ?? 0), 0)
      : Math.max(0, ...series.map((s) => r.values[s.key] ?? 0)),
  );
  const top_ = niceMax(Math.max(0, ...totals));
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": options.label,
    class: "chart",
    preserveAspectRatio: "xMinYMin meet",
  });
  const y = (v: number) => top + plotH - (v / top_) * plotH;
  // steps of 1, 2 or 5 times a power of ten: 4 of them up to a top of 2×, 5 up to 1× or 5×
  const steps = String(top_).replace(/[0.]/g, "").startsWith("2") ? 4 : 5;
  for (let i = 0; i <= steps; i++) {
    const v = (top_ * i) / steps;
    svg.append(
      el("line", { x1: left, x2: width - 10, y1: y(v), y2: y(v), stroke: "#d1d5db", "stroke-width": 1 }),
      el("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-tick" }, unit(v)),
    );
  }
  const slot = rows.length ? plotW / rows.length : plotW;
  const barW = Math.max(4, Math.min(48, slot * 0.7));
  rows.forEach((row, i) => {
    const x0 = left + slot * i + (slot - barW) / 2;
    let base = 0;
    series.forEach((s, j) => {
      const v = row.values[s.key] ?? 0;
      if (v <= 0) return;
      const w = options.stacked ? barW : barW / series.length;
      const x = options.stacked ? x0 : x0 + w * j;
      const y1 = y(options.stacked ? base + v : v);
      const y0 = y(options.stacked ? base : 0);
      const rect = el("rect", { x, y: y1, width: w, height: Math.max(0.5, y0 - y1), fill: s.colour });
      rect.append(el("title", {}, `${row.label} · ${s.label}: ${unit(v)}`));
      svg.append(rect);
      if (options.stacked) base += v;
    });
    // every label while they fit; past 8 bars every other one (the table has them all)
    if (rows.length <= 8 || i % 2 === (rows.length - 1) % 2) {
      svg.append(
        el(
          "text",
          { x: left + slot * i + slot / 2, y: height - bottom + 16, "text-anchor": "middle", class: "chart-label" },
          row.label,
        ),
      );
    }
  });
  svg.append(el("line", { x1: left, x2: width - 10, y1: y(0), y2: y(0), stroke: "#374151", "stroke-width": 1 }));
  // the key
  let kx = left;
  for (const s of series) {
    svg.append(
      el("rect", { x: kx, y: height - 16, width: 12, height: 12, fill: s.colour }),
      el("text", { x: kx + 16, y: height - 6, class: "chart-key" }, s.label),
    );
    kx += 24 + s.label.length * 7;
  }
  return svg;
}

/** Horizontal bars, one per row (long names read better across). */
export function hbarChart(rows: Row[], s: Series, options: { label: string; unit?: (v: number) => string }): SVGSVGElement {
  const unit = options.unit ?? ((v: number) => formatNumber(v));
  const rowH = 22;
  const left = 170;
  const width = 640;
  const right = 110;
  const height = rows.length * rowH + 8;
  const max = niceMax(Math.max(0, ...rows.map((r) => r.values[s.key] ?? 0)));
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${Math.max(height, 30)}`,
    role: "img",
    "aria-label": options.label,
    class: "chart",
    preserveAspectRatio: "xMinYMin meet",
  });
  rows.forEach((row, i) => {
    const v = row.values[s.key] ?? 0;
    const w = ((width - left - right) * v) / max;
    const yy = 4 + i * rowH;
    svg.append(
      el("text", { x: left - 6, y: yy + 14, "text-anchor": "end", class: "chart-label" }, row.label),
      el("rect", { x: left, y: yy + 3, width: Math.max(v > 0 ? 1 : 0, w), height: rowH - 6, fill: s.colour }),
      el("text", { x: left + w + 6, y: yy + 14, class: "chart-tick" }, unit(v)),
    );
  });
  return svg;
}

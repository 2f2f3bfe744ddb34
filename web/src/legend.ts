// The legend, drawn from the same colours and outlines as the map's styles.
import { h } from "./dom";
import { t, vocab } from "./i18n";
import {
  ADMIN_COLOUR,
  ADMIN_DASH,
  CATEGORY_COLOURS,
  MARKER_COLOUR,
  RELEASED_COLOUR,
  STATUS_LOOK,
  withAlpha,
} from "./mapview";

const SVG = "http://www.w3.org/2000/svg";

function swatch(fill: string, stroke: string, dash: number[], width: number, shape = "rect"): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const el = document.createElementNS(SVG, shape === "rect" ? "rect" : shape === "circle" ? "circle" : "polygon");
  if (shape === "rect") {
    el.setAttribute("x", "2");
    el.setAttribute("y", "2");
    el.setAttribute("width", "24");
    el.setAttribute("height", "14");
  } else if (shape === "circle") {
    el.setAttribute("cx", "14");
    el.setAttribute("cy", "9");
    el.setAttribute("r", "6");
  } else {
    el.setAttribute("points", "14,2 21,16 7,16");
  }
  el.setAttribute("fill", fill);
  el.setAttribute("stroke", stroke);
  el.setAttribute("stroke-width", String(width));
  if (dash.length) el.setAttribute("stroke-dasharray", dash.join(" "));
  svg.appendChild(el);
  return svg;
}

function row(svg: SVGSVGElement, text: string): HTMLLIElement {
  return h("li", {}, svg, h("span", {}, text));
}

export function legend(): HTMLElement {
  const categories = h("ul", { class: "legend-list" });
  for (const [category, colour] of Object.entries(CATEGORY_COLOURS)) {
    const shape = category === "indication" ? "circle" : "rect";
    categories.appendChild(row(swatch(withAlpha(colour, 0.4), colour, [], 2.5, shape), vocab("category", category)));
  }
  const statuses = h("ul", { class: "legend-list" });
  for (const [status, look] of Object.entries(STATUS_LOOK)) {
    statuses.appendChild(
      row(swatch(withAlpha("#374151", look.fillAlpha), "#374151", look.dash, look.width), vocab("status", status)),
    );
  }
  const others = h(
    "ul",
    { class: "legend-list" },
    row(swatch(withAlpha(RELEASED_COLOUR, 0.3), RELEASED_COLOUR, [], 1.5), t("layer.released")),
    row(swatch(MARKER_COLOUR, "#ffffff", [], 1.5, "triangle"), vocab("marker_type", "sign")),
    row(swatch(MARKER_COLOUR, "#ffffff", [], 1.5, "circle"), t("legend.other_markers")),
    row(swatch("#374151", "#ffffff", [], 2, "circle"), t("legend.count")),
    row(swatch("none", ADMIN_COLOUR, ADMIN_DASH, 1.5), t("layer.admin")),
  );
  return h(
    "section",
    { class: "legend", "aria-labelledby": "legend-title" },
    h("h2", { id: "legend-title" }, t("legend.title")),
    h("h3", {}, t("legend.category")),
    categories,
    h("h3", {}, t("legend.status")),
    statuses,
    h("h3", {}, t("legend.other")),
    others,
  );
}

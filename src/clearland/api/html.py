"""Plain server-rendered HTML for the OGC API pages (conformance class "HTML"): each page is
drawn from the same document the JSON answer carries, so both say the same. No script, no
asset from elsewhere; one small stylesheet served by the app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any

STYLESHEET = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.45; }
header { border-bottom: 3px solid #c0392b; margin-bottom: 1rem; }
header a { color: inherit; text-decoration: none; font-weight: 600; }
nav.links a { margin-right: 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td:first-child { white-space: nowrap; }
.notice { background: #fff4e5; border-left: 4px solid #e67e22; padding: 0.5rem 0.8rem; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
code { font-size: 0.9rem; }
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _link(href: str, text: Any) -> str:
    return f'<a href="{_e(href)}">{_e(text)}</a>'


def _find(links: Iterable[Mapping[str, Any]], rel: str, media_type: str | None = None) -> str | None:
    for link in links:
        if link.get("rel") == rel and (media_type is None or link.get("type") == media_type):
            return str(link["href"])
    return None


def page(title: str, body: str, *, base_url: str, links: Sequence[Mapping[str, Any]] = ()) -> str:
    """A whole page; ``links`` (the document's) give the JSON alternate in the header."""
    json_href = next(
        (
            str(link["href"])
            for link in links
            if link.get("rel") in ("self", "alternate") and "json" in link.get("type", "")
        ),
        None,
    )
    alternate = f'<link rel="alternate" type="application/json" href="{_e(json_href)}">' if json_href else ""
    json_link = f" · {_link(json_href, 'JSON')}" if json_href else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · clearland</title>"
        f'<link rel="stylesheet" href="{_e(base_url)}/assets/clearland.css">{alternate}</head><body>'
        f"<header><p>{_link(base_url + '/', 'clearland')} · "
        f"{_link(base_url + '/collections', 'collections')} · {_link(base_url + '/docs', 'API')}"
        f"{json_link}</p></header>"
        f"<main><h1>{_e(title)}</h1>{body}</main></body></html>\n"
    )


def landing(doc: Mapping[str, Any], *, base_url: str) -> str:
    registry = doc.get("registry") or {}
    rows = "".join(
        f"<li>{_link(link['href'], link.get('title') or link['rel'])} <small>({_e(link['rel'])}, "
        f"{_e(link.get('type'))})</small></li>"
        for link in doc["links"]
        if link["rel"] not in ("self", "alternate")
    )
    body = (
        f"<p>{_e(doc.get('description'))}</p>"
        f"<p>Registry revision {_e(registry.get('revision'))}; information up to "
        f"{_e(registry.get('latest_information') or 'none yet')}.</p>"
        f'<p class="notice">{_e(registry.get("notice"))}</p>'
        f"<ul>{rows}</ul>"
    )
    return page(str(doc.get("title", "clearland")), body, base_url=base_url, links=doc["links"])


def conformance(doc: Mapping[str, Any], *, base_url: str) -> str:
    items = "".join(f"<li><code>{_e(uri)}</code></li>" for uri in doc["conformsTo"])
    return page("Conformance", f"<ul>{items}</ul>", base_url=base_url, links=doc.get("links", ()))


def collections(doc: Mapping[str, Any], *, base_url: str) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{_link(_find(c['links'], 'self', 'text/html') or '', c['title'])}</td>"
        f"<td>{_e(c.get('description'))}</td>"
        f"<td>{_link(_find(c['links'], 'items', 'text/html') or '', 'items')}</td>"
        "</tr>"
        for c in doc["collections"]
    )
    body = f"<table><tr><th>collection</th><th>description</th><th></th></tr>{rows}</table>"
    return page("Collections", body, base_url=base_url, links=doc["links"])


def collection(doc: Mapping[str, Any], *, base_url: str) -> str:
    extent = doc.get("extent") or {}
    bbox = (extent.get("spatial") or {}).get("bbox")
    interval = (extent.get("temporal") or {}).get("interval")
    items_href = _find(doc["links"], "items", "text/html") or ""
    body = (
        f"<p>{_e(doc.get('description'))}</p>"
        "<table>"
        f"<tr><th>id</th><td><code>{_e(doc['id'])}</code></td></tr>"
        f"<tr><th>coordinates</th><td>{_e(doc.get('storageCrs'))} (longitude, latitude)</td></tr>"
        f"<tr><th>extent</th><td>{_e(bbox[0] if bbox else 'empty')}</td></tr>"
        f"<tr><th>dates of information</th><td>{_e(' to '.join(interval[0]) if interval else '')}</td></tr>"
        "</table>"
        f"<p>{_link(items_href, 'Browse the items')}</p>"
    )
    return page(str(doc.get("title", doc["id"])), body, base_url=base_url, links=doc["links"])


def items(
    doc: Mapping[str, Any],
    *,
    title: str,
    offset: int,
    base_url: str,
    item_url: Callable[[str], str],
) -> str:
    features = doc["features"]
    columns: list[str] = []
    for feature in features:
        for name in feature.get("properties") or {}:
            if name not in columns:
                columns.append(name)
    head = "".join(f"<th>{_e(c)}</th>" for c in ["id", *columns, "geometry"])
    rows = "".join(
        "<tr>"
        f"<td>{_link(item_url(feature['id']), feature['id'])}</td>"
        + "".join(f"<td>{_value(feature['properties'].get(c))}</td>" for c in columns)
        + f"<td>{_e((feature.get('geometry') or {}).get('type'))}</td></tr>"
        for feature in features
    )
    first = offset + 1 if doc["numberReturned"] else 0
    pager = " · ".join(
        _link(href, text)
        for rel, text in (("prev", "previous page"), ("next", "next page"))
        if (href := _find(doc["links"], rel, "text/html"))
    )
    body = (
        f"<p>{_e(first)}–{_e(offset + doc['numberReturned'])} of {_e(doc['numberMatched'])} "
        f"features (as of {_e(doc['timeStamp'])}).</p>"
        f"<table><tr>{head}</tr>{rows}</table><p>{pager}</p>"
    )
    return page(title, body, base_url=base_url, links=doc["links"])


def item(doc: Mapping[str, Any], *, base_url: str) -> str:
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_value(v)}</td></tr>" for k, v in (doc.get("properties") or {}).items()
    )
    geometry = json.dumps(doc.get("geometry"), separators=(",", ":"))
    body = (
        f"<table>{rows}</table>"
        f"<details><summary>geometry ({_e((doc.get('geometry') or {}).get('type'))}, "
        f"CRS84 longitude, latitude)</summary><pre>{_e(geometry)}</pre></details>"
    )
    return page(str(doc["id"]), body, base_url=base_url, links=doc["links"])


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return _e(", ".join(str(v) for v in value))
    if isinstance(value, float):
        return _e(f"{value:,.1f}")
    return _e(value)

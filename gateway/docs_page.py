"""``/docs``: a small self-contained HTML page listing the routes of the OpenAPI document.

No scripts or stylesheets from elsewhere: the page must work without internet access.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;"
    "padding:.35rem .6rem;text-align:left;vertical-align:top}"
    "code{font-size:.95em}.m{font-weight:bold;font-family:monospace}"
)


def render_docs(document: dict[str, Any]) -> str:
    """The HTML page for ``document`` (an OpenAPI 3.1 document)."""
    info = document.get("info", {})
    rows = "".join(_rows(document.get("paths", {})))
    title = escape(str(info.get("title", "API")))
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title} API</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title} REST API {escape(str(info.get('version', '')))}</h1>"
        f"<p>{escape(str(info.get('description', '')))} "
        "The machine-readable document is at <a href=\"/openapi.json\">/openapi.json</a>.</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>rpc</th><th>parameters</th>"
        f"<th>auth</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    )


def _rows(paths: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    for path, item in paths.items():
        for method, operation in item.items():
            params = ", ".join(
                f"{escape(p['name'])} ({escape(p['in'])})"
                for p in operation.get("parameters", [])
            )
            if "requestBody" in operation:
                params = ", ".join(filter(None, [params, "JSON body"]))
            auth = "bearer" if operation.get("security") else "public"
            rows.append(
                f"<tr><td class=\"m\">{escape(method.upper())}</td>"
                f"<td><code>{escape(path)}</code></td>"
                f"<td>{escape(str(operation.get('operationId', '')))}</td>"
                f"<td>{params}</td><td>{auth}</td></tr>"
            )
    return rows

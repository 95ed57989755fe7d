"""The HTML of the docs pages (docs/internals/api-docs.md). Arguments arrive HTML-escaped; URLs are
relative to the page, so the pages work behind a proxy path prefix."""
from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = ["swagger_page", "redoc_page", "lite_page", "oauth2_redirect_page"]


def swagger_page(title: str, schema_url: str, assets: str, oauth2_redirect: Optional[str] = None,
                 init_oauth: Optional[Dict[str, Any]] = None, parameters: Optional[Dict[str, Any]] = None) -> str:
    """Swagger UI from the bundled assets: FastAPI's page (`viperhttp.openapi.docs`, one
    `"key": value,` line per setting), `validatorUrl: null` keeping it from calling the online
    validator, its stylesheet using system fonts only. `oauth2_redirect` (relative to the page)
    is made absolute in the browser, as Swagger UI needs it whole."""
    from viperhttp.openapi.docs import swagger_ui_page

    return swagger_ui_page(schema_url, f"{title} - Swagger UI", f"{assets}swagger-ui-bundle.js",
                           f"{assets}swagger-ui.css", None, oauth2_redirect, init_oauth, parameters)


def oauth2_redirect_page(assets: str) -> str:
    """The page Swagger UI's OAuth2 flows return to: swagger-ui-dist's oauth2-redirect.html,
    its script from the bundled assets."""
    return f"""<!doctype html>
<html lang="en-US"><head><title>Swagger UI: OAuth2 Redirect</title></head>
<body><script src="{assets}oauth2-redirect.js"></script></body></html>
"""


def redoc_page(title: str, schema_url: str, assets: str) -> str:
    """ReDoc from the bundled standalone build: FastAPI's page (`viperhttp.openapi.docs`),
    without its font link."""
    from viperhttp.openapi.docs import redoc_ui_page

    return redoc_ui_page(schema_url, f"{title} - ReDoc", f"{assets}redoc.standalone.js")


def lite_page(title: str, schema_url: str) -> str:
    """The original's small self-contained page: it lists the operations of the schema."""
    from viperhttp.openapi.docs import html_safe_json

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} .op {{ border: 1px solid #ccc; margin: .5em 0; padding: .5em; }}
.m {{ display: inline-block; min-width: 5em; font-weight: bold; }} .tags {{ color: #666; font-size: .9em; }}
pre {{ background: #f6f6f6; padding: 1em; overflow: auto; }}
</style></head><body><h1>{title}</h1><div id="ops">Loading…</div><h2>Schema</h2><pre id="raw"></pre>
<script>
fetch({html_safe_json(schema_url)}).then(r => r.json()).then(doc => {{
  const ops = document.getElementById("ops"); ops.textContent = "";
  for (const [path, item] of Object.entries(doc.paths || {{}})) {{
    for (const [method, op] of Object.entries(item)) {{
      const div = document.createElement("div"); div.className = "op";
      const m = document.createElement("span"); m.className = "m"; m.textContent = method.toUpperCase();
      const p = document.createElement("code"); p.textContent = path;
      const s = document.createElement("div"); s.textContent = (op.summary || "") + (op.description ? " — " + op.description : "");
      const t = document.createElement("div"); t.className = "tags"; t.textContent = (op.tags || []).join(", ");
      div.append(m, p, s, t); ops.append(div);
    }}
  }}
  document.getElementById("raw").textContent = JSON.stringify(doc, null, 2);
}});
</script></body></html>
"""

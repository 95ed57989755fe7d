"""FastAPI's `fastapi.openapi.docs` helpers, for docs pages served by a route of your own
(`ViperHTTP(docs_url=None, redoc_url=None)` and `@app.get("/docs")`; docs/guide/api-docs.md,
"Your own docs pages"; docs/internals/api-docs.md, "Your own docs pages").

Same names, keywords and page structure as FastAPI 0.165's, each returning an `HTMLResponse`.
The defaults differ where FastAPI's reach the Internet: the JavaScript and CSS are the bundled
offline assets (`/_viperhttp/docs/...`, mounted with the document), there is no favicon link and
no Google Fonts link unless you give one, and Swagger UI gets `validatorUrl: null`.
"""
from __future__ import annotations

import html
import json
import os
from typing import Any, Dict, Optional

from viperhttp.responses import HTMLResponse

__all__ = ["get_swagger_ui_html", "get_redoc_html", "get_swagger_ui_oauth2_redirect_html",
           "swagger_ui_default_parameters", "swagger_ui_page", "redoc_ui_page", "html_safe_json"]

#: where the bundled assets are served (viperhttp_autodocs.ASSETS_PREFIX; kept literal so that
#: importing the helpers loads no docs machinery)
_ASSETS = "/_viperhttp/docs/"

#: FastAPI's Swagger UI configuration; `swagger_ui_parameters` is merged over it
swagger_ui_default_parameters: Dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
}


def html_safe_json(value: Any) -> str:
    """JSON that cannot close the <script> element it is written into (FastAPI's escaping): the
    one escaping of a value written into the docs pages' scripts."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _encoded(value: Any) -> Any:
    from viperhttp.encoders import jsonable_encoder

    return jsonable_encoder(value)


def get_swagger_ui_html(*, openapi_url: str, title: str,
                        swagger_js_url: str = _ASSETS + "swagger-ui-bundle.js",
                        swagger_css_url: str = _ASSETS + "swagger-ui.css",
                        swagger_favicon_url: Optional[str] = None,
                        oauth2_redirect_url: Optional[str] = None,
                        init_oauth: Optional[Dict[str, Any]] = None,
                        swagger_ui_parameters: Optional[Dict[str, Any]] = None) -> HTMLResponse:
    """The Swagger UI page for the document at `openapi_url`. `swagger_ui_parameters` go over
    FastAPI's defaults (one `"key": value,` line each, as FastAPI writes them); the validator is
    off (`validatorUrl: null`) unless a parameter sets it. `oauth2_redirect_url` is made absolute
    against the page's URL in the browser (FastAPI prefixes the origin; the same for a path
    starting with `/`). `init_oauth` is passed to `ui.initOAuth(...)`."""
    return HTMLResponse(swagger_ui_page(openapi_url, title, swagger_js_url, swagger_css_url, swagger_favicon_url,
                                        oauth2_redirect_url, init_oauth, swagger_ui_parameters))


def swagger_ui_page(openapi_url: str, title: str, swagger_js_url: str, swagger_css_url: str,
                    swagger_favicon_url: Optional[str] = None, oauth2_redirect_url: Optional[str] = None,
                    init_oauth: Optional[Dict[str, Any]] = None,
                    swagger_ui_parameters: Optional[Dict[str, Any]] = None) -> str:
    """The HTML of `get_swagger_ui_html`, also the installed `/docs` page's (viperhttp_autodocs,
    with URLs relative to the page). `window.ui` is the Swagger UI object (FastAPI's page has it
    as a script constant `ui`)."""
    parameters = {**swagger_ui_default_parameters, "validatorUrl": None, **(swagger_ui_parameters or {})}
    favicon = "" if swagger_favicon_url is None else f'\n<link rel="shortcut icon" href="{swagger_favicon_url}">'
    page = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{swagger_css_url}">{favicon}
<title>{title}</title>
</head>
<body>
<div id="swagger-ui">
</div>
<script src="{swagger_js_url}"></script>
<!-- `SwaggerUIBundle` is now available on the page -->
<script>
window.ui = SwaggerUIBundle({{
    url: {html_safe_json(openapi_url)},
"""
    for key, value in parameters.items():
        page += f"{html_safe_json(key)}: {html_safe_json(_encoded(value))},\n"
    if oauth2_redirect_url:
        page += f"oauth2RedirectUrl: new URL({html_safe_json(oauth2_redirect_url)}, window.location.href).href,\n"
    # The bundle has no standalone preset (a separate file of swagger-ui-dist): FastAPI names
    # it anyway; an absent one is left out.
    page += """presets: [
    SwaggerUIBundle.presets.apis,
    SwaggerUIBundle.SwaggerUIStandalonePreset
    ].filter(Boolean),
})"""
    if init_oauth:
        page += f"\nui.initOAuth({html_safe_json(_encoded(init_oauth))})"
    page += "\n</script>\n</body>\n</html>\n"
    return page


def get_redoc_html(*, openapi_url: str, title: str, redoc_js_url: str = _ASSETS + "redoc.standalone.js",
                   redoc_favicon_url: Optional[str] = None, with_google_fonts: bool = False) -> HTMLResponse:
    """The ReDoc page for the document at `openapi_url`; the Google Fonts link only with
    `with_google_fonts=True` (FastAPI's default is True: an online page)."""
    return HTMLResponse(redoc_ui_page(openapi_url, title, redoc_js_url, redoc_favicon_url, with_google_fonts))


def redoc_ui_page(openapi_url: str, title: str, redoc_js_url: str, redoc_favicon_url: Optional[str] = None,
                  with_google_fonts: bool = False) -> str:
    """The HTML of `get_redoc_html`, also the installed `/redoc` page's (viperhttp_autodocs,
    with URLs relative to the page). `openapi_url` is HTML-escaped in its attribute (a URL
    without `&"<>'` is written as FastAPI writes it)."""
    fonts = ('\n<link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700"'
             ' rel="stylesheet">') if with_google_fonts else ""
    favicon = "" if redoc_favicon_url is None else f'\n<link rel="shortcut icon" href="{redoc_favicon_url}">'
    return f"""<!DOCTYPE html>
<html>
<head>
<title>{title}</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">{fonts}{favicon}
<style>
  body {{
    margin: 0;
    padding: 0;
  }}
</style>
</head>
<body>
<noscript>
    ReDoc requires Javascript to function. Please enable it to browse the documentation.
</noscript>
<redoc spec-url="{html.escape(openapi_url)}"></redoc>
<script src="{redoc_js_url}"> </script>
</body>
</html>
"""


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (swagger-ui-dist's `oauth2-redirect.html`, the bundled
    `oauth2-redirect.js`), its script inline as in FastAPI's, so it needs no asset URL."""
    import viperhttp_autodocs

    with open(os.path.join(viperhttp_autodocs.ASSETS_DIR, "oauth2-redirect.js"), encoding="utf-8") as f:
        script = f.read()
    return HTMLResponse(f"""<!doctype html>
<html lang="en-US">
<head>
    <title>Swagger UI: OAuth2 Redirect</title>
</head>
<body>
<script>
{script}
</script>
</body>
</html>
""")

"""Automatic API documentation: `/openapi.json`, Swagger UI at `/docs`, ReDoc at `/redoc` and
the original's small page at `/docs/lite` (docs/internals/api-docs.md).

`app.run()` calls `install_from_run` after all routes are registered and before the server
starts. The UI assets ship inside this package (`assets/`, licences beside them) and are
served natively under `/_viperhttp/docs/` with ETag and gzip; the pages load nothing from
any other host (no CDN, no online validator, no web fonts).
"""
from __future__ import annotations

import html
import os
import posixpath
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

from .openapi import generate_openapi, json_safe, operation_id
from .pages import lite_page, oauth2_redirect_page, redoc_page, swagger_page

__all__ = ["install", "install_from_run", "generate_openapi", "app_document", "docs_meta", "operation_id", "json_safe",
           "ASSETS_DIR", "ASSETS_PREFIX"]

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
#: Reserved URL prefix of the bundled UI assets (an internal native static mount).
ASSETS_PREFIX = "/_viperhttp/docs"
_TRUE = ("1", "true", "yes", "on")


def docs_meta(**kw: Any) -> Callable[[Any], Any]:
    """Handler-level docs metadata (`summary`, `tags`, ...), overridden by route keywords."""
    def decorator(func: Any) -> Any:
        meta = dict(getattr(func, "__vhttp_docs__", None) or {})
        meta.update(kw)
        func.__vhttp_docs__ = meta
        return func

    return decorator


def _url(value: Any) -> Optional[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _relative(target: str, page: str) -> str:
    """`target` relative to the page URL `page`, so a proxy path prefix keeps working."""
    base = posixpath.dirname(page) or "/"
    rel = posixpath.relpath(target, base)
    return rel if not target.endswith("/") else rel + "/"


def _taken(app: Any, path: str) -> bool:
    return any(plan is not None and plan.method == "GET" and plan.path == path
               for plan in getattr(app, "_routes_by_id", ()))


def install(app: Any, title: str = "ViperHTTP API", version: str = "1.0.0", description: str = "",
            openapi_url: Any = "/openapi.json", docs_url: Any = "/docs", servers: Any = None,
            include_websocket: bool = True, cache_schema: bool = True, redoc_url: Any = "/redoc",
            swagger_ui_oauth2_redirect_url: Any = "/docs/oauth2-redirect",
            swagger_ui_init_oauth: Optional[Dict[str, Any]] = None,
            swagger_ui_parameters: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Registers the docs routes and the asset mount; returns the URLs installed. They do not
    get the app's `dependencies=` / `default_response_class` (as FastAPI's docs routes)."""
    from viperhttp.app import framework_routes

    swagger = SwaggerSettings(_url(swagger_ui_oauth2_redirect_url), swagger_ui_init_oauth, swagger_ui_parameters)
    with framework_routes(app):
        return _install(app, title, version, description, openapi_url, docs_url, servers, include_websocket,
                        cache_schema, redoc_url, swagger)


def _install(app: Any, title: str, version: str, description: str, openapi_url: Any, docs_url: Any,
             servers: Any, include_websocket: bool, cache_schema: bool, redoc_url: Any,
             swagger: "SwaggerSettings") -> Dict[str, Any]:
    openapi_url, docs_url, redoc_url = _url(openapi_url), _url(docs_url), _url(redoc_url)
    installed: Dict[str, Any] = {"openapi_url": None, "docs_url": None, "redoc_url": None}
    if openapi_url is None:  # the UIs need the schema
        return installed
    exclude = _docs_paths(openapi_url, docs_url, redoc_url)
    cache: Dict[str, Any] = {}

    def schema(request: Any) -> Any:
        from viperhttp import JSONResponse

        custom = getattr(app, "__dict__", {}).get("openapi")
        if custom is not None:  # FastAPI's recipe: `app.openapi = custom_openapi`
            return JSONResponse(body=custom(), headers={"Cache-Control": "no-store"})
        if getattr(app, "openapi_schema", None) is not None:  # built by `app.openapi()` or set
            return JSONResponse(body=app.openapi_schema, headers={"Cache-Control": "no-store"})
        refresh = str(request.query_params.get("refresh", "")).lower() in _TRUE
        # a route added after the first build invalidates it, as does an OpenAPI field set on
        # an `app.routes` object (viperhttp/app_routes.py)
        stamp = (len(app._routes_by_id), getattr(app, "_routes_revision", 0))
        doc = cache.get("doc")
        if doc is None or refresh or not cache_schema or cache.get("stamp") != stamp:
            doc = generate_openapi(app, title, version, description, servers, include_websocket, exclude)
            cache["doc"], cache["stamp"] = doc, stamp
        return JSONResponse(body=doc, headers={"Cache-Control": "no-store"})

    if not _taken(app, openapi_url):
        app.get(openapi_url, include_in_schema=False, tags=["docs"])(schema)
        installed["openapi_url"] = openapi_url
    # With the document, also for `docs_url=None, redoc_url=None`: pages of your own made by
    # `viperhttp.openapi.docs` load these assets by default (docs/internals/api-docs.md)
    _mount_assets()
    redirect = swagger.oauth2_redirect_url if docs_url is not None else None
    for url, make in ((docs_url, swagger_page), (redoc_url, redoc_page)):
        if url is None or _taken(app, url):
            continue
        assets = _relative(ASSETS_PREFIX + "/", url)
        if make is swagger_page:
            page = swagger_page(html.escape(title), _relative(openapi_url, url), assets,
                                redirect and _relative(redirect, url), swagger.init_oauth, swagger.parameters)
        else:
            page = redoc_page(html.escape(title), _relative(openapi_url, url), assets)
        app.get(url, include_in_schema=False)(_html_handler(page, url))
        installed["docs_url" if make is swagger_page else "redoc_url"] = url
    if redirect is not None and not _taken(app, redirect):
        # Swagger UI's OAuth2 redirect page (authorization-code and implicit flows), FastAPI's URL.
        page = oauth2_redirect_page(_relative(ASSETS_PREFIX + "/", redirect))
        app.get(redirect, include_in_schema=False)(_html_handler(page, redirect))
    if docs_url is not None:
        lite = docs_url.rstrip("/") + "/lite"
        if not _taken(app, lite):
            page = lite_page(html.escape(title), _relative(openapi_url, lite))
            app.get(lite, include_in_schema=False)(_html_handler(page, lite))
    return installed


def _html_handler(page: str, url: str) -> Callable[[Any], Any]:
    name = url.rstrip("/").rsplit("/", 1)[-1]

    def handler(request: Any) -> Any:
        from viperhttp import HTMLResponse, RedirectResponse

        if request.path.endswith("/") and not url.endswith("/"):
            # The router also matches `/docs/`, where the page's relative asset and schema
            # URLs would miss; send the browser to `/docs` (relative, so a proxy prefix stays),
            # as FastAPI does.
            return RedirectResponse(f"../{name}" + (f"?{request.query}" if request.query else ""), 307)
        return HTMLResponse(page)

    return handler


def _docs_paths(openapi_url: Optional[str], docs_url: Optional[str], redoc_url: Optional[str]) -> Tuple[str, ...]:
    """The docs routes' own paths, never part of the document."""
    return tuple(u for u in (openapi_url, docs_url, redoc_url, docs_url and docs_url.rstrip("/") + "/lite") if u)


def app_document(app: Any) -> Dict[str, Any]:
    """The document of `app` from its docs settings (`ViperHTTP(title=...)`, `configure_docs`):
    what `app.openapi()` builds (docs/internals/api-docs.md#customising-the-document)."""
    config = app._docs_config()
    exclude = _docs_paths(_url(config["openapi_url"]), _url(config["docs_url"]), _url(config["redoc_url"]))
    return generate_openapi(app, config["title"], config["version"], config["description"], config["servers"],
                            config["include_websocket_docs"], exclude)


def _mount_assets() -> None:
    from viperhttp import _native

    mount = getattr(_native, "static_mount_internal", None)
    if mount is not None:
        mount(ASSETS_PREFIX, ASSETS_DIR)


def install_from_run(app: Any, run_kw: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """`app.run()`'s docs step: app settings (`configure_docs`) overridden by run keywords."""
    config = dict(app._docs_config()) if hasattr(app, "_docs_config") else {}
    for key in ("title", "version", "description", "openapi_url", "docs_url", "redoc_url",
                "include_websocket_docs", "cache_schema", "servers", *_SWAGGER_KEYS):
        if key in run_kw:
            config[key] = run_kw[key]
    enabled = run_kw.get("auto_docs")
    if enabled is None:
        enabled = config.get("docs", True)
    if not enabled:
        return None
    return install(app, title=config.get("title", "ViperHTTP API"), version=config.get("version", "1.0.0"),
                   description=config.get("description", ""), openapi_url=config.get("openapi_url", "/openapi.json"),
                   docs_url=config.get("docs_url", "/docs"), servers=config.get("servers"),
                   include_websocket=config.get("include_websocket_docs", True),
                   cache_schema=config.get("cache_schema", True), redoc_url=config.get("redoc_url", "/redoc"),
                   swagger_ui_oauth2_redirect_url=config.get("swagger_ui_oauth2_redirect_url", "/docs/oauth2-redirect"),
                   swagger_ui_init_oauth=config.get("swagger_ui_init_oauth"),
                   swagger_ui_parameters=config.get("swagger_ui_parameters"))


_SWAGGER_KEYS = ("swagger_ui_oauth2_redirect_url", "swagger_ui_init_oauth", "swagger_ui_parameters")


class SwaggerSettings(NamedTuple):
    """FastAPI's Swagger UI keywords (docs/internals/api-docs.md#swagger-ui-settings)."""

    oauth2_redirect_url: Optional[str]
    init_oauth: Optional[Dict[str, Any]]
    parameters: Optional[Dict[str, Any]]

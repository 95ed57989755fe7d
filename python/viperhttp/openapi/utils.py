"""`get_openapi`, as `fastapi.openapi.utils` has it, for FastAPI's "Extending OpenAPI" recipe:

    def custom_openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Custom", version="2.5.0", routes=app.routes)
        schema["info"]["x-logo"] = {"url": "..."}
        app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi

(docs/internals/api-docs.md#customising-the-document). `routes=app.routes` names the app
(its `RouteList`, viperhttp/app_routes.py); the document is built by `viperhttp_autodocs`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

__all__ = ["get_openapi"]


def get_openapi(*, title: str, version: str, openapi_version: str = "3.1.0", summary: Optional[str] = None,
                description: Optional[str] = None, routes: Any = None, webhooks: Optional[Sequence[Any]] = None,
                tags: Optional[List[Dict[str, Any]]] = None,
                servers: Optional[List[Union[Dict[str, Any], str]]] = None,
                terms_of_service: Optional[str] = None, contact: Optional[Dict[str, Any]] = None,
                license_info: Optional[Dict[str, Any]] = None,
                separate_input_output_schemas: bool = True) -> Dict[str, Any]:
    """The OpenAPI document of the app whose routes are given, with exactly this `info`,
    `tags` and `servers` (the app's own `openapi_tags` / `contact` / ... are not added, as in
    FastAPI). `webhooks` (FastAPI's `webhooks=app.webhooks.routes`) are the document's
    `webhooks` section, none when not given; `separate_input_output_schemas` is accepted (one
    schema per model either way)."""
    from viperhttp.app import active_app
    from viperhttp_autodocs import generate_openapi

    app = getattr(routes, "app", None)  # `app.routes` (RouteList)
    if app is None or not hasattr(app, "_routes_by_id"):
        app = active_app()
    if app is None:
        raise ValueError("get_openapi: pass routes=app.routes")
    from viperhttp.route_options import check_typed_kwarg

    webhooks = list(webhooks or ())
    # declared routes, as a route's `callbacks=` (one rule): anything else is a TypeError here,
    # not an AttributeError deep in the generator
    check_typed_kwarg("callbacks", webhooks, "get_openapi(webhooks=...)")
    doc = generate_openapi(app, title, version, description or "", servers, True, webhooks=webhooks)
    info: Dict[str, Any] = {"title": title}
    if summary:
        info["summary"] = summary
    info["version"] = version
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = contact
    if license_info:
        info["license"] = license_info
    doc["openapi"] = openapi_version
    doc["info"] = info
    if tags:
        doc["tags"] = list(tags)
    else:
        doc.pop("tags", None)
    return doc

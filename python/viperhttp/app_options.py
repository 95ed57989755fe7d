"""FastAPI's app-wide constructor keywords (docs/internals/framework.md, "FastAPI's app
keywords"): `dependencies=`, `default_response_class=`, `exception_handlers=`, `middleware=`,
`debug=`, `strict_content_type=` and the OpenAPI `openapi_tags` / `summary` / `terms_of_service` / `contact` /
`license_info`. Kept apart from app.py, which owns the per-request path."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from . import exceptions
from .deps import merge_deps
from .route_options import check_typed_kwarg, side_effect_deps
from .routing import RouteDef

__all__ = ["AppDefaults", "apply_app_options", "OPENAPI_INFO_KEYS", "DocsAttributes"]

#: `ViperHTTP(...)` keywords that go into the OpenAPI document's `info` as they are
OPENAPI_INFO_KEYS = {"summary": "summary", "terms_of_service": "termsOfService", "contact": "contact",
                     "license_info": "license"}


def streams_json_lines(default_class: Any, handler: Any) -> bool:
    """FastAPI's rule: an app's `default_response_class` does not apply to a path operation that
    `yield`s, which streams JSON Lines, unless the default is an `EventSourceResponse`
    (docs/internals/typed-api.md, "Streaming path operations")."""
    from viperhttp_responses import EventSourceResponse

    from .stream_routes import is_stream_handler

    return is_stream_handler(handler) and not (isinstance(default_class, type)
                                               and issubclass(default_class, EventSourceResponse))


class AppDefaults:
    """What every route of the app gets unless it says otherwise: the app's `dependencies=`
    (resolved first, as FastAPI's) and `default_response_class`."""

    #: each field with the value that gives a route nothing (the app did not set it)
    UNSET: Dict[str, Any] = {"deps": None, "response_class": None, "strict_content_type": True,
                             "unique_id_function": None}
    __slots__ = tuple(UNSET)

    def __init__(self, deps: Optional[Dict[str, Any]], response_class: Any, strict_content_type: bool = True,
                 unique_id_function: Any = None) -> None:
        self.deps = deps or None  # no dependencies (None or {}): unset
        self.response_class = response_class
        self.strict_content_type = strict_content_type
        self.unique_id_function = unique_id_function

    def gives_anything(self) -> bool:
        """Whether a field is set, so that routes are `apply`d (else the app keeps none)."""
        return any(getattr(self, name) is not unset for name, unset in self.UNSET.items())

    def apply(self, route: RouteDef) -> RouteDef:
        deps = route.deps
        if self.deps:
            deps = merge_deps(self.deps, route.deps, where=route.where)
        options = route.options
        if (self.response_class is not None and route.method != "WS" and "response_class" not in options
                and not streams_json_lines(self.response_class, route.handler)):
            options = dict(options, response_class=self.response_class)
        if not self.strict_content_type and "strict_content_type" not in options:
            options = dict(options, strict_content_type=False)
        if self.unique_id_function is not None and options.get("generate_unique_id_function") is None:
            options = dict(options, generate_unique_id_function=self.unique_id_function)
        if deps is route.deps and options is route.options:
            return route
        return RouteDef(route.method, route.path, route.handler, route.query, deps, route.docs, route.protocols,
                        options, route.group, route.document_path)


def apply_app_options(app: Any, dependencies: Any, default_response_class: Any, exception_handlers: Any,
                      middleware: Any, debug: Any, openapi: Dict[str, Any],
                      strict_content_type: bool = True, unique_id_function: Any = None) -> Optional[AppDefaults]:
    """Checks and applies the keywords; returns the route defaults, or None when there are none."""
    if not isinstance(debug, bool):
        raise TypeError("debug must be bool")
    check_typed_kwarg("strict_content_type", strict_content_type, "app")
    exceptions.DEBUG[0] = app._debug = debug
    if default_response_class is not None:
        check_typed_kwarg("response_class", default_response_class, "app")
    if exception_handlers is not None:
        if not isinstance(exception_handlers, dict):
            raise TypeError("exception_handlers must be a dict {exception class or status code: handler}")
        for key, handler in exception_handlers.items():
            app.add_exception_handler(key, handler)
    if middleware is not None:
        if not isinstance(middleware, (list, tuple)):
            raise TypeError("middleware must be a list of Middleware(cls, **options)")
        for entry in middleware:  # first listed outermost: Starlette's order and the app's
            cls, args, kwargs = (entry.cls, entry.args, entry.kwargs) if hasattr(entry, "cls") else (entry, (), {})
            app.add_middleware(cls, *args, **kwargs)
    info: Dict[str, Any] = {}
    for key, name in OPENAPI_INFO_KEYS.items():
        value = openapi.get(key)
        if value is not None:
            if not isinstance(value, (str, dict)):
                raise TypeError(f"{key} must be str or dict")
            info[name] = value
    tags = openapi.get("openapi_tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, dict) and "name" in t for t in tags)):
        raise TypeError("openapi_tags must be a list of {'name': ..., 'description': ...} dicts")
    app._openapi_extra = {"info": info, "tags": list(tags) if tags else None}
    check_typed_kwarg("generate_unique_id_function", unique_id_function, "app")
    defaults = AppDefaults(side_effect_deps(dependencies, "app"), default_response_class, strict_content_type,
                           unique_id_function)
    return defaults if defaults.gives_anything() else None


#: the docs settings FastAPI's app has as attributes (`app.openapi_url`, `app.title`, ...)
_DOCS_ATTRIBUTES: Tuple[str, ...] = ("title", "version", "description", "openapi_url", "docs_url", "redoc_url",
                                     "swagger_ui_oauth2_redirect_url", "swagger_ui_init_oauth",
                                     "swagger_ui_parameters")


def _docs_attribute(key: str) -> Any:
    def get(app: Any) -> Any:
        return app._docs[key]

    def set_(app: Any, value: Any) -> None:  # as `configure_docs(key=value)`, with its checks
        app.configure_docs(**{key: value})

    return property(get, set_, doc=f"FastAPI's `app.{key}`: the docs setting (docs/internals/api-docs.md)")


class DocsAttributes:
    """FastAPI's app attributes for the docs settings, read by its self-hosted docs recipe
    (`get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - Swagger UI", ...)`,
    docs/internals/api-docs.md, "Your own docs pages"). Setting one is `configure_docs`."""

    title: Any = _docs_attribute("title")
    version: Any = _docs_attribute("version")
    description: Any = _docs_attribute("description")
    openapi_url: Any = _docs_attribute("openapi_url")
    docs_url: Any = _docs_attribute("docs_url")
    redoc_url: Any = _docs_attribute("redoc_url")
    swagger_ui_oauth2_redirect_url: Any = _docs_attribute("swagger_ui_oauth2_redirect_url")
    swagger_ui_init_oauth: Any = _docs_attribute("swagger_ui_init_oauth")
    swagger_ui_parameters: Any = _docs_attribute("swagger_ui_parameters")

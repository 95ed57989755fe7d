"""The app object: `ViperHTTP` and the per-request hot path.

Owns docs/internals/framework.md (constructor, members, single-app rule), route registration into the native
trie (docs/internals/framework.md#routing), and `_handle`, the bridge's entry point for one HTTP request
(docs/internals/architecture.md). Native route ids are registration indices: `_routes_by_id[i]` is the
`RoutePlan` of native route `i`. `ViperHTTP`'s other members are its mixins: `app_dispatch.py`
(`match`, `dispatch`, `ws_dispatch`) and `app_registries.py` (mounts, middleware / exception-handler /
event registries, `lifespan=`); the active app and the current request are `current.py`'s,
re-exported here.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import _native
from . import deps as _deps
from . import exceptions as _exceptions
from .api_route import route_name
from .deps import DependencyOverrides
from .exceptions import HandlerEntry, handle_exception, unrouted
from .middleware import _run_chain
from .request import State
from .routing import (PATH_PLACEHOLDER, RouteDecorators, RouteDef, RoutePlan, Router, call_route, current_request_var,
                      expand_router, merge_query)
from .app_dispatch import AppDispatch
from .app_router import AppRouter
from .app_routes import RouteList
from .app_options import DocsAttributes, apply_app_options
from .app_registries import AppRegistries, _set_python_middleware
from .current import _active, active_app, clear_active_app, current_request, set_current_request
from .route_pipeline import handle_apart
from .threadpool import SLOW_INLINE_SECONDS, _clock, configure as _configure_threadpool, warn_if_slow

__all__ = ["ViperHTTP", "active_app", "current_request", "set_current_request", "clear_active_app"]

_route_add = _native.route_add
_route_match = _native.route_match
_cv_set = current_request_var.set
_cv_reset = current_request_var.reset

def _docs_fields(values: Dict[str, Any]) -> Dict[str, Any]:
    """Type checks shared by the constructor and `configure_docs` (docs/internals/framework.md)."""
    out: Dict[str, Any] = {}
    for key, value in values.items():
        if key in ("title", "version", "description"):
            if not isinstance(value, str):
                raise TypeError(f"{key} must be str")
        elif key in ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url"):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{key} must be str or None")
        elif key in ("docs", "include_websocket_docs", "cache_schema"):
            value = bool(value)
        elif key in ("swagger_ui_init_oauth", "swagger_ui_parameters"):
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{key} must be a dict or None")
        elif key == "servers":
            if value is not None:
                if not isinstance(value, (list, tuple)) or not all(
                        isinstance(s, str) or (isinstance(s, dict) and "url" in s) for s in value):
                    raise TypeError("servers must be a list of URL strings or dicts with url")
                value = list(value)
        else:
            raise TypeError("unknown keyword")
        out[key] = value
    return out


class ViperHTTP(RouteDecorators, AppDispatch, AppRegistries, DocsAttributes):
    """The application, FastAPI's `FastAPI()`: routes (`@app.get("/items/{item_id}")`, ...),
    dependencies, middleware, exception handlers, the API docs (`/docs`, `/redoc`,
    `/openapi.json`) and `app.run(port=8080)`, or serve it with `viperhttp run main:app`.

    Only one app serves per process. The user guide is docs/index.md and docs/guide/ of the
    project (deviations from FastAPI: docs/index.md "Coming from FastAPI"); the implementation
    notes are docs/internals/framework.md.
    """

    def __init__(self, title: Optional[str] = None, version: Optional[str] = None,
                 description: Optional[str] = None, docs: bool = True,
                 openapi_url: Optional[str] = "/openapi.json", docs_url: Optional[str] = "/docs",
                 include_websocket_docs: bool = True, cache_schema: bool = True,
                 servers: Any = None, redoc_url: Optional[str] = "/redoc", lifespan: Any = None,
                 sync_handlers: str = "inline", threadpool_size: Optional[int] = None, *,
                 dependencies: Any = None, default_response_class: Any = None, exception_handlers: Any = None,
                 middleware: Any = None, debug: bool = False, openapi_tags: Any = None, summary: Any = None,
                 terms_of_service: Any = None, contact: Any = None, license_info: Any = None,
                 swagger_ui_oauth2_redirect_url: Optional[str] = "/docs/oauth2-redirect",
                 swagger_ui_init_oauth: Optional[Dict[str, Any]] = None,
                 swagger_ui_parameters: Optional[Dict[str, Any]] = None,
                 strict_content_type: bool = True, root_path: str = "", root_path_in_servers: bool = True,
                 separate_input_output_schemas: bool = True, generate_unique_id_function: Any = None,
                 webhooks: Optional[Router] = None) -> None:
        if lifespan is not None and not callable(lifespan):
            raise TypeError("lifespan must be callable")
        if sync_handlers not in ("inline", "threadpool"):
            raise ValueError("sync_handlers must be 'inline' or 'threadpool'")
        if threadpool_size is not None:
            _configure_threadpool(threadpool_size)
        # docs/internals/typed-api.md "Blocking code": where `def` handlers run.
        self._sync_threadpool = sync_handlers == "threadpool"
        self._docs = _docs_fields({
            "title": "ViperHTTP API" if title is None else title,
            "version": "1.0.0" if version is None else version,
            "description": "" if description is None else description,
            "docs": docs,
            "openapi_url": openapi_url,
            "docs_url": docs_url,
            "include_websocket_docs": include_websocket_docs,
            "cache_schema": cache_schema,
            "servers": servers,
            "redoc_url": redoc_url,
            # FastAPI's Swagger UI keywords (docs/internals/api-docs.md#swagger-ui-settings)
            "swagger_ui_oauth2_redirect_url": swagger_ui_oauth2_redirect_url,
            "swagger_ui_init_oauth": swagger_ui_init_oauth,
            "swagger_ui_parameters": swagger_ui_parameters,
        })
        if not isinstance(root_path, str) or (root_path and not root_path.startswith("/")):
            raise TypeError("root_path must be a str starting with '/' (or '')")
        #: FastAPI's `root_path`: the prefix a proxy serves the app under, which the proxy strips
        #: (docs/guide/deployment.md, "Behind a proxy"): the OpenAPI servers, `request.base_url`
        self.root_path = root_path.rstrip("/")
        self._root_path_in_servers = bool(root_path_in_servers)
        #: FastAPI's OpenAPI option (docs/internals/api-docs.md): False lists one schema per model
        self._separate_io_schemas = bool(separate_input_output_schemas)
        if webhooks is not None and not isinstance(webhooks, Router):
            raise TypeError("webhooks must be an APIRouter")
        #: FastAPI's `app.webhooks`: routes documented under the document's `webhooks`, never
        #: served (docs/internals/api-docs.md, "Callbacks and webhooks")
        self.webhooks = webhooks if webhooks is not None else Router()
        # (decision, docs/internals/framework.md "More than one app") one app serves per process;
        # a new one may replace an app that is not serving (app factories, a test module per
        # app), and `run()` makes an earlier app the active one again
        _refuse_while_serving()
        # docs/internals/framework.md: a new app starts from an empty route table, no mounts and no CORS
        # config.
        _native.routes_reset()
        _native.native_config_reset()  # static mounts and CORS config (docs/internals/framework.md)
        self._routes_by_id: List[Optional[RoutePlan]] = []
        #: `app.routes`' route objects and what they were made from (app_routes.py)
        self._route_objects: Optional[Tuple[Any, List[Any]]] = None
        #: counts the OpenAPI fields set on `app.routes` objects: the served document's cache
        #: is stale when it changed (viperhttp_autodocs)
        self._routes_revision = 0
        #: FastAPI's cached document: `app.openapi()` fills it; set by hand, it is what is served
        self.openapi_schema: Optional[Dict[str, Any]] = None
        self._exception_handlers: Dict[Any, HandlerEntry] = {}  # class or int status → handler
        self._event_handlers: Dict[str, List[Callable[..., Any]]] = {"startup": [], "shutdown": []}
        self._middleware: List[Tuple[str, Any, Dict[str, Any], int]] = []
        self._chain: Optional[List[Callable[..., Any]]] = None  # built lazily by the chain
        self._middleware_on = False
        self._mounts: List[Dict[str, Any]] = []
        self._native_config: Dict[str, Dict[str, Any]] = {}
        self._state: Optional[State] = None
        self._lifespan = lifespan
        self._lifespan_cm: Any = None  # the entered context manager of the current run
        self._handlers_in_lifespan = False  # app_registries.py `_lifespan_enter`
        self._default_shutdown_ran = False
        #: what `lifespan` yielded in the current run: each request's `request.state` starts as a
        #: copy of it, as in Starlette (`Request.state`)
        self._lifespan_state: Dict[str, Any] = {}
        self.bound_port: Optional[int] = None  # set by the bridge once listening
        self._overrides = _deps.OVERRIDES = DependencyOverrides()  # the previous app's are not this one's
        self._debug = False
        _set_python_middleware(False)
        _active[0] = self
        # FastAPI's app-wide keywords (app_options.py)
        self._route_defaults = apply_app_options(
            self, dependencies, default_response_class, exception_handlers, middleware, debug,
            {"openapi_tags": openapi_tags, "summary": summary, "terms_of_service": terms_of_service,
             "contact": contact, "license_info": license_info}, strict_content_type, generate_unique_id_function)

    # --- the per-request hot path ----------------------------------------------------------

    def _handle(self, request: Any, _in_chain: bool = False) -> Any:
        """Runs one HTTP request: middleware → routing → params → deps → handler → errors.

        Returns the handler's raw result, a response dict, or an awaitable producing either;
        never raises for app errors. `_in_chain` is set by the innermost `call_next`.
        Outside a middleware chain, an `async def` route with nothing to run after the handler
        (`RoutePlan.bare_async`) returns the handler's own coroutine: its caller, the bridge, runs
        it with `current_request_var` set and passes what it raises to `_handle_error`
        (docs/internals/bridge.md, "Eager start").
        """
        if self._middleware_on and not _in_chain:
            return _run_chain(self, request)
        method, path = request.method, request.path
        carried = request._route
        if carried is not None and carried[1] is path and carried[0] is method:
            # Route once: the runtime's match, unless a middleware changed method or path.
            route_id, params = carried[2], carried[3]
        else:
            match = _route_match(method, path)
            if match is None:
                return unrouted(self._exception_handlers, request, None)
            route_id, params = match
            if route_id is None:
                return unrouted(self._exception_handlers, request, params)
        plan = self._routes_by_id[route_id]
        # The storage behind `Request.path_params` (a slot): the property setter costs ~55 ns more.
        request._path_params = params
        if plan.simple:
            # Sync handler, no query spec, deps or injections: no coroutine, no copies unless
            # there is a query string the handler can take.
            if request.query and plan.takes_query:
                params = merge_query(plan, dict(params), request.query_params)
            token = _cv_set(request)
            started = _clock()
            try:
                return plan.handler(**params)
            except Exception as exc:
                return handle_exception(self._exception_handlers, request, exc)
            finally:
                if _clock() - started > SLOW_INLINE_SECONDS:  # one warning per route
                    warn_if_slow(plan, started)
                _cv_reset(token)
        native = plan.native_bare
        if native is not None and not _in_chain and getattr(request, "_qp", 0) is None:
            # A typed bare coroutine (RoutePlan.native_bare): `call_route`'s result, fewer steps.
            # When it declines, `call_route` tries the same plan once more before pydantic: a
            # few hundred nanoseconds on a path that then costs pydantic's microseconds.
            kwargs: Dict[str, Any] = {}
            try:
                filled = native.fill(params if params is not None else request.path_params, request.query, kwargs)
                coro = plan.handler(**kwargs) if filled else None  # only makes the coroutine
            except Exception as exc:  # a TypeError from the call itself
                return handle_apart(self._exception_handlers, request, exc)
            if coro is not None:
                if plan.response is not None:
                    request._finish = plan.response.finish_bare
                return coro
        if plan.simple_async and not _in_chain:
            # The bare coroutine (see above): made here, its first line runs in the bridge.
            if request.query and plan.takes_query:
                params = merge_query(plan, dict(params), request.query_params)
            try:
                return plan.handler(**params)  # an `async def` function: only makes the coroutine
            except Exception as exc:  # a TypeError from the call itself
                return handle_apart(self._exception_handlers, request, exc)
        return call_route(plan, request, params, self._exception_handlers, not _in_chain)

    def _handle_error(self, request: Any, exc: Exception) -> Any:
        """What the app's exception handlers make of `exc`, raised by a bare handler coroutine
        (see `_handle`): a result, or an awaitable producing one."""
        return handle_exception(self._exception_handlers, request, exc)

    # --- routing ---------------------------------------------------------------------------

    def _require_active(self) -> None:
        if _active[0] is not self:
            raise ValueError("app not active")

    def _decorator(self, methods: List[str], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Callable[..., Any]:
        self._require_active()
        return super()._decorator(methods, args, kwargs)

    def _record(self, route: RouteDef) -> None:
        """Validates and plans the route, then adds it to the native trie
        (docs/internals/framework.md#routing)."""
        self._require_active()
        if self._route_defaults is not None:
            route = self._route_defaults.apply(route)
        plan = RoutePlan(route, self._sync_threadpool)
        route_id = _route_add(route.method, route.path)
        routes = self._routes_by_id
        while len(routes) < route_id:  # ids are registration indices; tolerate foreign adds
            routes.append(None)
        if route_id < len(routes):
            routes[route_id] = plan
        else:
            routes.append(plan)

    def _activate(self) -> None:
        """Makes this app the process's active app again (`run()` calls it): the native route
        table, static mounts and CORS / trusted-host / rate-limit settings are rebuilt from what
        this app recorded, in its registration order, so native route ids are its indices
        again (docs/internals/framework.md "More than one app")."""
        if _active[0] is self:
            return
        _refuse_while_serving()
        _native.routes_reset()
        _native.native_config_reset()
        routes: List[Optional[RoutePlan]] = []
        for plan in self._routes_by_id:
            if plan is not None:  # an id a foreign add had taken is not taken again
                route_id = _route_add(plan.method, plan.path)
                while len(routes) < route_id:
                    routes.append(None)
                routes.append(plan)
        self._routes_by_id = routes
        for entry in self._mounts:
            if entry["kind"] == "dir":
                _native.static_mount(entry["prefix"], entry["root"], entry["html"], entry.get("dotfiles", False))
            else:
                _native.static_mount_file(entry["prefix"], entry["root"])
        for kind, config in self._native_config.items():
            getattr(_native, "configure_" + kind)(**config)
        _set_python_middleware(self._middleware_on or 404 in self._exception_handlers
                               or 405 in self._exception_handlers)
        _deps.OVERRIDES = self._overrides
        _exceptions.DEBUG[0] = self._debug
        _active[0] = self

    @contextlib.contextmanager
    def _framework_routes(self) -> Iterator[None]:
        """Routes the framework adds itself (/docs, /openapi.json, OTA) do not get the app's
        `dependencies=` / `default_response_class` (FastAPI adds its docs routes the same way)."""
        saved, self._route_defaults = self._route_defaults, None
        try:
            yield
        finally:
            self._route_defaults = saved

    def include_router(self, router: Any, prefix: Optional[str] = None, tags: Any = None, deps: Any = None,
                       dependencies: Any = None, responses: Any = None, generate_unique_id_function: Any = None,
                       callbacks: Optional[List[RouteDef]] = None, include_in_schema: bool = True,
                       deprecated: Optional[bool] = None, default_response_class: Any = None) -> None:
        """Registers a router's routes with prefix/tags/deps/responses applied (docs/internals/framework.md)."""
        self._require_active()
        for route in expand_router(router, prefix, tags, deps, dependencies, responses,  # all validated first
                                   generate_unique_id_function, callbacks, include_in_schema, deprecated,
                                   default_response_class):
            self._record(route)

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
        """Starlette's reverse routing: the path of the route called `name` (its `name=`, else
        its handler's function name) with `path_params` put in its placeholders (percent-encoded;
        a `{p:path}` keeps its slashes), or of a file under a mount named `name` (`path=` the
        file's path). No such route, or a placeholder without a value or a
        value without a placeholder → `LookupError` (Starlette's `NoMatchFound` is one too)."""
        from urllib.parse import quote

        for plan in self._routes_by_id:
            if plan is None:
                continue
            if route_name(plan.meta.get("docs") or {}, plan.handler) != name:
                continue
            if {p for p, _ in PATH_PLACEHOLDER.findall(plan.path)} != set(path_params):
                continue
            return PATH_PLACEHOLDER.sub(
                lambda m: quote(str(path_params[m.group(1)]), safe="/" if m.group(2) == "path" else ""),
                plan.path)
        for entry in self._mounts:
            if entry.get("name") == name and set(path_params) == {"path"}:
                rest = quote(str(path_params["path"]).lstrip("/"), safe="/")
                return entry["prefix"].rstrip("/") + "/" + rest
        raise LookupError(f"no route named {name!r} with parameters {sorted(path_params)}")

    def openapi(self) -> Dict[str, Any]:
        """FastAPI's `app.openapi()`: the OpenAPI document, built once into `openapi_schema`;
        `/openapi.json` serves what an `app.openapi = custom_openapi` replacement returns
        (docs/internals/api-docs.md#customising-the-document)."""
        if self.openapi_schema is None:
            from viperhttp_autodocs import app_document

            self.openapi_schema = app_document(self)
        return self.openapi_schema

    @property
    def routes(self) -> RouteList:
        """The original's method, `app.routes()`: route metadata rows in registration order
        (docs/internals/framework.md#routing); used as a sequence, FastAPI's route objects
        (app_routes.py, docs/internals/framework.md "The route list")."""
        return RouteList(self)

    @property
    def router(self) -> AppRouter:
        """FastAPI's `app.router`: a view of the app's own routes (`app.router.routes`,
        `add_api_route`, `include_router`, `on_startup`, `lifespan_context`, ...); anything
        else is an `AttributeError` that says so (app_router.py, docs/internals/framework.md)."""
        return AppRouter(self)

    # --- state (docs/internals/framework.md) ----------------------------------------------------------------

    @property
    def dependency_overrides(self) -> Any:
        """FastAPI's `app.dependency_overrides`: `{dependency: replacement}`, used by every
        request from then on (docs/internals/framework.md, "Dependency overrides")."""
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, value: Any) -> None:  # `app.dependency_overrides = {}`
        self._overrides.clear()
        self._overrides.update(value or {})  # None: none, as FastAPI (its check is truthiness)

    @property
    def state(self) -> State:
        """Per-app state dict, created on first access and kept across `run()`."""
        if self._state is None:
            self._state = State()
        return self._state

    # --- docs config (docs/internals/framework.md) ----------------------------------------------------------

    def configure_docs(self, **kwargs: Any) -> None:
        """Updates only the given docs fields, with the constructor's type checks."""
        self._docs.update(_docs_fields(kwargs))

    def _docs_config(self) -> Dict[str, Any]:
        config = dict(self._docs)
        if config["servers"] is not None:
            config["servers"] = list(config["servers"])
        root = self.root_path
        if root and self._root_path_in_servers:
            # FastAPI's rule: the root path is the first server unless one already names it
            servers = config["servers"] or []
            if root not in {s if isinstance(s, str) else s.get("url") for s in servers}:
                config["servers"] = [{"url": root}, *servers]
        return config

    # --- serving (implemented by viperhttp_bridge) -----------------------------------------

    def run(self, **kwargs: Any) -> Any:
        """Serves until SIGINT/SIGTERM/`stop()` (docs/internals/bridge.md#start-and-stop):
        `viperhttp_bridge.run(self, ...)`."""
        import viperhttp_bridge

        return viperhttp_bridge.run(self, **kwargs)

    def shutdown(self) -> Any:
        """Coroutine running the shutdown handlers (docs/internals/lifespan.md)."""
        import viperhttp_bridge

        return viperhttp_bridge.shutdown(self)

    def stop(self) -> None:
        """Requests a graceful stop of `run()`; thread-safe (docs/internals/bridge.md#start-and-stop)."""
        import viperhttp_bridge

        viperhttp_bridge.stop_app(self)

    def __repr__(self) -> str:
        return f"<ViperHTTP {self._docs['title']!r} routes={len(self._routes_by_id)}>"


def framework_routes(app: Any) -> Any:
    """`with framework_routes(app):` around routes the framework adds itself (docs, OTA): they
    do not get the app's `dependencies=` / `default_response_class`; any other app object gets
    a no-op."""
    suspend = getattr(app, "_framework_routes", None)
    return suspend() if suspend is not None else contextlib.nullcontext()


_CONFLICT_HOOKS: List[Callable[[], None]] = []


def on_serving_conflict(hook: Callable[[], None]) -> None:
    """`hook()` is called when an app is made or activated while another serves, before that
    is refused: `viperhttp.testclient` stops a server that a request (not `with`) started."""
    if hook not in _CONFLICT_HOOKS:
        _CONFLICT_HOOKS.append(hook)


def _serving() -> bool:
    running = getattr(_native, "is_running", None)
    return bool(running()) if running is not None else False


def _refuse_while_serving() -> None:
    """Another app may not be made or activated while one serves, unless what serves gives way
    (`on_serving_conflict`): the original's `ValueError`."""
    if _serving():
        for hook in list(_CONFLICT_HOOKS):
            hook()
        if _serving():
            raise ValueError("only one ViperHTTP instance supported")

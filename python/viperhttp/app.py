"""The app object: `ViperHTTP`, the process-wide active app and the per-request hot path.

Owns docs/internals/framework.md (constructor, members, single-app rule), route registration into the native
trie (docs/internals/framework.md#routing), mounts (docs/internals/static-files.md),
middleware/exception-handler/event registries (docs/internals/framework.md, docs/internals/lifespan.md) and
`_handle`, the bridge's entry point for one HTTP request (docs/internals/architecture.md). Native route ids
are registration indices: `_routes_by_id[i]` is the `RoutePlan` of native route `i`.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import _native
from . import deps as _deps
from . import exceptions as _exceptions
from .deps import DependencyOverrides, resolve, teardown
from .exceptions import (HandlerEntry, handle_exception, handler_entry, http_exception_response,
                         method_not_allowed, unrouted, HTTPException)
from .middleware import _configure_native, _native_kind, _run_chain
from .request import Request, State
from .routing import (PATH_PLACEHOLDER, RouteDecorators, RouteDef, RoutePlan, call_route, current_request_var,
                      dep_call_marker, expand_router, fill_query, merge_query)
from .app_options import apply_app_options
from .route_pipeline import handle_apart
from .threadpool import SLOW_INLINE_SECONDS, _clock, configure as _configure_threadpool, warn_if_slow

__all__ = ["ViperHTTP", "active_app", "current_request", "set_current_request", "clear_active_app"]

_route_add = _native.route_add
_route_match = _native.route_match
_cv_set = current_request_var.set
_cv_reset = current_request_var.reset

_DEFAULT: Any = object()
_active: List[Optional["ViperHTTP"]] = [None]


def active_app() -> Optional["ViperHTTP"]:
    """The most recently constructed app, or None before any / after `reset()`
    (docs/internals/framework.md)."""
    return _active[0]


def clear_active_app() -> None:
    """Forgets the active app and its dependency overrides (part of `viperhttp.reset()`)."""
    _active[0] = None
    _deps.OVERRIDES = DependencyOverrides()


current_request = current_request_var.get


def set_current_request(request: Any) -> Any:
    """Sets the current request; returns the previous one (docs/internals/framework.md)."""
    previous = current_request_var.get()
    current_request_var.set(request)
    return previous


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


class ViperHTTP(RouteDecorators):
    """The application (docs/internals/framework.md). Only one is active per process."""

    def __init__(self, title: Optional[str] = None, version: Optional[str] = None,
                 description: Optional[str] = None, docs: bool = True, openapi_url: Any = _DEFAULT,
                 docs_url: Any = _DEFAULT, include_websocket_docs: bool = True, cache_schema: bool = True,
                 servers: Any = None, redoc_url: Any = _DEFAULT, lifespan: Any = None,
                 sync_handlers: str = "inline", threadpool_size: Optional[int] = None, *,
                 dependencies: Any = None, default_response_class: Any = None, exception_handlers: Any = None,
                 middleware: Any = None, debug: bool = False, openapi_tags: Any = None, summary: Any = None,
                 terms_of_service: Any = None, contact: Any = None, license_info: Any = None,
                 swagger_ui_oauth2_redirect_url: Optional[str] = "/docs/oauth2-redirect",
                 swagger_ui_init_oauth: Optional[Dict[str, Any]] = None,
                 swagger_ui_parameters: Optional[Dict[str, Any]] = None) -> None:
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
            "openapi_url": "/openapi.json" if openapi_url is _DEFAULT else openapi_url,
            "docs_url": "/docs" if docs_url is _DEFAULT else docs_url,
            "include_websocket_docs": include_websocket_docs,
            "cache_schema": cache_schema,
            "servers": servers,
            "redoc_url": "/redoc" if redoc_url is _DEFAULT else redoc_url,
            # FastAPI's Swagger UI keywords (docs/internals/api-docs.md#swagger-ui-settings)
            "swagger_ui_oauth2_redirect_url": swagger_ui_oauth2_redirect_url,
            "swagger_ui_init_oauth": swagger_ui_init_oauth,
            "swagger_ui_parameters": swagger_ui_parameters,
        })
        # (decision, docs/internals/framework.md "More than one app") one app serves per process;
        # a new one may replace an app that is not serving (app factories, a test module per
        # app), and `run()` makes an earlier app the active one again
        _refuse_while_serving()
        # docs/internals/framework.md: a new app starts from an empty route table, no mounts and no CORS
        # config.
        _native.routes_reset()
        _native.native_config_reset()  # static mounts and CORS config (docs/internals/framework.md)
        self._routes_by_id: List[Optional[RoutePlan]] = []
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
        self.bound_port: Optional[int] = None  # set by the bridge once listening
        self._overrides = _deps.OVERRIDES = DependencyOverrides()  # the previous app's are not this one's
        self._debug = False
        _set_python_middleware(False)
        _active[0] = self
        # FastAPI's app-wide keywords (app_options.py)
        self._route_defaults = apply_app_options(
            self, dependencies, default_response_class, exception_handlers, middleware, debug,
            {"openapi_tags": openapi_tags, "summary": summary, "terms_of_service": terms_of_service,
             "contact": contact, "license_info": license_info})

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
                       dependencies: Any = None, responses: Any = None) -> None:
        """Registers a router's routes with prefix/tags/deps/responses applied (docs/internals/framework.md)."""
        self._require_active()
        for route in expand_router(router, prefix, tags, deps, dependencies, responses):  # all validated first
            self._record(route)

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
        """Starlette's reverse routing: the path of the route called `name` (its `name=`, else
        its handler's function name) with `path_params` put in its placeholders (percent-encoded;
        a `{p:path}` keeps its slashes). No such route, or a placeholder without a value or a
        value without a placeholder → `LookupError` (Starlette's `NoMatchFound` is one too)."""
        from urllib.parse import quote

        for plan in self._routes_by_id:
            if plan is None:
                continue
            docs = plan.meta.get("docs") or {}
            if docs.get("name", getattr(plan.handler, "__name__", None)) != name:
                continue
            if {p for p, _ in PATH_PLACEHOLDER.findall(plan.path)} != set(path_params):
                continue
            return PATH_PLACEHOLDER.sub(
                lambda m: quote(str(path_params[m.group(1)]), safe="/" if m.group(2) == "path" else ""),
                plan.path)
        raise LookupError(f"no route named {name!r} with parameters {sorted(path_params)}")

    def openapi(self) -> Dict[str, Any]:
        """FastAPI's `app.openapi()`: the OpenAPI document, built once into `openapi_schema`;
        `/openapi.json` serves what an `app.openapi = custom_openapi` replacement returns
        (docs/internals/api-docs.md#customising-the-document)."""
        if self.openapi_schema is None:
            from viperhttp_autodocs import app_document

            self.openapi_schema = app_document(self)
        return self.openapi_schema

    def routes(self) -> List[Dict[str, Any]]:
        """Route metadata rows in registration order (docs/internals/framework.md#routing)."""
        return [dict(plan.meta) for plan in self._routes_by_id if plan is not None]

    def match(self, method: str, path: str) -> Optional[Tuple[Callable[..., Any], Dict[str, Any]]]:
        """`(handler, path_params)` or None (405 included); a query in `path` is ignored."""
        self._require_active()
        found = _route_match(method, path)
        if found is None or found[0] is None:
            return None
        plan = self._routes_by_id[found[0]]
        return None if plan is None else (plan.handler, found[1])

    def dispatch(self, method: str, path: str, request: Any = None, background: Any = None) -> Any:
        """Routing + handler for one request, the original's semantics (docs/internals/framework.md).

        None when no route matches, a 405/422 response dict, the dependency-call marker for a
        route with deps, an `HTTPException`'s response when a sync handler raises one, else the
        handler's raw return value (a coroutine, not awaited, for `async def`). Other
        exceptions propagate.
        """
        self._require_active()
        found = _route_match(method, path)
        if found is None:
            return None
        route_id, params = found
        if route_id is None:
            return method_not_allowed(params)
        plan = self._routes_by_id[route_id]
        if plan is None:
            return None
        if request is None:
            raw_path, _, query = path.partition("?")
            request = Request(method=method, path=raw_path, query=query)
        if background is not None:
            request._background = background
        request.path_params = params
        kwargs = plan.path_kwargs(params)
        invalid = fill_query(plan, request, params, kwargs)
        if invalid is not None:
            return invalid
        if plan.typed is not None:  # annotation-driven parameters (docs/internals/typed-api.md)
            try:
                plan.typed.fill(request, kwargs)
            except HTTPException as exc:
                return http_exception_response(exc)
        if plan.deps:
            return dep_call_marker(plan, request, kwargs)
        plan.inject(request, kwargs)
        token = _cv_set(request)
        try:
            return plan.handler(**kwargs)
        except HTTPException as exc:
            return http_exception_response(exc)
        finally:
            _cv_reset(token)

    def ws_dispatch(self, path: str, ws: Any, request: Any = None) -> Any:
        """WebSocket counterpart of `dispatch` (docs/internals/websocket.md).

        None when no WS route matches; a 422 response dict on a query-spec failure; else the
        handler's coroutine (deps resolved inside it, teardown after it ends). Exceptions from
        dependencies or the handler propagate to the bridge.
        """
        self._require_active()
        found = _route_match("WS", path)
        if found is None or found[0] is None:
            return None
        plan = self._routes_by_id[found[0]]
        if plan is None:
            return None
        params = found[1]
        if request is None:
            raw_path, _, query = path.partition("?")
            request = Request(method="WS", path=raw_path, query=query)
        request.path_params = params
        kwargs = plan.path_kwargs(params)
        invalid = fill_query(plan, request, params, kwargs)
        if invalid is not None:
            return invalid
        async def run() -> Any:
            previous = set_current_request(request)
            stack: List[Tuple[bool, Any, bool]] = []
            try:
                try:
                    if plan.typed is not None:
                        plan.typed.fill(request, kwargs)
                    for node in plan.deps:
                        value = await resolve(node, request, stack, {} if plan.uses_cache else None)
                        if node.key[0] != "@":  # `dependencies=[...]`: run for the effect only
                            kwargs[node.key] = value
                    plan.inject(request, kwargs)
                    result = plan.handler(ws, **kwargs)
                    if hasattr(result, "__await__"):
                        result = await result
                    elif not isinstance(result, dict):
                        # A sync handler may only refuse (a response dict); docs/internals/websocket.md.
                        raise TypeError("a WebSocket handler must be async or return a response")
                except BaseException as exc:
                    # thrown into the generators; what they end with is raised (framework.md)
                    failed = await teardown(stack, exc)
                    if failed is None or failed is exc or not isinstance(exc, Exception):
                        raise
                    raise failed from exc
                failed = await teardown(stack)
                if failed is not None:
                    raise failed
                return result
            finally:
                set_current_request(previous)

        return run()

    # --- mounts (docs/internals/static-files.md) ------------------------------------------------------------

    def mount(self, prefix: Any, root: Any, html: bool = False, dotfiles: bool = False) -> None:
        """Serves directory `root` at `prefix`, natively (docs/internals/static-files.md). Names
        starting with `.` (`.env`, `.git/`) are 404 unless `dotfiles=True`; `.well-known/`
        is always served."""
        if _active[0] is not self:
            raise RuntimeError("app not active")
        native = getattr(_native, "static_mount", None)
        if native is not None:
            native(prefix, root, bool(html), bool(dotfiles))  # validates; raises the errors of docs/internals/static-files.md
        elif not isinstance(prefix, str) or not isinstance(root, str):
            raise TypeError("mount paths must be str")
        elif not prefix.startswith("/") or not root:
            raise ValueError("invalid mount")
        prefix, root = prefix.rstrip("/") or "/", root.rstrip("/") or "/"
        for entry in self._mounts:
            if entry["kind"] == "dir" and entry["prefix"] == prefix:
                if entry["root"] != root:
                    raise ValueError("mount prefix already used")
                entry["html"] = bool(html)
                entry["dotfiles"] = bool(dotfiles)
                return
        self._mounts.append({"kind": "dir", "prefix": prefix, "root": root, "html": bool(html),
                             "dotfiles": bool(dotfiles)})

    def mount_file(self, path: Any, file: Any) -> None:
        """Serves one file at an exact URL path, natively."""
        if _active[0] is not self:
            raise RuntimeError("app not active")
        native = getattr(_native, "static_mount_file", None)
        if native is not None:
            native(path, file)
        elif not isinstance(path, str) or not isinstance(file, str):
            raise TypeError("mount_file args must be str")
        elif (not path.startswith("/") or not file
              or any("\\" in p or ".." in p.split("/") for p in (path, file))):
            raise ValueError("invalid mount_file")
        for entry in self._mounts:
            if entry["kind"] == "file" and entry["prefix"] == path:
                if entry["root"] != file:
                    raise ValueError("mount_file path already used")
                return
        self._mounts.append({"kind": "file", "prefix": path, "root": file, "html": False})

    # --- middleware (docs/internals/framework.md) -----------------------------------------------------------

    def middleware(self, kind: Any = "http", *, priority: int = 0) -> Callable[..., Any]:
        """`@app.middleware("http", priority=0)` on `async def mw(request, call_next)`."""
        if not isinstance(kind, str):
            raise TypeError("middleware kind must be str")
        if kind != "http":
            raise ValueError("only http middleware supported")

        def decorator(func: Any) -> Any:
            self._add_entry("func", func, {}, priority)
            return func

        return decorator

    def add_middleware(self, *args: Any, priority: int = 0, **options: Any) -> None:
        """A middleware class (or instance), or one of the native built-ins (docs/internals/framework.md,
        docs/internals/cors-hosts-ratelimit.md)."""
        if len(args) > 1:
            raise TypeError("only middleware class positional arg supported")
        if not args:
            raise TypeError("middleware class required")
        target = args[0]
        kind = _native_kind(target)
        if kind is not None:
            self._require_active()
            _configure_native(self, kind, options)
            return
        self._add_entry("class", target, options, priority)

    def add_middleware_func(self, func: Any, *args: Any, priority: int = 0) -> None:
        """A function middleware `mw(request, call_next)`."""
        if args:
            raise TypeError("too many positional args")
        self._add_entry("func", func, {}, priority)

    def _add_entry(self, kind: str, target: Any, options: Dict[str, Any], priority: Any) -> None:
        self._require_active()
        # An instance with `dispatch` (a BaseHTTPMiddleware subclass) is used as it is
        # (docs/internals/framework.md).
        if not callable(target) and not callable(getattr(target, "dispatch", None)):
            raise TypeError("middleware must be callable")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise TypeError("priority must be int")
        self._middleware.append((kind, target, dict(options), priority))
        self._chain = None  # class entries are (re)instantiated on the next request
        self._middleware_on = True
        _set_python_middleware(True)

    def _middleware_stack(self) -> List[Tuple[str, Any, Dict[str, Any], int]]:
        """The entries `(kind, target, options, priority)` in registration order."""
        self._require_active()
        return list(self._middleware)

    # --- errors, events, state (docs/internals/framework.md, docs/internals/lifespan.md) --------------------

    def add_exception_handler(self, exc_type: Any, handler: Any) -> Any:
        """Registers `handler` for `exc_type` (replacing a previous one); returns it. `exc_type`
        is an exception class, or (Starlette's status handlers) an int status code: the handler
        then gets every `HTTPException` with that status (docs/internals/framework.md)."""
        if exc_type is None:
            raise TypeError("exc_type is required")
        if type(exc_type) is int:
            if not 100 <= exc_type <= 999:
                raise ValueError("status code must be 100..999")
        elif not isinstance(exc_type, type):
            raise TypeError("exc_type must be an exception class or a status code")
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._exception_handlers[exc_type] = handler_entry(handler)
        if exc_type == 404 or exc_type == 405:
            # The app answers requests no route takes (`unrouted`), not the runtime's plain text.
            _set_python_middleware(True)
        return handler

    def exception_handler(self, exc_type: Any) -> Callable[..., Any]:
        """Decorator form of `add_exception_handler`."""
        if exc_type is None:
            raise TypeError("exc_type is required")

        def decorator(handler: Any) -> Any:
            return self.add_exception_handler(exc_type, handler)

        return decorator

    def add_event_handler(self, event: Any, handler: Any) -> Any:
        """Registers a `startup` / `shutdown` handler (run by the bridge); returns it."""
        name = event.lower() if isinstance(event, str) else event
        if name not in ("startup", "shutdown"):
            raise ValueError("event must be 'startup' or 'shutdown'")
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._event_handlers[name].append(handler)
        return handler

    def on_event(self, event: Any) -> Callable[..., Any]:
        """Decorator form of `add_event_handler`; the event name is checked right away."""
        if (event.lower() if isinstance(event, str) else event) not in ("startup", "shutdown"):
            raise ValueError("event must be 'startup' or 'shutdown'")
        return lambda handler: self.add_event_handler(event, handler)

    def _lifespan_hooks(self, event: Any) -> List[Callable[..., Any]]:
        """What the bridge runs for `event`, in order; unknown → `[]`. With `lifespan=`, its
        context manager is entered before the startup handlers and exited after the shutdown
        handlers (docs/internals/lifespan.md)."""
        name = event.lower() if isinstance(event, str) else event
        hooks = list(self._event_handlers.get(name, ()))
        if self._lifespan is not None:
            if name == "startup":
                return [self._lifespan_startup]
            if name == "shutdown":
                hooks.append(self._lifespan_exit)
        return hooks

    async def _lifespan_startup(self) -> None:
        """Enters `lifespan(app)`, then runs the startup handlers; if one of them fails the
        context manager is exited with that exception before it propagates."""
        await self._lifespan_enter()
        try:
            for hook in self._event_handlers["startup"]:
                result = hook()
                if hasattr(result, "__await__"):
                    await result
        except BaseException as exc:
            cm, self._lifespan_cm = self._lifespan_cm, None
            if hasattr(cm, "__aexit__"):
                await cm.__aexit__(type(exc), exc, exc.__traceback__)
            else:
                cm.__exit__(type(exc), exc, exc.__traceback__)
            raise

    async def _lifespan_enter(self) -> None:
        """Enters `lifespan(app)` (async or sync context manager); a mapping it yields is
        merged into `app.state`."""
        self._lifespan_cm = None
        cm = self._lifespan(self)
        if hasattr(cm, "__aenter__"):
            value = await cm.__aenter__()
        elif hasattr(cm, "__enter__"):
            value = cm.__enter__()
        else:
            raise TypeError("lifespan(app) must return a context manager")
        self._lifespan_cm = cm
        if value is not None:
            self.state.update(value)

    async def _lifespan_exit(self) -> None:
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is None:
            return
        if hasattr(cm, "__aexit__"):
            await cm.__aexit__(None, None, None)
        else:
            cm.__exit__(None, None, None)

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


def _set_python_middleware(flag: bool) -> None:
    # docs/internals/framework.md#routing: while set, unmatched requests reach Python so the chain sees them.
    setter = getattr(_native, "set_python_middleware", None)
    if setter is not None:
        setter(flag)

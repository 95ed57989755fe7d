"""Routes: decorator arguments, `Router` and per-route plans.

Owns docs/internals/framework.md#routing (decorators and metadata), docs/internals/framework.md (how handler
kwargs are built) and docs/internals/framework.md (routers). Matching itself is native
(`_native.route_match`). Every registered route gets a `RoutePlan`, computed once: which kwargs the handler
accepts, whether it wants the request or `background_tasks`, its compiled query spec and dependency tree, and
whether it is async. `ViperHTTP._handle` runs the common case (sync handler, nothing else) inline; everything
else goes through `call_route` (route_pipeline.py, re-exported here with the rest of its public names).
"""
from __future__ import annotations

import inspect
import logging
import re
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

from .api_route import APIRoute, generate_unique_id
from .background import BackgroundTasks, for_request
from .callables import is_async_callable
from .deps import DepNode, SecurityScopes, compile_deps, inject_names, merge_deps, relax_content_type
from .exceptions import HandlerEntry
from .params import compile_query_spec
from .request import Request
from .responses import Response, sub_response_for
from .route_options import TYPED_KWARGS as _TYPED_KWARGS, route_doc
from .route_options import check_typed_kwarg as _check_typed_kwarg, side_effect_deps
# The request-time half, imported (not wrapped) so `viperhttp.routing.call_route` and the rest
# are the very functions app.py calls per request. `X as X`: an explicit re-export for the names
# app.py and app_dispatch.py import from here that `__all__` does not list.
from .route_pipeline import (call_route, current_request_var, dep_call_marker as dep_call_marker, fill_query,
                             merge_query, run_eagerly, run_pipeline, set_dep_resolver)
from .signature import typed_plan
from .typed_response import ResponsePlan, compile_response

if TYPE_CHECKING:
    from .typed import TypedPlan

__all__ = ["Router", "APIRouter", "RouteDef", "APIRoute", "generate_unique_id", "RoutePlan", "RouteDecorators", "current_request_var", "call_route",
           "resolve_dep_call", "join_path", "fill_query", "merge_query", "set_dep_resolver"]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")

# (keyword, type, error) for the docs-metadata decorator keywords of docs/internals/framework.md#routing.
_DOC_KWARGS: Dict[str, Tuple[type, str]] = {
    "summary": (str, "summary must be str"),
    "description": (str, "description must be str"),
    "responses": (dict, "responses must be dict"),
    "operation_id": (str, "operation_id must be str"),
    "name": (str, "name must be str"),
    "request_body": (dict, "request_body must be dict"),
    "deprecated": (bool, "deprecated must be bool"),
    "include_in_schema": (bool, "include_in_schema must be bool"),
}
log = logging.getLogger("viperhttp.bridge")


def check_doc_kwarg(key: str, value: Any) -> Any:
    """The type check of a docs-metadata keyword (`_DOC_KWARGS`), at the decorator and when a
    registered route's field is set (app_routes.py); None passes (it removes the field)."""
    kind, error = _DOC_KWARGS[key]
    if value is not None and not isinstance(value, kind):
        raise TypeError(error)
    return value


#: a route path's `{name}` / `{name:kind}` placeholders (name, kind); the one reader of them
#: on the Python side (registration, reverse routing, OpenAPI)
PATH_PLACEHOLDER = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")
def check_tags(tags: Any) -> List[str]:
    """`tags` is a str or a list/tuple of str; stored as a list. An `Enum` member stands for
    its value, as in FastAPI (`tags=[Tags.items]` with `class Tags(str, Enum)`)."""
    if tags is None:
        return []
    if isinstance(tags, (str, Enum)):
        tags = [tags]
    if isinstance(tags, (list, tuple)):
        names = [t.value if isinstance(t, Enum) else t for t in tags]
        if all(isinstance(t, str) for t in names):
            return names
    raise TypeError("tags must be str or list of str (or str-valued Enum members)")


def merge_tags(*groups: Iterable[str]) -> List[str]:
    """Concatenates tag lists, dropping repeats (first occurrence kept; docs/internals/framework.md
    decision)."""
    out: List[str] = []
    for group in groups:
        for tag in group:
            if tag not in out:
                out.append(tag)
    return out


def document_path(prefix: str, path: str) -> str:
    """The path FastAPI names the route by, `prefix + path`: `APIRouter(prefix="/notes")` with
    `@router.get("/")` is `/notes/` in the OpenAPI document (its served path stays
    `join_path`'s `/notes`, which answers both spellings; docs/internals/api-docs.md)."""
    if prefix and path == "/":
        return prefix.rstrip("/") + "/"
    return join_path(prefix, path)


def join_path(prefix: str, path: str) -> str:
    """`prefix + path` with exactly one `/` at the joint; `""`/`"/"` give the prefix
    (docs/internals/framework.md)."""
    if not prefix:
        return path
    if path in ("", "/"):
        return prefix
    return prefix.rstrip("/") + "/" + path.lstrip("/")


class RouteDef(APIRoute):
    """A route as declared: validated decorator arguments, not yet registered. FastAPI's
    `APIRoute` names (`name`, `endpoint`, `path_format`, `tags`, ...) are read from it
    (api_route.py)."""

    __slots__ = ("method", "path", "handler", "query", "deps", "docs", "protocols", "options", "group",
                 "document_path")

    def __init__(self, method: str, path: str, handler: Callable[..., Any], query: Optional[dict],
                 deps: Optional[dict], docs: Dict[str, Any], protocols: Optional[List[str]],
                 options: Optional[Dict[str, Any]] = None, group: Any = None,
                 document_path: Optional[str] = None) -> None:
        self.method = method
        self.path = path
        #: the path the OpenAPI document lists (`document_path`): differs from `path` only for a
        #: `"/"` route under a router prefix
        self.document_path = path if document_path is None else document_path
        self.handler = handler
        self.query = query
        self.deps = deps
        self.docs = docs
        self.protocols = protocols
        #: the typed-API route options (status_code, response_model, ..., docs/internals/typed-api.md)
        self.options = options or {}
        #: the same token for the routes of one decorator call with several methods: FastAPI's
        #: one `APIRoute` with a `methods` set in `app.routes` (app_routes.py)
        self.group = group

    @property
    def where(self) -> str:
        """Route context for registration error messages."""
        return f"route {self.method} {self.path}"

    def expanded(self, prefix: str, tags: List[str], deps: Optional[dict],
                 responses: Optional[dict] = None, strict_content_type: Optional[bool] = None,
                 unique_id_function: Any = None, callbacks: Optional[List["RouteDef"]] = None,
                 hidden: bool = False, deprecated: bool = False, response_class: Any = None) -> "RouteDef":
        """This route as seen through a router prefix / tags / deps / OpenAPI `responses`
        (docs/internals/framework.md); the route's own responses win over the router's, its own
        `generate_unique_id_function` too; the router's `callbacks` come first (FastAPI's order).
        `hidden` / `deprecated`: a router's or `include_router`'s `include_in_schema=False` /
        `deprecated=True`, which win over the route's own (FastAPI's `and` / `or`);
        `response_class`: a router's / `include_router`'s `default_response_class`, for a route
        that names none (as the app's, `app_options.AppDefaults`)."""
        path = join_path(prefix, self.path)
        docs = dict(self.docs)
        if hidden:
            docs["include_in_schema"] = False
        if deprecated:
            docs["deprecated"] = True
        merged = merge_tags(tags, docs.get("tags", ()))
        if merged:
            docs["tags"] = merged
        if responses:
            docs["responses"] = {**responses, **(docs.get("responses") or {})}
        where = f"route {self.method} {path}"
        options = self.options
        if strict_content_type is not None and "strict_content_type" not in options:
            options = dict(options, strict_content_type=strict_content_type)
        if unique_id_function is not None and options.get("generate_unique_id_function") is None:
            options = dict(options, generate_unique_id_function=unique_id_function)
        if callbacks:
            options = dict(options, callbacks=[*callbacks, *(options.get("callbacks") or ())])
        if response_class is not None and self.method != "WS" and "response_class" not in options:
            from .app_options import streams_json_lines  # late: app_options imports this module

            if not streams_json_lines(response_class, self.handler):
                options = dict(options, response_class=response_class)
        return RouteDef(self.method, path, self.handler, self.query, merge_deps(deps, self.deps, where=where),
                        docs, self.protocols, options, self.group, document_path(prefix, self.document_path))


def parse_route_args(method: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Validates a route decorator call (docs/internals/framework.md#routing; `protocols` only for WebSocket
    routes)."""
    if len(args) > 1:
        raise TypeError("too many positional args")
    if args:
        if "path" in kwargs:
            raise TypeError("too many positional args")
        path = args[0]
    elif "path" in kwargs:
        path = kwargs["path"]
    else:
        raise TypeError("path required")
    if not isinstance(path, str):
        raise TypeError("path must be str")
    docs: Dict[str, Any] = {}
    options: Dict[str, Any] = {}
    out: Dict[str, Any] = {"path": path, "query": None, "deps": None, "docs": docs, "protocols": None,
                           "options": options}
    where = f"route {method} {path}"
    for key, value in kwargs.items():
        if key == "path":
            continue
        if key in _TYPED_KWARGS:
            _check_typed_kwarg(key, value, where)
            options[key] = value
            continue
        if key == "query":
            if value is not None and not isinstance(value, dict):
                raise TypeError("query spec must be dict")
            out["query"] = value
        elif key == "deps":
            if value is not None and not isinstance(value, dict):
                raise TypeError("deps spec must be dict")
            out["deps"] = value
        elif key == "tags":
            if value is not None:
                docs["tags"] = check_tags(value)
        elif key == "protocols" and method == "WS":
            if value is not None and not (isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value)):
                raise TypeError("protocols must be list/tuple")
            out["protocols"] = list(value) if value is not None else None
        elif key in _DOC_KWARGS:
            if value is None:
                continue
            check_doc_kwarg(key, value)
            if key == "responses":
                _check_response_models(value, where)
            docs[key] = value
        else:
            raise TypeError(f"unknown keyword {key!r} ({where})")
    extra = side_effect_deps(options.get("dependencies"), where)
    if extra:
        out["deps"] = merge_deps(out["deps"], extra, where=where)
    return out


def _check_response_models(responses: Dict[Any, Any], where: str) -> None:
    """`responses={404: {"model": M}}`: M must be a class or a typing form (`list[M]`), checked
    here rather than when `/openapi.json` is first built (a 500 with a traceback then)."""
    import typing

    for status, entry in responses.items():
        model = entry.get("model") if isinstance(entry, dict) else None
        if model is not None and not isinstance(model, type) and typing.get_origin(model) is None:
            raise TypeError(f"responses[{status!r}]['model'] must be a class or a type such as "
                            f"list[Model], not {model!r} ({where})")


def _parse_methods(methods: Any) -> List[str]:
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple, set, frozenset)) or not methods:
        raise ValueError("methods must be a non-empty list of HTTP methods")
    out = []
    for m in methods:
        upper = m.upper() if isinstance(m, str) else m
        if upper not in HTTP_METHODS:
            raise ValueError(f"unsupported method {m!r}: use one of {' '.join(HTTP_METHODS)}")
        if upper not in out:
            out.append(upper)
    return out


class RouteDecorators:
    """The decorator surface shared by `ViperHTTP` and `Router` (docs/internals/framework.md#routing)."""

    def _record(self, route: RouteDef) -> None:
        raise NotImplementedError

    def _decorator(self, methods: List[str], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Callable[..., Any]:
        spec = parse_route_args(methods[0], args, kwargs)

        def decorator(*handler: Any) -> Any:
            if len(handler) != 1 or not callable(handler[0]):
                raise TypeError("decorator expects handler")
            group = object() if len(methods) > 1 else None
            for method in methods:
                self._record(RouteDef(method, spec["path"], handler[0], spec["query"], spec["deps"],
                                      dict(spec["docs"]), spec["protocols"], spec["options"], group))
            return handler[0]

        return decorator

    def get(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["GET"], args, kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["POST"], args, kwargs)

    def put(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["PUT"], args, kwargs)

    def patch(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["PATCH"], args, kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["DELETE"], args, kwargs)

    def options(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["OPTIONS"], args, kwargs)

    def head(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._decorator(["HEAD"], args, kwargs)

    def websocket(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """WebSocket route (docs/internals/websocket.md): native method `"WS"`, `handler(ws, **params)`.
        FastAPI's `websocket(path, name=None, *, dependencies=None)`: the name may come second."""
        if len(args) == 2 and "name" not in kwargs:
            kwargs = dict(kwargs, name=args[1])
            args = args[:1]
        return self._decorator(["WS"], args, kwargs)

    def route(self, *args: Any, methods: Any = ("GET",), **kwargs: Any) -> Callable[..., Any]:
        """(decision, docs/internals/framework.md#routing) one handler registered once per listed method."""
        return self._decorator(_parse_methods(methods), args, kwargs)

    api_route = route

    def add_api_route(self, path: str, endpoint: Callable[..., Any], *, methods: Any = None,
                      **kwargs: Any) -> None:
        """FastAPI's `add_api_route(path, endpoint, methods=[...], ...)`: `route()` without the
        decorator (GET when no methods are given)."""
        self.route(path, methods=methods or ("GET",), **kwargs)(endpoint)

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: Optional[str] = None,
                                **kwargs: Any) -> None:
        """FastAPI's `add_api_websocket_route(path, endpoint, name=None, *, dependencies=None)`:
        `websocket()` without the decorator."""
        if name is not None:
            kwargs["name"] = name
        self.websocket(path, **kwargs)(endpoint)


for _method in HTTP_METHODS:
    getattr(RouteDecorators, _method.lower()).__doc__ = route_doc(_method, [*_DOC_KWARGS, "tags", "query", "deps"])


class Router(RouteDecorators):
    """`Router(prefix="", tags=None, deps=None)`: routes recorded now, registered on include
    (docs/internals/framework.md). Also spelled `APIRouter`, with FastAPI's `dependencies=[...]`
    and `responses={...}` (OpenAPI entries for all its routes)."""

    def __init__(self, *args: Any, prefix: Any = None, tags: Any = None, deps: Any = None,
                 dependencies: Any = None, responses: Any = None,
                 strict_content_type: Optional[bool] = None, generate_unique_id_function: Any = None,
                 callbacks: Optional[List[RouteDef]] = None, include_in_schema: bool = True,
                 deprecated: Optional[bool] = None, default_response_class: Any = None) -> None:
        if len(args) > 1 or (args and prefix is not None):
            raise TypeError("Router([prefix])")
        if args:
            prefix = args[0]
        elif prefix is None:
            prefix = ""
        if not isinstance(prefix, str):
            raise TypeError("prefix must be str")
        extra = side_effect_deps(dependencies, f"router {prefix or '/'}")
        if extra:
            deps = merge_deps(deps, extra, where=f"router {prefix or '/'}")
        if deps is not None:
            compile_deps(deps, f"router {prefix or '/'}")
        self.prefix = prefix
        self.tags = check_tags(tags)
        self.deps: Optional[dict] = deps
        self.responses = check_responses(responses)
        if strict_content_type is not None:
            _check_typed_kwarg("strict_content_type", strict_content_type, f"router {prefix or '/'}")
        #: FastAPI's router default for its routes that do not say (docs/internals/typed-api.md, "Bodies")
        self.strict_content_type = strict_content_type
        #: FastAPI's router defaults for the OpenAPI document (docs/internals/api-docs.md)
        _check_typed_kwarg("generate_unique_id_function", generate_unique_id_function, f"router {prefix or '/'}")
        _check_typed_kwarg("callbacks", callbacks, f"router {prefix or '/'}")
        self.generate_unique_id_function = generate_unique_id_function
        self.callbacks: List[RouteDef] = list(callbacks or ())
        #: FastAPI's router-wide `include_in_schema=False` / `deprecated=True` for its routes
        self.include_in_schema, self.deprecated = check_schema_flags(include_in_schema, deprecated,
                                                                     f"router {prefix or '/'}")
        #: FastAPI's router `default_response_class`, for its routes that name none
        _check_typed_kwarg("response_class", default_response_class, f"router {prefix or '/'}")
        self.default_response_class = default_response_class
        self.routes: List[RouteDef] = []

    def _record(self, route: RouteDef) -> None:
        # Same checks as the app at decoration time, so mistakes point at the decorator.
        _compile(route)
        self.routes.append(route)

    def include_router(self, router: "Router", prefix: str = "", tags: Any = None, deps: Any = None,
                       dependencies: Any = None, responses: Any = None, generate_unique_id_function: Any = None,
                       callbacks: Optional[List[RouteDef]] = None, include_in_schema: bool = True,
                       deprecated: Optional[bool] = None, default_response_class: Any = None) -> None:
        """(decision, docs/internals/framework.md) nesting: `router`'s routes are flattened into this one
        now."""
        for route in expand_router(router, prefix, tags, deps, dependencies, responses,
                                   generate_unique_id_function, callbacks, include_in_schema, deprecated,
                                   default_response_class or self.default_response_class):
            self.routes.append(route)

    def __repr__(self) -> str:
        return f"<Router prefix={self.prefix!r} routes={len(self.routes)}>"


APIRouter = Router  # FastAPI's name, also at its `fastapi.routing.APIRouter`

def check_responses(responses: Any) -> Optional[dict]:
    if responses is not None and not isinstance(responses, dict):
        raise TypeError("responses must be dict")
    return responses or None


def check_schema_flags(include_in_schema: Any, deprecated: Any, where: str) -> Tuple[bool, bool]:
    """A router's / `include_router`'s `include_in_schema` and `deprecated`, checked as a route's."""
    if not isinstance(include_in_schema, bool):
        raise TypeError(f"include_in_schema must be bool ({where})")
    if deprecated is not None and not isinstance(deprecated, bool):
        raise TypeError(f"deprecated must be bool ({where})")
    return include_in_schema, bool(deprecated)


def expand_router(router: Any, prefix: Any, tags: Any, deps: Any, dependencies: Any = None,
                  responses: Any = None, unique_id_function: Any = None,
                  callbacks: Optional[List[RouteDef]] = None, include_in_schema: bool = True,
                  deprecated: Optional[bool] = None, default_response_class: Any = None) -> List[RouteDef]:
    """A router's routes with include-time prefix/tags/deps applied; validated, not registered."""
    if not isinstance(router, Router):
        raise TypeError("router required")
    if prefix is None:
        prefix = ""
    if not isinstance(prefix, str):
        raise TypeError("prefix must be str")
    extra = side_effect_deps(dependencies, f"include_router {prefix or '/'}")
    if extra:
        deps = merge_deps(deps, extra, where=f"include_router {prefix or '/'}")
    if deps is not None:
        compile_deps(deps, f"include_router {prefix or '/'}")
    outer_tags = merge_tags(check_tags(tags), router.tags)
    outer_deps = merge_deps(deps, router.deps, where=f"router {join_path(prefix, router.prefix) or '/'}")
    outer_responses = {**(check_responses(responses) or {}), **(router.responses or {})}
    where = f"include_router {prefix or '/'}"
    _check_typed_kwarg("generate_unique_id_function", unique_id_function, where)
    _check_typed_kwarg("callbacks", callbacks, where)
    # FastAPI's rule: the router's own function before the one given to include_router
    unique = router.generate_unique_id_function or unique_id_function
    outer_callbacks = [*(callbacks or ()), *router.callbacks]
    shown, deprecate = check_schema_flags(include_in_schema, deprecated, where)
    _check_typed_kwarg("response_class", default_response_class, where)
    # FastAPI's order: the route's own class, then its router's, then the include's
    response_class = router.default_response_class or default_response_class
    routes = [r.expanded(join_path(prefix, router.prefix), outer_tags, outer_deps, outer_responses,
                         router.strict_content_type, unique, outer_callbacks,
                         hidden=not (shown and router.include_in_schema), deprecated=deprecate or router.deprecated,
                         response_class=response_class)
              for r in router.routes]
    for route in routes:
        _compile(route)
    return routes




# --- plans ---------------------------------------------------------------------------------

class _Compiled:
    __slots__ = ("query", "deps", "deps_spec", "typed", "response")


def _compile(route: RouteDef, unique_id: str = "") -> _Compiled:
    """Validates everything about a route once: query spec, deps, the typed plan
    (docs/internals/framework.md#routing); `unique_id`: the registered route's (RoutePlan)."""
    where = route.where
    out = _Compiled()
    out.query = query = compile_query_spec(route.query, where) if route.query is not None else ()
    path_names = {name for name, _ in PATH_PLACEHOLDER.findall(route.path)}
    skip = {e.name for e in query} | set(route.deps or ())
    # FastAPI names the model of several body parameters `Body_<unique id>`: after a
    # `generate_unique_id_function` where one applies (docs/internals/api-docs.md); the id is
    # the one RoutePlan computed (the function is called once per route)
    body_model = None
    if unique_id and route.options.get("generate_unique_id_function") is not None:
        body_model = f"Body_{unique_id}"
    out.typed = typed_plan(route.handler, path_names, skip, where, skip_first=route.method == "WS",
                           body_model=body_model)
    out.deps_spec = route.deps
    if out.typed is not None and out.typed.deps_spec:
        out.deps_spec = merge_deps(route.deps, out.typed.deps_spec, where=where)
    out.deps = deps = compile_deps(out.deps_spec, where) if out.deps_spec is not None else ()
    out.response = None if route.method == "WS" else compile_response(route.handler, route.options, where,
                                                                          out.typed is not None)
    taken = path_names | {e.name for e in query}
    for node in deps:
        if node.key in taken:
            # The original makes this a 500 per request; path and declared query names are
            # known now, so the host reports it at registration (decision).
            raise ValueError(f"dependency name conflicts with params ({where}, dependency {node.key!r})")
    return out


def _lax_content_type(typed: Optional[TypedPlan], nodes: Any) -> None:
    """FastAPI's `strict_content_type=False` for one route: its body and its dependencies'
    bodies (FastAPI reads one body per route) are JSON without a Content-Type too."""
    if typed is not None:
        typed.strict_content_type = False
    relax_content_type(nodes)


class RoutePlan:
    """Everything `_handle` needs about one registered route, computed once."""

    __slots__ = ("handler", "method", "path", "meta", "is_async", "simple", "accepts", "var_kw",
                 "takes_query", "request_args", "bg_args", "response_args", "scopes_args", "sub_response", "query", "deps",
                 "deps_spec", "uses_cache",
                 "typed", "response", "blocking", "pool_sources", "options", "slow_warned", "last_slow", "injects", "path_raw",
                 "bare_async", "simple_async", "native_bare", "unique_id", "group", "document_path")

    def __init__(self, route: RouteDef, sync_threadpool: bool = False) -> None:
        #: FastAPI's `route.unique_id`, computed at registration as FastAPI does (a failing
        #: `generate_unique_id_function` fails the decorator): a custom one is the operationId
        self.unique_id = route.unique_id if route.method != "WS" else ""
        compiled = _compile(route, self.unique_id)
        self.query, self.deps = compiled.query, compiled.deps
        self.typed: Optional[TypedPlan] = compiled.typed
        self.response: Optional[ResponsePlan] = compiled.response
        handler = route.handler
        self.handler = handler
        self.method = route.method
        self.path = route.path
        self.document_path = route.document_path  # the OpenAPI document's key (viperhttp_autodocs)
        self.deps_spec = compiled.deps_spec
        self.options = route.options
        self.group = route.group  # app_routes.py: one `APIRoute` per decorator call
        self.slow_warned = False
        self.last_slow = float("-inf")  # when an inline call last was slow (threadpool.warn_if_slow)
        self.meta = _meta_row(route)
        accepts, self.var_kw = _accepted_kwargs(handler, skip_first=route.method == "WS")
        self.accepts = accepts | {e.name for e in self.query}
        path_names = {name for name, _ in PATH_PLACEHOLDER.findall(route.path)}
        self.takes_query = self.var_kw or bool(self.accepts - path_names)
        # Every parameter that receives the request / the task object (docs/internals/framework.md; usually 0
        # or 1).
        self.request_args = inject_names(handler, "request", Request)
        self.bg_args = inject_names(handler, "background_tasks", BackgroundTasks)
        # FastAPI's `response: Response` (by annotation): its status and headers are merged into
        # the response by `run_pipeline`, the one path such a route takes.
        self.response_args = inject_names(handler, None, Response)
        self.sub_response = bool(self.response_args) or any(_wants_sub_response(n) for n in self.deps)
        # FastAPI's `SecurityScopes` in a handler: the route itself requires none
        self.scopes_args = inject_names(handler, None, SecurityScopes)
        self.injects = bool(self.request_args or self.bg_args or self.response_args or self.scopes_args)
        #: path parameters passed as raw strings: all of them for an original-style route; for a
        #: typed one only those the handler takes unannotated (the typed plan fills the rest)
        self.path_raw: Optional[Tuple[str, ...]] = None
        if self.typed is not None and not self.var_kw:
            typed_names = set(self.typed.names)
            self.path_raw = tuple(n for n in path_names if n in accepts and n not in typed_names)
            # Raw query strings are merged only for what the typed plan does not fill.
            rest = (self.accepts - path_names - typed_names - set(self.typed.deps_spec)
                    - set(self.request_args) - set(self.bg_args) - set(self.response_args)
                    - set(self.scopes_args))
            self.takes_query = bool(rest)
        coroutine = is_async_callable(handler)
        # docs/internals/typed-api.md "Blocking code": a sync handler runs in the thread pool when the
        # route says `blocking=True` or the app says `sync_handlers="threadpool"`.
        blocking = route.options.get("blocking")
        self.blocking = not coroutine and (blocking if blocking is not None else sync_threadpool)
        # A sync stream source runs where the route's sync code would: in the pool for
        # `blocking=True` (an `async def` route's too) and in threadpool apps (docs/internals/bridge.md).
        self.pool_sources = blocking if blocking is not None else sync_threadpool
        if coroutine and blocking:
            # Nothing can move an `async def` off the loop: a `time.sleep` in it blocks every
            # request. Said once, at registration (its sync stream source is still pooled).
            log.warning("blocking=True has no effect on the async def handler of %s %s: its blocking "
                        "calls hold every request; make it a def, or await asyncio.to_thread(...) "
                        "for the blocking part", route.method, route.path)
        self.is_async = coroutine or self.blocking or any(n.is_async for n in self.deps)
        self.uses_cache = any(_uses_cache(n) for n in self.deps)
        # The inline fast path of `_handle`: nothing to do but path/query kwargs and the call.
        self.simple = not (self.is_async or self.query or self.deps or self.injects
                           or self.typed or self.response)
        # An `async def` function (or a partial / bound method of one) without dependencies: calling
        # it runs no code of the app, it only makes the coroutine, and nothing is torn down after
        # it, so the bridge steps that coroutine itself, no wrapper around it
        # (docs/internals/bridge.md#bare-coroutine). A sync wrapper that returns a coroutine, an
        # async callable object or a compiled coroutine function keeps the wrapper.
        self.bare_async = inspect.iscoroutinefunction(handler) and not (self.deps or self.sub_response)
        # ... and nothing to do before or after it either: `_handle`'s async twin of `simple`.
        self.simple_async = self.bare_async and not (self.query or self.injects or self.typed or self.response)
        # ... and its typed twin: a bare coroutine whose every argument comes from the typed
        # plan's native parameter plan (int, float, bool, str path and query values), so
        # `_handle` fills them itself and skips `call_route`'s general steps; when the plan
        # declines (a value pydantic must judge, a replaced `query_params`), `call_route` runs.
        if route.options.get("strict_content_type") is False:
            _lax_content_type(self.typed, self.deps)
        native = self.typed.native if self.typed is not None else None
        self.native_bare = native if (self.bare_async and native is not None and self.path_raw == ()
                                      and not (self.takes_query or self.query or self.injects)) else None

    def path_kwargs(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """The path parameters as the first kwargs. A typed route passes only those the handler
        declares (FastAPI: a placeholder may be read by a dependency alone); an original-style
        route passes them all (docs/internals/framework.md)."""
        raw = self.path_raw
        if raw is None:
            return dict(params)
        if not raw:
            return {}
        return {k: params[k] for k in raw if k in params}

    def inject(self, request: Any, kwargs: Dict[str, Any]) -> None:
        """Request and background-task injection, only where no other value has the name
        (docs/internals/framework.md)."""
        if not self.injects:
            return
        for name in self.request_args:
            if name not in kwargs:
                kwargs[name] = request
        if self.bg_args:
            tasks = for_request(request)
            for name in self.bg_args:
                if name not in kwargs:
                    kwargs[name] = tasks
        for name in self.response_args:
            if name not in kwargs:
                kwargs[name] = sub_response_for(request)
        for name in self.scopes_args:
            if name not in kwargs:
                kwargs[name] = SecurityScopes()


def _wants_sub_response(node: DepNode) -> bool:
    return bool(node.response_args) or any(_wants_sub_response(c) for c in node.children)


def _uses_cache(node: DepNode) -> bool:
    return node.use_cache or any(_uses_cache(c) for c in node.children)


def _accepted_kwargs(handler: Any, skip_first: bool) -> Tuple[frozenset, bool]:
    """Names the handler can take as keywords, and whether it has `**kwargs` (docs/internals/framework.md
    decision)."""
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return frozenset(), True  # unintrospectable (builtin): pass everything
    if skip_first and params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]
    names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _meta_row(route: RouteDef) -> Dict[str, Any]:
    return meta_row(route.method, route.path, route.handler, route.query, route.deps, route.docs, route.protocols)


def meta_row(method: str, path: str, handler: Callable[..., Any], query: Optional[Dict[str, Any]] = None,
             deps: Optional[Dict[str, Any]] = None, docs: Optional[Dict[str, Any]] = None,
             protocols: Optional[List[str]] = None) -> Dict[str, Any]:
    """An `app.routes()` row, the original's (pinned): these keys in this order, `docs` only
    when not empty (docs/internals/framework.md#routing). app_routes.py rebuilds rows with it."""
    row: Dict[str, Any] = {"method": method, "path": path}
    if query is not None:
        row["query"] = query
    if deps is not None:
        row["deps"] = deps
    if docs:
        row["docs"] = docs
    if protocols is not None:
        row["protocols"] = protocols
    row["handler"] = handler
    return row


def resolve_dep_call(marker: Dict[str, Any], handlers: Optional[Dict[type, HandlerEntry]] = None) -> Any:
    """Completes a dependency-call marker returned by `dispatch()`: result or awaitable."""
    plan = marker.get("plan")
    if not isinstance(plan, RoutePlan):
        route = RouteDef("GET", "<dispatch>", marker["handler"], None, marker.get("deps"), {}, None)
        plan = RoutePlan(route)
    coro = run_pipeline(plan, marker["request"], dict(marker["params"]), handlers or {})
    return coro if plan.is_async else run_eagerly(coro)


if TYPE_CHECKING:  # for type checkers the names are plain imports (no module-wide __getattr__)
    from .app_routes import APIWebSocketRoute as APIWebSocketRoute
    from .app_routes import Mount as Mount
else:
    def __getattr__(name: str) -> Any:
        """`fastapi.routing`'s route classes under their module path (`from viperhttp.routing
        import APIWebSocketRoute, Mount`); they live in app_routes.py, which imports this module."""
        if name in ("APIWebSocketRoute", "Mount"):
            from . import app_routes

            return getattr(app_routes, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

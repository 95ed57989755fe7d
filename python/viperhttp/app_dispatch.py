"""Driving the app without the bridge's hot path (docs/internals/framework.md): `match`, and
`dispatch` with the original's semantics for code that drives the app itself
(docs/internals/bridge.md, the dependency-call marker), and `ws_dispatch`, which the bridge calls
for each WebSocket (docs/internals/websocket.md). HTTP requests the bridge serves go through
`ViperHTTP._handle` (app.py) instead. A mixin of `ViperHTTP`.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import _native
from .current import set_current_request
from .deps import Stack, resolve, teardown
from .exceptions import HTTPException, http_exception_response, method_not_allowed
from .request import Request
from .routing import current_request_var, dep_call_marker, fill_query

if TYPE_CHECKING:
    from .routing import RoutePlan

_route_match = _native.route_match
_cv_set = current_request_var.set
_cv_reset = current_request_var.reset
#: handler → whether it annotates its socket `WebSocket` (FastAPI's style); weak, so a reset
#: app's handlers are not kept alive by it
_FASTAPI_SOCKET: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _fastapi_socket(handler: Any) -> bool:
    """A handler declaring `websocket: WebSocket` is written for FastAPI, whose `receive_text()`
    raises `WebSocketDisconnect` on close: its socket does too (`WebSocket.raise_on_close`). The
    device framework's handlers take an unannotated `ws` and get None (docs/internals/websocket.md)."""
    try:
        known = _FASTAPI_SOCKET.get(handler)
    except TypeError:  # unhashable (a dataclass instance with __call__): not cached
        known = None
    if known is None:
        import inspect

        from viperhttp_bridge.websocket import WebSocket

        from .signature import resolve_hints

        known = False
        try:
            first = next(iter(inspect.signature(handler).parameters.values()), None)
            if first is not None:
                hint = resolve_hints(handler)[0].get(first.name, first.annotation)
                known = isinstance(hint, type) and issubclass(hint, WebSocket)
        except Exception:  # an annotation that does not resolve: the device framework's rule
            known = False
        try:
            _FASTAPI_SOCKET[handler] = known
        except TypeError:  # unhashable or without weak references: worked out per connection
            pass
    return known


class AppDispatch:
    """`ViperHTTP`'s entry points other than `_handle`."""

    if TYPE_CHECKING:  # what it uses of `ViperHTTP`
        _routes_by_id: List[Optional[RoutePlan]]

        def _require_active(self) -> None: ...

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
            stack: Stack = []
            try:
                try:
                    if plan.typed is not None:
                        plan.typed.fill(request, kwargs)
                    for node in plan.deps:
                        value = await resolve(node, request, stack, {} if plan.uses_cache else None)
                        if node.key[0] != "@":  # `dependencies=[...]`: run for the effect only
                            kwargs[node.key] = value
                    plan.inject(request, kwargs)
                    if _fastapi_socket(plan.handler) and hasattr(ws, "raise_on_close"):
                        ws.raise_on_close = True
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

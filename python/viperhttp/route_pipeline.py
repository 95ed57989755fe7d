"""Running a matched route: the general route pipeline and the `current_request` ContextVar.

Owns the per-request half of docs/internals/framework.md ("One request", "The fast path"): `call_route`
takes a route's `RoutePlan` (built once at registration in routing.py) and runs query spec → kwargs →
dependencies → handler → teardown → exception handling; `_run_async` is the dependency-free `async def`
case and `run_eagerly` drives a statically synchronous dependency tree inline. Kept apart from
routing.py, which declares and compiles routes, because this is the code every non-simple request
runs; routing.py re-exports its public names so `viperhttp.routing` imports keep working.
"""
from __future__ import annotations

import contextvars
import inspect
import types
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from .deps import Stack, function_scoped, resolve, teardown
from .exceptions import HandlerEntry, RequestValidationError, handle_exception, validation_error
from .params import apply_query_spec
from .threadpool import SLOW_INLINE_SECONDS, _clock, run_sync, warn_if_slow
from .route_options import SIDE_EFFECT as _SIDE_EFFECT
from .responses import is_response
from .typed_response import merge_sub_response

if TYPE_CHECKING:
    from .routing import RoutePlan

__all__ = ["current_request_var", "call_route", "fill_query", "merge_query", "dep_call_marker",
           "handle_apart", "run_pipeline", "run_eagerly", "set_dep_resolver"]

# docs/internals/framework.md: a ContextVar, so concurrent request tasks each see their own request.
current_request_var: ContextVar[Any] = ContextVar("viperhttp_current_request", default=None)
_CoroutineType = types.CoroutineType
_cv_get = current_request_var.get
_cv_set = current_request_var.set
_cv_reset = current_request_var.reset
_copy_context = contextvars.copy_context

_dep_resolver: List[Optional[Callable[[Dict[str, Any]], Any]]] = [None]


def set_dep_resolver(resolver: Optional[Callable[[Dict[str, Any]], Any]]) -> None:
    """Installs (or with None removes) a replacement for the built-in dependency resolution."""
    if resolver is not None and not callable(resolver):
        raise TypeError("callable or None required")
    _dep_resolver[0] = resolver


def merge_query(plan: RoutePlan, kwargs: Dict[str, Any], q: Dict[str, Any]) -> Dict[str, Any]:
    """Adds query values the handler can accept (docs/internals/framework.md); path params win."""
    if plan.var_kw:
        for k, v in q.items():
            if k not in kwargs:
                kwargs[k] = v
    else:
        accepts = plan.accepts
        for k, v in q.items():
            if k in accepts and k not in kwargs:
                kwargs[k] = v
    return kwargs


def fill_query(plan: RoutePlan, request: Any, params: Dict[str, Any], kwargs: Dict[str, Any]) -> Any:
    """Adds query values to `kwargs` (spec applied first); returns the 422 response or None."""
    if plan.query:
        q = request.query_params
        message = apply_query_spec(plan.query, q, params)
        if message is not None:
            return validation_error(message)
        merge_query(plan, kwargs, q)
    elif request.query and plan.takes_query:
        merge_query(plan, kwargs, request.query_params)
    return None


def call_route(plan: RoutePlan, request: Any, params: Dict[str, Any], handlers: Dict[type, HandlerEntry],
               bare: bool = False) -> Any:
    """The general route path: query spec → deps → handler → errors. May return an awaitable.

    `bare`: the caller takes a `bare_async` route's own coroutine (typed parameters already
    filled), which raises the handler's errors and expects `current_request_var` set by whoever
    runs it; a response plan is left in `request._finish` for its return value (the bridge,
    docs/internals/bridge.md#bare-coroutine). Otherwise `_run_async` wraps the handler."""
    kwargs = plan.path_kwargs(params)
    invalid = fill_query(plan, request, params, kwargs)
    if invalid is not None:
        return invalid
    if plan.deps or plan.sub_response:
        resolver = _dep_resolver[0]
        if resolver is not None and plan.typed is None and plan.response is None and not plan.sub_response:
            return resolver(dep_call_marker(plan, request, kwargs))
        coro = run_pipeline(plan, request, kwargs, handlers)
        return coro if plan.is_async else run_eagerly(coro)
    if not plan.is_async and (plan.typed is not None or plan.response is not None):
        return _call_typed_sync(plan, request, kwargs, handlers)
    if plan.is_async:  # no dependencies here (returned above)
        plan.inject(request, kwargs)
        if plan.blocking:
            return run_pipeline(plan, request, kwargs, handlers)
        if bare and plan.bare_async:
            try:
                if plan.typed is not None:
                    _fill_typed(plan.typed, request, kwargs)
                coro = plan.handler(**kwargs)  # an `async def` function: only makes the coroutine
            except Exception as exc:  # a 422 (or a TypeError from the call itself)
                return handle_apart(handlers, request, exc)
            if plan.response is not None:
                request._finish = plan.response.finish_bare
            return coro
        return _run_async(plan, request, kwargs, handlers)
    plan.inject(request, kwargs)
    token = _cv_set(request)
    started = _clock()
    try:
        return plan.handler(**kwargs)
    except Exception as exc:
        return handle_exception(handlers, request, exc)
    finally:
        if _clock() - started > SLOW_INLINE_SECONDS:  # one warning per route
            warn_if_slow(plan, started)
        current_request_var.reset(token)


def _fill_typed(typed: Any, request: Any, kwargs: Dict[str, Any]) -> None:
    """Typed conversion with the request current (pydantic validators may ask for it); the
    native plan runs no app code, so it is tried before the request is made current."""
    if typed.fill_native(request, kwargs):
        return
    token = _cv_set(request)
    try:
        typed.fill_validated(request, kwargs)
    finally:
        _cv_reset(token)


def handle_apart(handlers: Dict[type, HandlerEntry], request: Any, exc: Exception) -> Any:
    """An error of an `async def` route before its coroutine exists: the exception handlers run
    in a fresh copy of the context with the request current, as they would have inside the
    request's coroutine, so a variable they set stays with this request."""
    return _copy_context().run(_handle_current, handlers, request, exc)


def _handle_current(handlers: Dict[type, HandlerEntry], request: Any, exc: Exception) -> Any:
    _cv_set(request)
    return handle_exception(handlers, request, exc)


def _call_typed_sync(plan: RoutePlan, request: Any, kwargs: Dict[str, Any],
                     handlers: Dict[type, HandlerEntry]) -> Any:
    """`run_pipeline` without the coroutine, for a sync typed route with no dependencies."""
    plan.inject(request, kwargs)
    token = _cv_set(request)
    try:
        if plan.typed is not None:
            plan.typed.fill(request, kwargs)
        started = _clock()
        result = plan.handler(**kwargs)
        if _clock() - started > SLOW_INLINE_SECONDS:  # one warning per route
            warn_if_slow(plan, started)
        if inspect.isawaitable(result):  # a sync callable returning an awaitable: finish async
            return _finish_later(plan, request, result, handlers)
        return result if plan.response is None else plan.response.finish(result)
    except Exception as exc:
        return handle_exception(handlers, request, exc)
    finally:
        current_request_var.reset(token)


async def _finish_later(plan: RoutePlan, request: Any, awaitable: Any, handlers: Dict[type, HandlerEntry]) -> Any:
    token = _cv_set(request)
    try:
        result = await awaitable
        return result if plan.response is None else plan.response.finish(result)
    except Exception as exc:
        result = handle_exception(handlers, request, exc)
        return (await result) if inspect.isawaitable(result) else result
    finally:
        current_request_var.reset(token)


def dep_call_marker(plan: RoutePlan, request: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The dependency-call marker of docs/internals/bridge.md#one-request (also what `dispatch()` returns)."""
    return {"__vhttp_dep_call__": True, "handler": plan.handler, "params": kwargs, "deps": plan.deps_spec,
            "request": request, "background": getattr(request, "_background", None), "plan": plan}


async def _run_async(plan: RoutePlan, request: Any, kwargs: Dict[str, Any],
                     handlers: Dict[type, HandlerEntry]) -> Any:
    """`run_pipeline` for an `async def` route without dependencies, the common case: the same
    steps (typed parameters, the handler awaited, the response plan, exception handling) without
    the dependency stack and teardown, ~0.1 µs less per request
    (docs/internals/benchmarks.md, "Request path")."""
    prev = _cv_get()
    _cv_set(request)
    try:
        try:
            if plan.typed is not None:
                plan.typed.fill(request, kwargs)
            result = plan.handler(**kwargs)
            if type(result) is _CoroutineType or inspect.isawaitable(result):
                result = await result
            return result if plan.response is None else plan.response.finish(result)
        except Exception as exc:
            result = handle_exception(handlers, request, exc)
            return (await result) if inspect.isawaitable(result) else result
    finally:
        _cv_set(prev)


async def run_pipeline(plan: RoutePlan, request: Any, kwargs: Dict[str, Any],
                       handlers: Dict[type, HandlerEntry]) -> Any:
    """Deps → handler (awaited) → teardown in reverse → exception handling
    (docs/internals/framework.md)."""
    prev = _cv_get()
    _cv_set(request)
    try:
        stack: Stack = []
        error: Optional[Exception] = None
        result: Any = None
        calling = False
        try:
            if plan.deps:
                # FastAPI's order of failures: every dependency whose own parameters are valid
                # is still called when another's (or the route's) are not, so one that raises
                # (a 401, a 400) wins over the 422, which comes only after all of them
                # (docs/internals/framework.md, "Dependencies").
                invalid: Optional[RequestValidationError] = None
                if plan.typed is not None:
                    try:
                        plan.typed.fill(request, kwargs)
                    except RequestValidationError as exc:
                        invalid = exc
                cache: Optional[Dict[Any, Any]] = {} if plan.uses_cache else None
                for node in plan.deps:
                    # A dependency value replaces an undeclared query value of the same name
                    # (a client cannot turn a query key into a 500; declared clashes fail at
                    # registration, see routing._compile). `dependencies=[...]` values are not passed.
                    try:
                        value = await resolve(node, request, stack, cache, plan.blocking)
                    except RequestValidationError as exc:
                        invalid = invalid or exc
                        continue
                    if node.key[0] != _SIDE_EFFECT:
                        kwargs[node.key] = value
                if invalid is not None:
                    raise invalid
            elif plan.typed is not None:
                plan.typed.fill(request, kwargs)
            plan.inject(request, kwargs)
            calling = True
            if plan.blocking:
                result = await run_sync(plan.handler, kwargs)
            elif plan.is_async:
                result = plan.handler(**kwargs)
            else:
                started = _clock()
                result = plan.handler(**kwargs)
                if _clock() - started > SLOW_INLINE_SECONDS:  # one warning per route
                    warn_if_slow(plan, started)
            if inspect.isawaitable(result):
                result = await result
            # A Response the handler returned is sent as it is; one built from its value (by
            # `response_class=` too) takes the sub-response's status and headers, as in FastAPI.
            own = is_response(result) and type(result) is not dict
            if plan.response is not None:
                if stack and plan.response.streams and plan.response.takes(result):
                    # a path operation that yields: FastAPI ends its `scope="function"`
                    # dependencies once the function has returned its generator, before the
                    # stream starts; the others stay open until the stream ends
                    # (stream_routes.StreamPlan.finish tears them down)
                    early = function_scoped(stack)
                    if early:
                        failed = await teardown(early)
                        if failed is not None:
                            raise failed  # the rest are torn down with it, as on any error
                    result, stack = plan.response.finish(result, stack), []
                else:
                    result = plan.response.finish(result)
            if plan.sub_response and request._sub_response is not None and not own:
                result = merge_sub_response(request._sub_response, result)
        except Exception as exc:
            error = exc
            if isinstance(exc, RequestValidationError) and not calling and plan.deps:
                # One 422 lists every failure: the handler's and every dependency's parameters.
                from .typed import all_validation_errors  # late: pydantic; only after a 422

                found = all_validation_errors(plan.typed, plan.deps, request)
                # errors a dependency raised itself (not its parameters') are kept as they are
                seen = {(tuple(e["loc"]), e["type"]) for e in found}
                found += [e for e in exc.errors() if (tuple(e["loc"]), e["type"]) not in seen]
                error = RequestValidationError(found, body=exc.body)
        if stack:
            error = await teardown(stack, error)
        if error is not None:
            if request._handed_over is not None:  # a stream made before the error: not sent
                from .stream_routes import release_unsent

                await release_unsent(request)
            result = handle_exception(handlers, request, error)
            if inspect.isawaitable(result):
                result = await result
        return result
    finally:
        _cv_set(prev)

def run_eagerly(coro: Any) -> Any:
    """Steps a coroutine inline; its value if it finishes without suspending, else an awaitable.

    Used only for statically synchronous dependency trees, so a suspension happens only when a
    sync callable returned an awaitable; the returned `_Suspended` hands the pending future to
    whoever awaits it and keeps delegating, exactly like `await` would have.
    """
    try:
        pending = coro.send(None)
    except StopIteration as stop:
        return stop.value
    return _Suspended(coro, pending)


class _Suspended:
    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Any:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancellation is delivered where the coroutine waits
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value

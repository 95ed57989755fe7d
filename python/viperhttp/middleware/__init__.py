"""Middleware: the built-in classes, the Python chain and the native middleware configuration.

Owns docs/internals/framework.md. Python middleware (decorator, function and class entries) forms a chain run
by `_run_chain` for every request that reaches Python while at least one entry exists; the three built-ins
(CORS, trusted host, rate limit) are not chain entries — `add_middleware` validates their keywords here
(docs/internals/cors-hosts-ratelimit.md) and hands the config to the native runtime. `SessionMiddleware` /
`CSRFMiddleware` are re-exported lazily from `viperhttp_session`.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, Callable, Dict, List, Optional

from .. import _native
from ..exceptions import handle_exception, not_found
from ..responses import Response, json_dumps, normalize
from ..routing import current_request_var

__all__ = ["BaseHTTPMiddleware", "CORSMiddleware", "Middleware", "RateLimitMiddleware", "TrustedHostMiddleware"]

_cv_get = current_request_var.get
_cv_set = current_request_var.set


class Middleware:
    """Starlette's `Middleware(cls, *args, **options)`, for `ViperHTTP(middleware=[...])`: the
    list's first entry is the outermost, as in Starlette."""

    __slots__ = ("cls", "args", "kwargs")

    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Any:  # Starlette's `cls, args, kwargs = middleware`
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        return f"Middleware({getattr(self.cls, '__name__', self.cls)!r})"


class BaseHTTPMiddleware:
    """Base for class middleware: override `async def dispatch(self, request, call_next)`, or
    pass the function: `app.add_middleware(BaseHTTPMiddleware, dispatch=func)` (Starlette's form)."""

    def __init__(self, app: Any = None, dispatch: Optional[Callable[..., Any]] = None) -> None:
        self.app = app
        if dispatch is not None:
            self.dispatch = dispatch  # type: ignore[method-assign]  # called as dispatch(request, call_next)

    def dispatch(self, request: Any, call_next: Callable[..., Any]) -> Any:
        raise NotImplementedError("dispatch must be implemented")


class _NativeMiddleware:
    """Marker classes: configuration happens through `app.add_middleware(cls, **kw)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__} takes no arguments; use app.add_middleware({type(self).__name__}, ...)")


class CORSMiddleware(_NativeMiddleware):
    """Native CORS (docs/internals/cors-hosts-ratelimit.md#cors-corsrs)."""


class TrustedHostMiddleware(_NativeMiddleware):
    """Native `Host` allow-list (docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs)."""


class RateLimitMiddleware(_NativeMiddleware):
    """Native per-client-IP token bucket
    (docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs)."""


class _MissingExtensionError(AttributeError):
    """A lazily re-exported name whose extension module is not installed
    (docs/internals/cors-hosts-ratelimit.md).

    Why an AttributeError and not an ImportError: one class cannot derive from both (CPython:
    "multiple bases have instance lay-out conflict"), and raising an ImportError from a module
    `__getattr__` would make `hasattr(mw, "SessionMiddleware")` and `getattr(mw, name, None)`
    raise instead of answering False / None. As an AttributeError it keeps those working and
    `mw.SessionMiddleware` still fails with the clear message below. (`from viperhttp.middleware
    import SessionMiddleware` turns any AttributeError into CPython's own ImportError "cannot
    import name ...", so `except ImportError` around that import works as usual.)
    """


_SESSION_NAMES = ("SessionMiddleware", "CSRFMiddleware")
_SESSION_MODULE = "viperhttp_session"


def __getattr__(name: str) -> Any:
    # (decision, docs/internals/cors-hosts-ratelimit.md) the session middlewares live in viperhttp_session
    # (docs/internals/sessions-auth.md) and are imported on first use, so they appear here as soon as that
    # module is installed.
    if name in _SESSION_NAMES:
        try:
            module = importlib.import_module(_SESSION_MODULE)
        except ModuleNotFoundError as exc:
            if exc.name != _SESSION_MODULE:
                raise  # the module exists but one of its own imports is missing: show that
            raise _MissingExtensionError(
                f"{name} needs {_SESSION_MODULE}, which is not installed",
                name=name, obj=sys.modules[__name__]) from None
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the Python chain (docs/internals/framework.md) ---------------------------------------------------------

def _build_chain(app: Any) -> List[Callable[..., Any]]:
    """Entries sorted by (priority, registration index); class entries instantiated once."""
    order = sorted(range(len(app._middleware)), key=lambda i: (app._middleware[i][3], i))
    chain = []
    for i in order:
        kind, target, options, _priority = app._middleware[i]
        if kind == "class":
            if isinstance(target, type):
                try:
                    target = target(app, **options)
                except Exception:
                    target = target(**options)
            target = getattr(target, "dispatch", target)
        chain.append(target)
    return chain


async def _run_chain(app: Any, request: Any) -> Any:
    """Runs the middleware chain around routing for one request; returns a response dict."""
    prev = _cv_get()
    try:
        chain = app._chain
        if chain is None:
            try:
                chain = app._chain = _build_chain(app)
            except Exception as exc:
                return await _error_result(app, request, exc)
        result = await _call(app, chain, 0, request, request)
        if request._handed_over is not None and not _streams(result):
            # A stream built for this request will not be sent (a middleware raised after
            # `call_next`, or answered otherwise): its `yield` dependencies are torn down now,
            # before the response goes out (docs/internals/typed-api.md, "Streaming path operations").
            from ..stream_routes import release_unsent

            await release_unsent(request)
        return result
    finally:
        _cv_set(prev)


def _streams(result: Any) -> bool:
    """A streamed response: the bridge releases what it leaves when its stream ends."""
    return isinstance(result, dict) and result.get("stream") is not None


class _CallNext:
    """`call_next([request])`: an awaitable giving the normalised response of the rest."""

    __slots__ = ("_app", "_chain", "_index", "_request", "_root")

    def __init__(self, app: Any, chain: List[Callable[..., Any]], index: int, request: Any, root: Any) -> None:
        self._app = app
        self._chain = chain
        self._index = index
        self._request = request
        self._root = root  # the request the chain runs for (`_run_chain`'s)

    def __call__(self, request: Any = None) -> Any:
        return _call(self._app, self._chain, self._index, self._request if request is None else request,
                     self._root)


async def _call(app: Any, chain: List[Callable[..., Any]], index: int, request: Any, root: Any) -> Any:
    prev = _cv_get()
    _cv_set(request)
    try:
        if index == len(chain):
            result = app._handle(request, True)
            if inspect.isawaitable(result):
                result = await result
            if request is not root and getattr(request, "_handed_over", None):
                # `call_next(other_request)`: the streams built for the replacement are the
                # chain's to release when they are not sent (`_run_chain`, the bridge)
                root._handed_over = (root._handed_over or []) + request._handed_over
                request._handed_over = None
            try:
                return _checked(_response(result))
            except Exception as exc:
                # A body that cannot be serialised is the handler's 500, so the middleware and
                # the access log see the status the client gets (docs/internals/typed-api.md).
                return await _error_result(app, request, exc, "handler_error")
        try:
            result = chain[index](request, _CallNext(app, chain, index + 1, request, root))
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return await _error_result(app, request, exc)
        if result is None:
            # A middleware returning None gives 404 (docs/internals/framework.md).
            return not_found()
        return _response(result)
    finally:
        _cv_set(prev)


async def _error_result(app: Any, request: Any, exc: Exception, what: str = "middleware_error") -> Any:
    result = handle_exception(app._exception_handlers, request, exc, what)
    if inspect.isawaitable(result):
        result = await result
    return _response(result)


def _checked(response: Any) -> Any:
    """`response` once its JSON body is known to encode (the bytes are made again on send:
    middleware may still change the body)."""
    body = response.get("body")
    if isinstance(body, (dict, list)) and response.get("stream") is None:
        json_dumps(body)
    return response


def _response(result: Any) -> Any:
    """The normalised response, as a response object when it is a plain dict.

    Middleware may use the dict form (`resp["headers"]`, pinned) or, Starlette-style, the
    properties of the host response classes (`resp.status_code = 201`); a plain marker dict
    from normalisation is copied into a `Response` so both work (same keys,
    docs/internals/requests-responses.md#responses).
    """
    response = normalize(result)
    if type(response) is dict:
        wrapped = Response.__new__(Response)
        dict.update(wrapped, response)
        return wrapped
    return response


# --- native built-ins (docs/internals/cors-hosts-ratelimit.md, docs/internals/cors-hosts-ratelimit.md) ------

_NATIVE_KINDS: Dict[type, str] = {CORSMiddleware: "cors", TrustedHostMiddleware: "trusted_host",
                                  RateLimitMiddleware: "rate_limit"}
_CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def _native_kind(target: Any) -> Optional[str]:
    """`"cors"` / `"trusted_host"` / `"rate_limit"` for a built-in class or instance, else None."""
    cls = target if isinstance(target, type) else type(target)
    return _NATIVE_KINDS.get(cls)


def _configure_native(app: Any, kind: str, options: Dict[str, Any]) -> None:
    """Validates the keywords, stores the config on `app._native_config[kind]`, tells the runtime."""
    options = dict(options)
    options.pop("priority", None)  # accepted and ignored (docs/internals/cors-hosts-ratelimit.md)
    if kind == "cors":
        config = _cors_config(options)
    elif kind == "trusted_host":
        config = _trusted_host_config(options)
    else:
        config = _rate_limit_config(options)
    configure = getattr(_native, "configure_" + kind, None)
    if configure is not None:
        configure(**config)
    app._native_config[kind] = config


def _cors_list(value: Any, limit: int, max_items: int = 0, item_limit: int = 0) -> List[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise TypeError("cors list must contain strings")
        items = [v.strip() for v in value]
    else:
        raise TypeError("cors value must be str or list")
    items = [v for v in items if v]
    if max_items and (len(items) > max_items or any(len(v.encode()) >= item_limit for v in items)):
        raise ValueError("cors value too long")
    if limit and len(", ".join(items).encode()) >= limit:
        raise ValueError("cors value too long")
    return items


def _cors_config(options: Dict[str, Any]) -> Dict[str, Any]:
    known = ("allow_origins", "allow_methods", "allow_headers", "allow_credentials", "expose_headers", "max_age")
    for key in options:
        if key not in known:
            raise TypeError("unknown cors keyword")
    # Host limits of docs/internals/cors-hosts-ratelimit.md#cors-corsrs: origins 256 x 512 bytes; joined
    # methods < 128, headers < 256.
    origins = _cors_list(options.get("allow_origins", ["*"]), 0, 256, 512)
    methods = _cors_list(options.get("allow_methods", _CORS_METHODS), 128)
    if "*" in methods:
        methods = list(_CORS_METHODS)
    max_age = options.get("max_age", 600)
    if not isinstance(max_age, int) or isinstance(max_age, bool):
        raise TypeError("max_age must be int")
    if max_age < 0:
        raise ValueError("max_age must be >= 0")
    return {
        "allow_origins": origins,
        "allow_methods": methods,
        "allow_headers": _cors_list(options.get("allow_headers", "*"), 256),
        "allow_credentials": bool(options.get("allow_credentials", False)),
        "expose_headers": _cors_list(options.get("expose_headers", []), 256),
        "max_age": max_age,
    }


def _trusted_host_config(options: Dict[str, Any]) -> Dict[str, Any]:
    for key in options:
        if key not in ("allowed_hosts", "enabled"):
            raise TypeError("unknown trusted host keyword")
    hosts = options.get("allowed_hosts", ["*"])
    if isinstance(hosts, str):
        hosts = [hosts]
    elif isinstance(hosts, (list, tuple)):
        if not all(isinstance(h, str) for h in hosts):
            raise TypeError("allowed_hosts must contain strings")
        hosts = list(hosts)
    else:
        raise TypeError("allowed_hosts must be str or list")
    for host in hosts:
        if not host.strip():
            raise ValueError("host value empty")
        if len(host.encode()) >= 128:
            raise ValueError("host value too long")
    if len(hosts) > 256:
        raise ValueError("too many trusted hosts")
    return {"allowed_hosts": [h.strip() for h in hosts], "enabled": bool(options.get("enabled", True))}


def _rate_limit_config(options: Dict[str, Any]) -> Dict[str, Any]:
    for key in options:
        if key not in ("rate", "burst", "enabled", "max_requests", "window_sec"):
            raise TypeError("unknown ratelimit keyword")
    aliases = "max_requests" in options or "window_sec" in options
    if aliases and ("rate" in options or "burst" in options):
        raise TypeError("max_requests/window_sec cannot be combined with rate/burst")
    if aliases:
        # (decision, docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs) the original's
        # documented spelling.
        max_requests = _number(options.get("max_requests", 100), "max_requests", int)
        window = _number(options.get("window_sec", 60), "window_sec", (int, float))
        if max_requests < 0:
            raise ValueError("max_requests must be >= 0")
        if window <= 0:
            raise ValueError("window_sec must be > 0")
        rate: Any = max_requests / window
        burst = max_requests
    else:
        rate = _number(options.get("rate", 20), "rate", (int, float))
        burst = _number(options.get("burst", 40), "burst", (int, float))
        if rate < 0:
            raise ValueError("rate must be >= 0")
        if burst < 0:
            raise ValueError("burst must be >= 0")
    return {"rate": rate, "burst": burst, "enabled": bool(options.get("enabled", True))}


def _number(value: Any, name: str, kinds: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be a number")
    return value

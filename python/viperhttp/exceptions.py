"""Errors: `HTTPException`, the default error responses and exception-handler dispatch.

Owns docs/internals/framework.md: the exception class (docs/internals/framework.md), the byte-exact default
error bodies (docs/internals/framework.md) and the lookup/call of app exception handlers
(docs/internals/framework.md). Tracebacks go to the `viperhttp.bridge` logger, never into a response body.
"""
from __future__ import annotations

import http
import inspect
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .responses import JSONResponse, Response

__all__ = [
    "HTTPException",
    "RequestValidationError",
    "WebSocketDisconnect",
    "WebSocketException",
    "DependencyScopeError",
    "not_found",
    "method_not_allowed",
    "internal_error",
    "validation_error",
    "http_exception_response",
    "find_exception_handler",
    "handle_exception",
]

log = logging.getLogger("viperhttp.bridge")

TEXT_PLAIN = "text/plain; charset=utf-8"

HeadersArg = Union[None, Dict[str, str], List[Tuple[str, str]]]


class HTTPException(Exception):
    """An error that becomes `{"detail": ...}` JSON with `status_code` (docs/internals/framework.md)."""

    def __init__(self, status_code: int, detail: Any = None, headers: HeadersArg = None) -> None:
        if detail is None:
            detail = _reason_phrase(status_code)
        if headers is not None and not isinstance(headers, (dict, list, tuple)):
            raise TypeError("headers must be dict or list of tuples")
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers

    def __repr__(self) -> str:
        return f"HTTPException(status_code={self.status_code!r}, detail={self.detail!r})"


class RequestValidationError(HTTPException):
    """422 with FastAPI's `{"detail": [...]}` list; an exception handler may replace it.

    Raised by typed routes (docs/internals/typed-api.md); it lives here, not in `typed.py`, so
    naming it (`@app.exception_handler(RequestValidationError)`) does not import pydantic."""

    def __init__(self, errors: List[Dict[str, Any]], *, body: Any = None) -> None:
        super().__init__(422, errors)
        self._errors = errors
        #: what the client sent as the route's body, as FastAPI's `exc.body`: the parsed JSON
        #: (the text when it did not parse), the form's fields, the raw bytes of a body not
        #: declared JSON; None when the route reads no body
        self.body = body

    def errors(self) -> List[Dict[str, Any]]:
        """The errors as FastAPI's `exc.errors()` gives them: each `loc` a tuple (a handler that
        formats it prints `('path', 'item_id')`); the 422 body writes them as JSON lists."""
        return [{**e, "loc": tuple(e["loc"])} if type(e.get("loc")) is list else e for e in self._errors]


class DependencyScopeError(RuntimeError):
    """FastAPI's: a `yield` dependency of scope "request" (the default) that depends on one of
    scope "function", which would be torn down before it (docs/guide/dependencies.md, "Scope").
    Raised when the route is registered."""


class WebSocketDisconnect(Exception):
    """The WebSocket connection ended with close code `code` (docs/internals/websocket.md). Raised only
    by `WebSocket.receive_or_raise()`; the original's methods return None/the close dict."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WebSocketDisconnect(code={self.code})"


class WebSocketException(Exception):
    """Starlette's: raised in a WebSocket handler or its dependencies, it closes the connection
    with `code` and `reason` (before `accept()`: the handshake is refused, 403, as Starlette's
    close before accept reaches the client)."""

    def __init__(self, code: int, reason: Optional[str] = None) -> None:
        super().__init__(code, reason or "")
        self.code = code
        self.reason = reason or ""

    def __repr__(self) -> str:
        return f"WebSocketException(code={self.code}, reason={self.reason!r})"


def _reason_phrase(status_code: Any, unknown: str = "Internal Server Error") -> str:
    # (decision, docs/internals/framework.md) the standard phrase of the status; the original always said
    # "Internal Server Error", which is still the fallback for unknown codes.
    try:
        return http.HTTPStatus(status_code).phrase
    except (ValueError, TypeError):
        return unknown


def _text(status: int, body: str, headers: HeadersArg = None) -> Response:
    return Response(status_code=status, body=body, headers=headers, content_type=TEXT_PLAIN)


def not_found() -> Response:
    """404 `Not Found`, text/plain (docs/internals/framework.md#routing). A fresh object: middleware may edit
    it."""
    return _text(404, "Not Found")


def method_not_allowed(allow: str) -> Response:
    """405 `Method Not Allowed` with the `Allow` list computed by the native router."""
    return _text(405, "Method Not Allowed", {"Allow": allow})


def unrouted(handlers: Dict[Any, HandlerEntry], request: Any, allow: Optional[str]) -> Any:
    """The answer to a request no route takes: 404, or 405 with the `Allow` list. The plain-text
    answers, unless the app registered a handler for that status code (Starlette's status
    handlers): it then gets `HTTPException(404, "Not Found")` / `(405, "Method Not Allowed")`
    (docs/internals/framework.md, "Exception handlers"). A handler for the `HTTPException` class
    does not: the original's apps register one and get the plain answers."""
    status = 404 if allow is None else 405
    if status in handlers:
        if allow is None:
            return handle_exception(handlers, request, HTTPException(404, "Not Found"))
        return handle_exception(handlers, request,
                                HTTPException(405, "Method Not Allowed", headers={"Allow": allow}))
    return not_found() if allow is None else method_not_allowed(allow)


def internal_error() -> Response:
    """500 `Internal Server Error`, plain text for parity with the original (docs/internals/framework.md)."""
    return _text(500, "Internal Server Error")


def validation_error(message: str) -> JSONResponse:
    """422 `{"detail": message}` for query-spec failures (docs/internals/framework.md, Pinned)."""
    return JSONResponse(status_code=422, body={"detail": message})


def http_exception_response(exc: HTTPException) -> JSONResponse:
    """The default conversion of an unhandled `HTTPException`; headers are copied."""
    status = exc.status_code
    if not isinstance(status, int) or isinstance(status, bool):
        status = 500
    headers = exc.headers
    if isinstance(headers, dict):
        headers = dict(headers)
    elif headers is not None:
        headers = list(headers)
    return JSONResponse(status_code=status, body={"detail": exc.detail}, headers=headers)


# --- exception handlers (docs/internals/framework.md) ----------------------------------------------------

HandlerEntry = Tuple[Callable[..., Any], bool]


def handler_entry(handler: Callable[..., Any]) -> HandlerEntry:
    """Pairs an exception handler with whether it takes `(request, exc)` or just `(exc)`.

    (decision, docs/internals/framework.md) chosen once by arity instead of retrying on `TypeError`, so a
    `TypeError` raised inside the handler is not mistaken for a signature mismatch.
    """
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return handler, True
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return handler, True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return handler, positional != 1


def find_exception_handler(handlers: Dict[Any, HandlerEntry], exc: BaseException) -> Optional[HandlerEntry]:
    """For an `HTTPException`, a handler registered for its status code (an int key, Starlette's
    status handlers; not 500, Starlette's server-error key) first; then the most specific class
    of the exception's MRO, then the first `isinstance` match (the original's rule: a handler
    for `Exception` catches everything). Any other exception no class handler takes goes to a
    handler registered for 500, as Starlette's server-error handler. A `RequestValidationError`
    skips the `HTTPException` classes and the 422 key, as FastAPI's (which is no `HTTPException`)."""
    if not handlers:
        return None
    http = isinstance(exc, HTTPException)
    # `RequestValidationError` is an `HTTPException` here (its default answer is one) but not in
    # FastAPI: handlers for `HTTPException` (FastAPI's "override the HTTPException handler"
    # pattern) or for the status 422 do not take it, a handler for itself or `Exception` does.
    validation = isinstance(exc, RequestValidationError)
    if http and not validation and exc.status_code != 500:  # type: ignore[attr-defined]
        entry = handlers.get(exc.status_code)  # type: ignore[attr-defined]
        if entry is not None:
            return entry
    for cls in type(exc).__mro__:
        entry = handlers.get(cls)
        if entry is not None and not (validation and _http_only(cls)):
            return entry
    for cls, entry in handlers.items():
        if isinstance(cls, type) and isinstance(exc, cls) and not (validation and _http_only(cls)):
            return entry
    return None if http else handlers.get(500)


def _http_only(cls: type) -> bool:
    """An `HTTPException` class that FastAPI's `RequestValidationError` would not be an instance of."""
    return issubclass(cls, HTTPException) and not issubclass(cls, RequestValidationError)


def handle_exception(handlers: Dict[type, HandlerEntry], request: Any, exc: Exception,
                     what: str = "handler_error") -> Any:
    """Turns an exception from a handler, dependency, teardown or middleware into a result.

    Returns the exception handler's raw result (possibly an awaitable, which the caller must
    await through `guard_awaitable`), the `HTTPException` JSON response, or the logged 500.
    `what` is the log word (`handler_error` / `middleware_error`, docs/internals/logging.md).
    """
    entry = find_exception_handler(handlers, exc)
    if entry is not None:
        func, with_request = entry
        if not isinstance(exc, HTTPException) and entry in (handlers.get(Exception), handlers.get(500)):
            # Starlette's server-error handler answers and the exception still propagates: the
            # server logs it with its traceback (an app with its own error page must not hide
            # its errors) and the test client re-raises it (raise_server_exceptions), as FastAPI's
            _report(request, exc, what)
        try:
            result = func(request, exc) if with_request else func(exc)
        except Exception as inner:
            return _unhandled(request, inner, "exception_handler_error")
        if inspect.isawaitable(result):
            return guard_awaitable(result, request)
        return result
    if isinstance(exc, HTTPException):
        return http_exception_response(exc)
    return _unhandled(request, exc, what)


async def guard_awaitable(awaitable: Any, request: Any) -> Any:
    """Awaits an async exception handler's result; a failure there is a logged 500
    (docs/internals/framework.md)."""
    try:
        return await awaitable
    except Exception as exc:
        return _unhandled(request, exc, "exception_handler_error")


#: Called with every exception that becomes an unhandled 500; `viperhttp.testclient` sets it to
#: re-raise the handler's exception in the test (`raise_server_exceptions=True`).
unhandled_observer: Optional[Callable[[BaseException], None]] = None


#: Called once when a WebSocket handler has ended, with its handshake's `Sec-WebSocket-Key`
#: (the client's random key for the connection; None if absent) and the exception the handler let out (None when it returned or an exception it raised was
#: answered: `HTTPException`, `WebSocketException`, invalid parameters). `viperhttp.testclient`
#: sets it to re-raise that exception in the test, as Starlette's client does.
websocket_end_observer: Optional[Callable[[Optional[str], Optional[BaseException]], None]] = None


def report_unhandled(exc: BaseException) -> None:
    observer = unhandled_observer
    if observer is not None:
        observer(exc)


#: `ViperHTTP(debug=True)`: an unhandled 500 carries the traceback as text/plain, as
#: Starlette's debug mode answers (development only: it shows code and values)
DEBUG = [False]


def where(request: Any, method: Optional[str] = None) -> str:
    """` in GET /path` for an error's log line: which request failed (the access line comes
    apart); `method` overrides the request's (`WS` for a WebSocket handler)."""
    method, path = method or getattr(request, "method", None), getattr(request, "path", None)
    return f" in {method} {path}" if isinstance(method, str) and isinstance(path, str) else ""


def _report(request: Any, exc: BaseException, what: str) -> None:
    """The log line with the traceback, and the test client told (`report_unhandled`)."""
    log.error("%s %r%s", what, exc, where(request), exc_info=exc)
    report_unhandled(exc)


def _unhandled(request: Any, exc: BaseException, what: str) -> Response:
    _report(request, exc, what)
    # docs/internals/framework.md: background tasks are dropped when the request ends in an unhandled 500.
    if request is not None:
        try:
            request._background = None
        except AttributeError:
            pass
    if DEBUG[0]:
        import traceback

        return _text(500, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return internal_error()

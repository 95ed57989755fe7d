"""FastAPI's `fastapi.exception_handlers`: the default answers as handlers an app can register
or call from its own (docs/internals/framework.md, "Exception handlers").

`app.add_exception_handler(HTTPException, http_exception_handler)` keeps the default JSON answer
for `HTTPException`s when the app also registers a catch-all handler for `Exception` (which,
by the original's rule, would otherwise receive them too)."""
from __future__ import annotations

from typing import Any

from .exceptions import HTTPException, RequestValidationError, http_exception_response

__all__ = ["http_exception_handler", "request_validation_exception_handler"]


async def http_exception_handler(request: Any, exc: HTTPException) -> Any:
    """`{"detail": exc.detail}` with the exception's status and headers."""
    return http_exception_response(exc)


async def request_validation_exception_handler(request: Any, exc: RequestValidationError) -> Any:
    """The 422 `{"detail": [errors]}` answer."""
    return http_exception_response(exc)

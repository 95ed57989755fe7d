"""`AuthMiddleware` and the dependency helpers (docs/internals/sessions-auth.md#authmiddleware).

The middleware tries the backends in order, sets `request.user` and
`request.state["auth_scheme"]`, feeds the optional `AuthRateLimiter`, and with `enforce=True`
answers 401 with the backends' challenges. `get_current_user` / `require_roles` are
dependencies for routes that need a user (401 / 403 as `{"detail": ...}` JSON).
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Iterable, List, Optional, Sequence

from viperhttp import HTTPException, PlainTextResponse, current_request

from .backends import AuthBackend
from .limiter import AuthRateLimiter

__all__ = ["AuthMiddleware", "get_current_user", "require_roles"]

log = logging.getLogger("viperhttp.auth")


class AuthMiddleware:
    """`AuthMiddleware(app=None, backends=None, enforce=False, rate_limiter=None,
    strict_challenge=False)`."""

    def __init__(self, app: Any = None, backends: Optional[Sequence[AuthBackend]] = None,
                 enforce: bool = False, rate_limiter: Optional[AuthRateLimiter] = None,
                 strict_challenge: bool = False) -> None:
        self.app = app
        self.backends: List[Any] = list(backends or [])
        self.enforce = bool(enforce)
        self.rate_limiter = rate_limiter
        self.strict_challenge = bool(strict_challenge)
        challenges = [b.challenge for b in self.backends if getattr(b, "challenge", None)]
        self._challenges = challenges if strict_challenge else challenges[:1]

    async def authenticate(self, request: Any) -> Any:
        """`(user, backend)` of the first backend that returns a truthy user, else `(None, None)`."""
        for backend in self.backends:
            try:
                user = backend.authenticate(request)
                if inspect.isawaitable(user):
                    user = await user
            except Exception as exc:  # a failing backend is a failed attempt, not a 500
                log.warning("auth_backend_error %s %r", getattr(backend, "name", backend), exc)
                user = None
            if user:
                return user, backend
        return None, None

    async def dispatch(self, request: Any, call_next: Callable[..., Any]) -> Any:
        headers = request.headers
        auth_present = "authorization" in headers or "x-api-key" in headers
        limiter = self.rate_limiter
        shared = limiter is not None and callable(getattr(limiter, "aretry_after", None))
        if limiter is not None:
            if shared:  # state in Redis: awaited, so a slow Redis does not stop the interpreter
                wait = await limiter.aretry_after(request)  # type: ignore[union-attr]
            elif not limiter.check(request):
                retry_after = getattr(limiter, "retry_after", None)  # custom limiters may lack it
                wait = max(int(retry_after(request)), 1) if callable(retry_after) else 1
            else:
                wait = 0
            if wait > 0:
                return PlainTextResponse("Too Many Requests", status_code=429,
                                         headers=[("Retry-After", str(wait))])
        user, backend = await self.authenticate(request)
        request.user = user
        request.state["auth_scheme"] = backend.name if backend is not None else None
        if limiter is not None:
            if user:
                if shared:
                    await limiter.arecord_success(request)  # type: ignore[attr-defined]
                else:
                    limiter.record_success(request)
            elif auth_present or self.enforce:
                if shared:
                    await limiter.arecord_failure(request)  # type: ignore[attr-defined]
                else:
                    limiter.record_failure(request)
        if self.enforce and not user:
            return PlainTextResponse("Not authenticated", status_code=401,
                                     headers=[("WWW-Authenticate", c) for c in self._challenges])
        return await call_next(request)


def _request() -> Any:
    request = current_request()
    if request is None:
        raise HTTPException(500, "Missing request")
    return request


def get_current_user(scheme: Optional[str] = None) -> Any:
    """Dependency: the authenticated user; 401 without one (or from another `scheme`)."""
    request = _request()
    user = getattr(request, "user", None)
    if not user:
        raise HTTPException(401, "Not authenticated")
    if scheme is not None and request.state.get("auth_scheme") != scheme:
        raise HTTPException(401, "Not authenticated")
    return user


def require_roles(roles: Any, scheme: Optional[str] = None) -> Callable[[], Any]:
    """A dependency: the user, who must hold every role listed (AND), else 403 `Forbidden`."""
    wanted: Iterable[str] = [roles] if isinstance(roles, str) else list(roles)

    def dependency() -> Any:
        user = get_current_user(scheme)
        held = user.get("roles") if isinstance(user, dict) else None
        held = held if isinstance(held, (list, tuple, set, frozenset)) else ()
        if not all(role in held for role in wanted):
            raise HTTPException(403, "Forbidden")
        return user

    dependency.__name__ = "require_roles"
    return dependency

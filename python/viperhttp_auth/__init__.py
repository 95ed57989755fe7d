"""Authentication for ViperHTTP apps (docs/internals/sessions-auth.md#authentication).

Backends (`SessionAuth`, `BearerAuth`, `APIKeyAuth`, `BasicAuth`, all `AuthBackend`s) are tried
in order by `AuthMiddleware`, which sets `request.user`; `AuthRateLimiter` bans a client IP after
repeated failures; `get_current_user` and `require_roles` are route dependencies. Backends are
also usable directly as dependencies: `deps={"user": viperhttp.Depends(BearerAuth(token="t"))}`.
"""
from __future__ import annotations

from .backends import APIKeyAuth, AuthBackend, BasicAuth, BearerAuth, SessionAuth, sha256_hex
from .limiter import AuthRateLimiter
from .redis_limiter import RedisAuthRateLimiter
from .middleware import AuthMiddleware, get_current_user, require_roles

__all__ = [
    "AuthBackend", "SessionAuth", "BearerAuth", "APIKeyAuth", "BasicAuth", "AuthMiddleware",
    "AuthRateLimiter", "RedisAuthRateLimiter", "get_current_user", "require_roles", "sha256_hex",
]

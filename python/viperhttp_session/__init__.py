"""Sessions and CSRF protection for ViperHTTP apps (docs/internals/sessions-auth.md).

`app.add_middleware(viperhttp_session.SessionMiddleware, secret_key=...)` gives every request a
`request.session` backed by a store: `MemorySessionStore` (this process), `VFSSessionStore`
(files, the default) or `RedisSessionStore` (shared by several processes). `CSRFMiddleware`
runs only the CSRF rules. `viperhttp.middleware.SessionMiddleware` / `CSRFMiddleware` are the
same classes.
"""
from __future__ import annotations

from .csrf import normalize_origin
from .middleware import (CSRFMiddleware, SessionMiddleware, get_csrf_token, get_request_cookies,
                         get_request_session)
from .redis_store import RedisSessionStore
from .session import Session
from .store import MemorySessionStore, SessionStore, SessionStoreError
from .vfs_store import VFSSessionStore

__all__ = [
    "SessionMiddleware", "CSRFMiddleware", "Session", "SessionStore", "SessionStoreError",
    "MemorySessionStore", "VFSSessionStore", "RedisSessionStore", "get_request_session",
    "get_request_cookies", "get_csrf_token", "normalize_origin",
]


"""Authentication backends: session, bearer token, API key, HTTP Basic (docs/sessions-auth.md#backends).

Each backend's `authenticate(request)` returns a user (any truthy value) or None. A backend is
also callable as a dependency (`deps={"user": Depends(BearerAuth(token="t"))}`): it then
authenticates the current request and returns the user, or raises 401 with its challenge.
Passwords are compared with `hmac.compare_digest`; token and API-key maps are looked up by the
SHA-256 digest of the presented value, never by the secret itself.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
from typing import Any, Callable, Dict, Optional

from viperhttp import HTTPException, current_request

__all__ = ["AuthBackend", "SessionAuth", "BearerAuth", "APIKeyAuth", "BasicAuth", "sha256_hex"]

# Compared against when a Basic user does not exist, so the answer takes as long as a wrong
# password for a real user (no user enumeration by timing).
_DUMMY = "sha256:" + hashlib.sha256(b"viperhttp-no-such-user").hexdigest()


def sha256_hex(value: str) -> str:
    """SHA-256 hex of the UTF-8 text: the key form of `tokens_hashed` / `keys_hashed` maps."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class AuthBackend:
    """Base class: `name`, `challenge` (the `WWW-Authenticate` value, or None) and
    `authenticate(request) -> user | None`."""

    name = "auth"
    challenge: Optional[str] = None

    def authenticate(self, request: Any) -> Any:
        return None

    def __call__(self, request: Any = None) -> Any:
        """Dependency form: the user, or `HTTPException(401, "Not authenticated")` carrying
        this backend's challenge. Records the result on the request like `AuthMiddleware`."""
        if request is None:
            request = current_request()
        if request is None:
            raise HTTPException(500, "Missing request")
        try:
            user = self.authenticate(request)
        except Exception:
            user = None
        if inspect.isawaitable(user):
            return self._finish_async(request, user)
        return self._finish(request, user)

    async def _finish_async(self, request: Any, pending: Any) -> Any:
        try:
            user = await pending
        except Exception:
            user = None
        return self._finish(request, user)

    def _finish(self, request: Any, user: Any) -> Any:
        if not user:
            headers = {"WWW-Authenticate": self.challenge} if self.challenge else None
            raise HTTPException(401, "Not authenticated", headers=headers)
        request.user = user
        request.state["auth_scheme"] = self.name
        return user

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class SessionAuth(AuthBackend):
    """The user stored in the session under `user_key` (set by your login route)."""

    name = "session"
    challenge = None

    def __init__(self, user_key: str = "user") -> None:
        self.user_key = user_key

    def authenticate(self, request: Any) -> Any:
        from viperhttp_session import get_request_session

        session = get_request_session(request)
        if session is None:
            return None
        user = session.get(self.user_key)
        return user if user else None


def _digest_table(table: Optional[Dict[str, Any]], hashed: bool) -> Dict[str, Any]:
    """The map keyed by SHA-256 hex of the secret (plain maps are re-keyed once, here), so a
    lookup hashes the presented value and compares digests: the dict's `==` on a key never
    runs over the secret itself, and timing can reveal at most a digest prefix."""
    if not table:
        return {}
    if hashed:
        return {str(k).strip().lower(): v for k, v in table.items()}
    return {sha256_hex(k): v for k, v in table.items()}


def _lookup(table: Dict[str, Any], value: str) -> Any:
    if not table:
        return None
    return table.get(sha256_hex(value))


class BearerAuth(AuthBackend):
    """`Authorization: Bearer <token>`: `validator(token)`, else `tokens[token]` (keys are
    SHA-256 hex of the tokens when `tokens_hashed`). `token=` is the docs' one-token form.
    `tokens` is read at construction (re-keyed by digest); changing it later has no effect."""

    name = "bearer"
    challenge = "Bearer"

    def __init__(self, tokens: Optional[Dict[str, Any]] = None, validator: Optional[Callable[[str], Any]] = None,
                 tokens_hashed: bool = False, *, token: Optional[str] = None) -> None:
        if token is not None:
            tokens = dict(tokens or {})
            tokens[token] = {"sub": "bearer", "source": "bearer"}
        self.tokens = tokens
        self.validator = validator
        self.tokens_hashed = bool(tokens_hashed)
        self._table = _digest_table(tokens, self.tokens_hashed)  # read once: see docs

    def authenticate(self, request: Any) -> Any:
        header = request.headers.get("authorization")
        if not isinstance(header, str) or header[:7].lower() != "bearer ":
            return None
        token = header[7:].strip()
        if not token:
            return None
        if self.validator is not None:
            return self.validator(token)
        return _lookup(self._table, token)


class APIKeyAuth(AuthBackend):
    """An API key in a header (case-insensitive name), else a query parameter."""

    name = "apikey"
    challenge = "ApiKey"

    def __init__(self, header_name: str = "x-api-key", query_name: Optional[str] = "api_key",
                 keys: Optional[Dict[str, Any]] = None, validator: Optional[Callable[[str], Any]] = None,
                 keys_hashed: bool = False, *, api_key: Optional[str] = None,
                 header: Optional[str] = None) -> None:
        if header is not None:
            header_name = header
        if api_key is not None:
            keys = dict(keys or {})
            keys[api_key] = {"sub": "apikey", "source": "apikey"}
        self.header_name = header_name
        self.query_name = query_name
        self.keys = keys
        self.validator = validator
        self.keys_hashed = bool(keys_hashed)
        self._table = _digest_table(keys, self.keys_hashed)  # read once: see docs

    def authenticate(self, request: Any) -> Any:
        value = request.headers.get(self.header_name) if self.header_name else None
        if value is None and self.query_name:
            value = request.query_params.get(self.query_name)
        if not isinstance(value, str):
            return None
        value = value.strip()
        if not value:
            return None
        if self.validator is not None:
            return self.validator(value)
        return _lookup(self._table, value)


def _password_matches(stored: Any, password: str) -> bool:
    """Stored forms: plain text, `"sha256:<hex>"`, or a dict whose `hash`/`password` holds one."""
    if isinstance(stored, dict):
        stored = stored.get("hash", stored.get("password"))
    if not isinstance(stored, str):
        return False
    if stored[:7].lower() == "sha256:":
        return _equal(sha256_hex(password), stored[7:].strip().lower())
    return _equal(password, stored)


class BasicAuth(AuthBackend):
    """`Authorization: Basic base64(user:password)`: `validator(user, password)`, else the
    `users` mapping (see `_password_matches`); a user dict's `roles` are passed on."""

    name = "basic"
    challenge = "Basic"

    def __init__(self, users: Optional[Dict[str, Any]] = None,
                 validator: Optional[Callable[[str, str], Any]] = None) -> None:
        self.users = users
        self.validator = validator

    @staticmethod
    def credentials(request: Any) -> Optional[tuple]:  # type: ignore[type-arg]
        """`(user, password)` from the header, or None when absent or malformed."""
        header = request.headers.get("authorization")
        if not isinstance(header, str) or header[:6].lower() != "basic ":
            return None
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        user, colon, password = raw.partition(":")
        if not colon:
            return None
        return user, password

    def authenticate(self, request: Any) -> Any:
        creds = self.credentials(request)
        if creds is None:
            return None
        user, password = creds
        if self.validator is not None:
            return self.validator(user, password)
        stored = (self.users or {}).get(user)
        if stored is None:
            _password_matches(_DUMMY, password)
            return None
        if not _password_matches(stored, password):
            return None
        result: Dict[str, Any] = {"username": user, "source": "basic"}
        if isinstance(stored, dict) and isinstance(stored.get("roles"), (list, tuple)):
            result["roles"] = list(stored["roles"])
        return result

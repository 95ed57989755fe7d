"""CSRF rules shared by `SessionMiddleware` and `CSRFMiddleware` (docs/sessions-auth.md#csrf).

A request is checked when its method is listed, its path is not exempt and (by default) the
session holds a truthy user (under `user_key`, default `"user"`). A checked request must pass
the origin check (`Origin`, else `Referer`, against `Host` and the trusted origins; scheme not
compared, port compared) and carry the session's token in the header (or, when configured, a
form field), compared in constant time. Failures are 403 `text/plain` answers.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Any, Iterable, List, Optional, Tuple

from viperhttp import PlainTextResponse

__all__ = ["CSRFPolicy", "new_csrf_token", "normalize_origin"]

DEFAULT_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def new_csrf_token() -> str:
    return secrets.token_hex(16)


def normalize_origin(value: str) -> str:
    """`https://Example.com:8443/x` → `example.com:8443`: lower-case host with its port."""
    text = value.strip().lower()
    scheme_end = text.find("://")
    if scheme_end >= 0:
        text = text[scheme_end + 3:]
    for sep in "/?#":
        cut = text.find(sep)
        if cut >= 0:
            text = text[:cut]
    at = text.rfind("@")  # userinfo is never part of an origin
    return text[at + 1:] if at >= 0 else text


def _forbidden(text: str) -> Any:
    return PlainTextResponse(text, status_code=403)


class CSRFPolicy:
    """The configured rules; `check(request, session)` returns None (pass) or a 403 response."""

    __slots__ = ("header", "methods", "exact", "prefixes", "token_key", "require_user",
                 "check_origin", "allow_missing_origin", "trusted", "form_field", "user_key")

    def __init__(self, header: str = "X-CSRF-Token", methods: Optional[Iterable[str]] = None,
                 exempt_paths: Optional[Iterable[str]] = None, token_key: str = "_csrf",
                 require_user: bool = True, check_origin: bool = True,
                 allow_missing_origin: bool = True, trusted_origins: Optional[Iterable[str]] = None,
                 form_field: Optional[str] = None, user_key: str = "user") -> None:
        if not isinstance(header, str) or not header:
            raise TypeError("csrf header must be a non-empty str")
        if not isinstance(token_key, str) or not token_key:
            raise TypeError("csrf token key must be a non-empty str")
        if isinstance(exempt_paths, str) or isinstance(trusted_origins, str) or isinstance(methods, str):
            raise TypeError("csrf methods, exempt paths and trusted origins must be lists, not str")
        self.header = header
        # exact and upper-case, as the rule says: a lower-case method is simply not listed
        self.methods = frozenset(DEFAULT_METHODS if methods is None else methods)
        exact: List[str] = []
        prefixes: List[str] = []
        for entry in exempt_paths or ():
            if entry.endswith("*"):
                prefixes.append(entry[:-1])
            else:
                exact.append(entry)
        self.exact = frozenset(exact)
        self.prefixes: Tuple[str, ...] = tuple(prefixes)
        self.token_key = token_key
        self.require_user = bool(require_user)
        self.check_origin = bool(check_origin)
        self.allow_missing_origin = bool(allow_missing_origin)
        self.trusted = frozenset(normalize_origin(o) for o in trusted_origins or ())
        self.form_field = form_field
        if not isinstance(user_key, str) or not user_key:
            raise TypeError("user key must be a non-empty str")
        self.user_key = user_key

    def applies(self, request: Any, session: Any) -> bool:
        if request.method not in self.methods:
            return False
        path = request.path
        if path in self.exact or (self.prefixes and path.startswith(self.prefixes)):
            return False
        return not self.require_user or bool(session.get(self.user_key))

    def check(self, request: Any, session: Any) -> Any:
        """Runs the rules for one request; None when it may proceed, else the 403 response."""
        token = session.get(self.token_key)
        if not self.applies(request, session):
            if token:
                request.state["csrf_token"] = token
            return None
        if not token:
            token = new_csrf_token()
            session[self.token_key] = token  # reaches the client only via a later request
        request.state["csrf_token"] = token
        if self.check_origin and not self._origin_ok(request):
            return _forbidden("Invalid CSRF origin")
        sent = self._sent_token(request)
        if not sent or not isinstance(token, str) or not hmac.compare_digest(
                sent.encode("utf-8", "replace"), token.encode("utf-8", "replace")):
            return _forbidden("Invalid CSRF token")
        return None

    def _origin_ok(self, request: Any) -> bool:
        headers = request.headers
        origin = headers.get("origin")
        referer = headers.get("referer")
        if origin is None and referer is None:
            return self.allow_missing_origin
        host = normalize_origin(headers.get("host") or "")
        for value in (origin, referer):
            if value is None:
                continue
            seen = normalize_origin(value)
            if not seen or (seen != host and seen not in self.trusted):
                return False
        return True

    def _sent_token(self, request: Any) -> str:
        value = request.headers.get(self.header)
        if value is None and self.form_field:
            content_type = (request.headers.get("content-type") or "").lower()
            if any(t in content_type for t in _FORM_TYPES):
                try:
                    field = request.form().get(self.form_field)
                except Exception:  # a malformed body is simply "no token"
                    field = None
                value = field if isinstance(field, str) else None
        return value.strip() if isinstance(value, str) else ""

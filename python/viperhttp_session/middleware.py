"""`SessionMiddleware`, `CSRFMiddleware` and the request helpers (docs/internals/sessions-auth.md).

Per request `SessionMiddleware` reads and verifies the cookie, loads the session from the
store, attaches it as `request.session`, runs the CSRF rules, calls the rest of the chain and
then saves, touches, rotates or deletes the session and sets or clears the cookie. A store
failure (`SessionStoreError`) is a 503 and a `viperhttp.session` log line; a session over the
store's `max_bytes` raises `ValueError("session too large")` into the app's error path (500).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from typing import Any, Dict, Iterable, List, Optional

from viperhttp import PlainTextResponse, current_request
from viperhttp.request import parse_cookies

from .csrf import CSRFPolicy, new_csrf_token
from .session import Session, is_session_id, new_session_id
from .store import SessionStoreError

__all__ = ["SessionMiddleware", "CSRFMiddleware", "get_request_session", "get_request_cookies",
           "get_csrf_token"]

log = logging.getLogger("viperhttp.session")

_STATE_KEY = "_vhttp_session"
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_BAD_NAME = frozenset('()<>@,;:\\"/[]?={} \t\r\n\x7f') | frozenset(chr(i) for i in range(32))
_SIG_LEN = 64  # hex HMAC-SHA256


def _attr(value: Any, what: str) -> str:
    text = str(value)
    if not text or any(c in text for c in ";\r\n\x00"):
        raise ValueError(f"invalid cookie {what}")
    return text


class _Outage:
    """A store outage, logged once when it begins, then at most once per `REPORT_S` with the
    count of requests it refused, and once when the store answers again: one line per request
    (20 in 4 s) buried everything else. One per middleware (its store)."""

    REPORT_S = 10.0
    __slots__ = ("since", "last", "refused")

    def __init__(self) -> None:
        self.since: Optional[float] = None
        self.last = 0.0
        self.refused = 0

    def refuse(self, exc: BaseException) -> Any:
        now = time.monotonic()
        if self.since is None:
            self.since, self.last, self.refused = now, now, 0
            log.error("session_store_error %s; session requests get 503 until it answers", exc)
        else:
            self.refused += 1
            if now - self.last >= self.REPORT_S:
                log.error("session_store_error %s (%d more requests refused in %.0fs)", exc, self.refused,
                          now - self.last)
                self.last, self.refused = now, 0
        return PlainTextResponse("Session store unavailable", status_code=503, headers=[("Retry-After", "1")])

    def answered(self) -> None:
        """A store call succeeded (one attribute test when there is no outage)."""
        if self.since is not None:
            log.warning("session store reachable again after %.1fs", time.monotonic() - self.since)
            self.since = None


def _add_header(response: Any, name: str, value: str) -> None:
    """Appends a header (a new `Set-Cookie` never replaces the app's own)."""
    headers = response.get("headers")
    if headers is None:
        headers = []
    elif isinstance(headers, dict):
        headers = list(headers.items())
    elif not isinstance(headers, list):
        headers = list(headers)
    headers.append((name, value))
    response["headers"] = headers


class SessionMiddleware:
    """Signed-cookie sessions backed by a store; see docs/internals/sessions-auth.md for every keyword."""

    def __init__(self, app: Any = None, secret_key: Optional[str] = None, store: Any = None,
                 cookie_name: str = "vhttp_session", ttl_ms: int = 3600000, same_site: Any = "Lax",
                 http_only: bool = True, secure: bool = False, path: str = "/",
                 domain: Optional[str] = None, sign: bool = True, touch_on_read: bool = True,
                 csrf_protect: bool = True, csrf_header: str = "X-CSRF-Token",
                 csrf_methods: Optional[Iterable[str]] = None, csrf_require_user: bool = True,
                 csrf_exempt_paths: Optional[Iterable[str]] = None, csrf_token_key: str = "_csrf",
                 csrf_check_origin: bool = True, csrf_allow_missing_origin: bool = True,
                 csrf_trusted_origins: Optional[Iterable[str]] = None,
                 csrf_form_field: Optional[str] = None, rotate_on_login: bool = True,
                 user_key: str = "user") -> None:
        self.app = app
        if sign and not secret_key:
            raise ValueError("secret_key required when sign=True")
        if secret_key is not None and not isinstance(secret_key, (str, bytes)):
            raise TypeError("secret_key must be str or bytes")
        if not isinstance(cookie_name, str) or not cookie_name or any(c in _BAD_NAME for c in cookie_name):
            raise ValueError("invalid cookie name")
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            raise ValueError("ttl_ms must be a positive int")
        self._key = (secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key) if sign else None
        self.sign = bool(sign)
        self.cookie_name = cookie_name
        self.ttl_ms = ttl_ms
        self.touch_on_read = bool(touch_on_read)
        self.rotate_on_login = bool(rotate_on_login)
        self.store = store if store is not None else _default_store(ttl_ms)
        # Stores with an asyncio interface (Redis) are awaited; the others are called directly.
        self._async_store = callable(getattr(self.store, "aget", None))
        self._outage = _Outage()
        # One round trip for "read and extend" when the store offers it (Redis GETEX).
        self._get_touch = getattr(self.store, "aget_touch", None) if self.touch_on_read else None
        self.csrf: Optional[CSRFPolicy] = CSRFPolicy(
            csrf_header, csrf_methods, csrf_exempt_paths, csrf_token_key, csrf_require_user,
            csrf_check_origin, csrf_allow_missing_origin, csrf_trusted_origins,
            csrf_form_field, user_key) if csrf_protect else None
        if not isinstance(user_key, str) or not user_key:
            raise TypeError("user_key must be a non-empty str")
        self.user_key = user_key  # as SessionAuth(user_key=...): login rotation and CSRF follow it
        self.csrf_token_key = csrf_token_key
        label = None
        if same_site:
            label = _SAMESITE.get(str(same_site).lower())
            if label is None:
                raise ValueError("same_site must be 'Lax', 'Strict', 'None' or falsy")
        tail: List[str] = [f"Path={_attr(path, 'path')}"]
        if domain:
            tail.append(f"Domain={_attr(domain, 'domain')}")
        if http_only:
            tail.append("HttpOnly")
        if secure:
            tail.append("Secure")
        if label:
            tail.append(f"SameSite={label}")
        self._cookie_tail = "; ".join(tail)
        delete = [f"{cookie_name}=", "Max-Age=0", f"Path={path}"]
        if domain:
            delete.append(f"Domain={domain}")  # else the browser keeps a domain cookie
        delete.append("HttpOnly")
        if secure:
            delete.append("Secure")
        delete.append("SameSite=Lax")
        self._delete_cookie = "; ".join(delete)

    # --- cookie value ----------------------------------------------------------------------

    def _signature(self, sid: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, sid.encode("ascii"), hashlib.sha256).hexdigest()

    def cookie_value(self, sid: str) -> str:
        """`<sid>.<hex HMAC-SHA256(secret_key, sid)>` when signing, else `<sid>`."""
        return f"{sid}.{self._signature(sid)}" if self.sign else sid

    def verify(self, value: Any) -> Optional[str]:
        """The session id in a cookie value, or None when malformed or badly signed."""
        if not isinstance(value, str):
            return None
        if not self.sign:
            return value if is_session_id(value) else None
        sid, dot, sig = value.partition(".")
        if not dot or len(sig) != _SIG_LEN or not is_session_id(sid):
            return None
        if not hmac.compare_digest(sig.encode("ascii", "replace"), self._signature(sid).encode("ascii")):
            return None
        return sid

    def _set_cookie(self, sid: str) -> str:
        return f"{self.cookie_name}={self.cookie_value(sid)}; Max-Age={self.ttl_ms // 1000}; {self._cookie_tail}"

    # --- store calls -----------------------------------------------------------------------

    # Each store call that returns marks an outage over (`_Outage.answered`).

    async def _get(self, sid: str) -> Optional[Dict[str, Any]]:
        if self._async_store:
            data = await self.store.aget(sid)
        else:
            data = self.store.get(sid)
        self._outage.answered()
        return data  # type: ignore[no-any-return]

    async def _get_and_touch(self, sid: str) -> Optional[Dict[str, Any]]:
        assert self._get_touch is not None
        data = await self._get_touch(sid, self.ttl_ms)
        self._outage.answered()
        return data  # type: ignore[no-any-return]

    async def _set(self, sid: str, data: Dict[str, Any]) -> None:
        if self._async_store:
            await self.store.aset(sid, data, self.ttl_ms)
        else:
            self.store.set(sid, data, self.ttl_ms)
        self._outage.answered()

    async def _delete(self, sid: str) -> None:
        if self._async_store:
            await self.store.adelete(sid)
        else:
            self.store.delete(sid)
        self._outage.answered()

    async def _touch(self, sid: str) -> None:
        if self._async_store:
            await self.store.atouch(sid, self.ttl_ms)
        else:
            self.store.touch(sid, self.ttl_ms)
        self._outage.answered()

    # --- the request -----------------------------------------------------------------------

    async def load(self, request: Any) -> Session:
        """The request's session: the stored one for a valid cookie, else a new empty one."""
        sid = self.verify(get_request_cookies(request).get(self.cookie_name))
        if sid is None:
            session = Session()
        else:
            touched = self._get_touch is not None
            data = await (self._get_and_touch(sid) if touched else self._get(sid))
            session = Session(sid, data, new=False) if data is not None else Session()
            session._touched = touched and data is not None
        session._csrf_key = self.csrf_token_key
        if self.rotate_on_login:
            # compared by value after the handler: a user dict changed in place is not seen
            session._login_watch = (self.user_key, session.get(self.user_key))
        return session

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        try:
            session = await self.load(request)
        except SessionStoreError as exc:
            return self._outage.refuse(exc)
        _attach(request, session)
        if self.csrf is not None:
            refused = self.csrf.check(request, session)
            if refused is not None:
                return refused  # the session changes of this request are not saved
        response = await call_next(request)
        if response is None:
            return None
        try:
            await self.save(session, response)
        except SessionStoreError as exc:
            return self._outage.refuse(exc)
        return response

    async def save(self, session: Session, response: Any) -> None:
        """After the handler: delete, rotate, persist or touch, and set the cookie."""
        if session._invalidated:
            for sid in (session._old_sid, session._sid):
                if sid is not None:
                    await self._delete(sid)
            if not session._data:
                _add_header(response, "Set-Cookie", self._delete_cookie)
                return
            # Written after invalidate() (a logout followed by a flash message): the data goes
            # into a new session, under a new id, instead of being dropped without a word.
            session._sid, session._old_sid, session._new = None, None, True
        if session._logged_in():
            # (decision) a login on an existing session gets a new id, so a cookie planted
            # before the login (session fixation) is worthless afterwards, and a new CSRF token,
            # so a token learnt on the planted session is worthless too. get_csrf_token() during
            # this request already issued the new token (_csrf_fresh).
            if session._old_sid is None:
                session.rotate()
            key = session._csrf_key
            if not session._csrf_fresh and session.get(key) is not None:
                session[key] = new_csrf_token()
        if session._dirty or session._old_sid is not None or (session._new and len(session)):
            if session._sid is None:
                session._sid = new_session_id()
            try:
                await self._set(session._sid, session._data)
            except ValueError as exc:
                log.error("session_save_error %s (sid not stored, %d keys)", exc, len(session))
                raise
            # (decision) the old id is deleted only once the new one is stored: a failed save
            # (too large, store down) leaves the client its previous session
            if session._old_sid is not None:
                await self._delete(session._old_sid)
            _add_header(response, "Set-Cookie", self._set_cookie(session._sid))
        elif self.touch_on_read and not session._new and session._sid is not None and not session._touched:
            await self._touch(session._sid)


class CSRFMiddleware:
    """Only the CSRF rules, against the session attached by an outer `SessionMiddleware`."""

    def __init__(self, app: Any = None, header: str = "X-CSRF-Token", methods: Optional[Iterable[str]] = None,
                 exempt_paths: Optional[Iterable[str]] = None, token_key: str = "_csrf",
                 require_user: bool = True, check_origin: bool = True, allow_missing_origin: bool = True,
                 trusted_origins: Optional[Iterable[str]] = None, form_field: Optional[str] = None,
                 user_key: str = "user") -> None:
        self.app = app
        self.csrf = CSRFPolicy(header, methods, exempt_paths, token_key, require_user, check_origin,
                               allow_missing_origin, trusted_origins, form_field, user_key)

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        session = get_request_session(request)
        if session is not None:
            if isinstance(session, Session):
                # get_csrf_token() and the login renewal then use this middleware's token_key
                session._csrf_key = self.csrf.token_key
            refused = self.csrf.check(request, session)
            if refused is not None:
                return refused
        return await call_next(request)


def _default_store(ttl_ms: int) -> Any:
    shared = os.environ.get("VIPERHTTP_SHARED_STORE")
    if shared:
        from .redis_store import RedisSessionStore

        return RedisSessionStore(shared, ttl_ms=ttl_ms)
    from .vfs_store import VFSSessionStore

    return VFSSessionStore(ttl_ms=ttl_ms)


def _attach(request: Any, session: Session) -> None:
    try:
        request.session = session
    except AttributeError:  # a request object without a settable `session`
        request.state[_STATE_KEY] = session


# --- helpers -----------------------------------------------------------------------------------

def get_request_session(request: Any = None) -> Any:
    """The session attached to `request` (default: the current request), or None."""
    if request is None:
        request = current_request()
        if request is None:
            return None
    session = getattr(request, "session", None)
    if session is not None:
        return session
    state = getattr(request, "state", None)
    return state.get(_STATE_KEY) if isinstance(state, dict) else None


def get_request_cookies(request: Any) -> Dict[str, str]:
    """The request's cookies: `request.cookies`, else the parsed `Cookie` header."""
    cookies = getattr(request, "cookies", None)
    if isinstance(cookies, dict):
        return cookies
    headers = getattr(request, "headers", None) or {}
    return parse_cookies(headers.get("cookie"))


def get_csrf_token(request: Any = None) -> Optional[str]:
    """The CSRF token to hand to the client: the one this request was checked with, else the
    session's, else a new one stored in the session (which is then saved). During a login
    (the session's user changed in this request) always a new one. None without a session."""
    if request is None:
        request = current_request()
        if request is None:
            return None
    state = getattr(request, "state", None)
    session = get_request_session(request)
    if isinstance(session, Session) and not session._csrf_fresh and session._logged_in():
        # a login in this request: never the pre-login token, which whoever planted the
        # session may know; the middleware keeps this one through the id rotation
        token = new_csrf_token()
        session[session._csrf_key] = token
        session._csrf_fresh = True
        if isinstance(state, dict):
            state["csrf_token"] = token
        return token
    if isinstance(state, dict) and state.get("csrf_token"):
        return state["csrf_token"]  # type: ignore[no-any-return]
    if session is None:
        return None
    key = getattr(session, "_csrf_key", "_csrf")
    token = session.get(key)
    if not token:
        token = new_csrf_token()
        session[key] = token
    if isinstance(state, dict):
        state["csrf_token"] = token
    return token  # type: ignore[no-any-return]

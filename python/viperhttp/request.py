"""The `Request` object and the query/cookie/header parsers behind it
(docs/internals/requests-responses.md#request).

This module owns what a handler sees of an HTTP request: `Request`, `Headers`, `QueryParams`,
`State`, `parse_query()` and `parse_cookies()`. Body forms are parsed by `viperhttp.forms`.

Hot path: the bridge builds one `Request` per HTTP request with `Request._from_native(...)`, which
only stores the raw values it is given (and the carried route match) in slots. Headers, query parameters, cookies, state,
JSON and forms are parsed on first access and cached in the instance `__dict__`; until then a
class attribute (None / `_UNSET`) answers, so an untouched member costs nothing, and a first
access costs no exception either (a raised-and-caught `AttributeError` costs about a microsecond,
more than the parsing it would guard).
"""
from __future__ import annotations

import json as _json
from urllib.parse import urlencode as _urlencode
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from viperhttp._native import parse_query_into as _parse_query_into
from viperhttp._native import query_pairs as _query_pairs
from viperhttp._native import first_header as _native_first_header
from viperhttp.exceptions import HTTPException
from viperhttp.request_types import URL, Address, Body, FormData, _awaitable, _Done, _maybe_awaited

__all__ = [
    "Request", "Headers", "QueryParams", "State", "parse_query", "parse_cookies", "MAX_QUERY_PAIRS",
]

#: docs/internals/requests-responses.md#request: pairs beyond this many are ignored (the original keeps 16).
MAX_QUERY_PAIRS = 64

_COOKIE_TRIM = " \t\r\n"


class Headers(dict):
    """Request headers: a dict with lower-case keys and case-insensitive `[]`, `get`, `in`.

    Repeated headers arrive joined with `", "` (`cookie` with `"; "`),
    docs/internals/requests-responses.md#request; `getlist(name)` gives each line's value
    (Starlette's), kept apart only for the names that were repeated.
    """

    __slots__ = ("_repeats",)

    def getlist(self, key: str) -> List[str]:
        """Every received value of header `key`, one per header line, in arrival order."""
        name = key.lower()
        repeats = getattr(self, "_repeats", None)
        if repeats is not None and name in repeats:
            return list(repeats[name])
        value = dict.get(self, name)
        return [] if value is None else [value]

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return dict.get(self, key.lower(), default)
        return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def __setitem__(self, key: str, value: str) -> None:
        self._forget(key.lower())
        dict.__setitem__(self, key.lower(), value)

    def __delitem__(self, key: str) -> None:
        self._forget(key.lower())
        dict.__delitem__(self, key.lower())

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self._forget(key.lower())
        return dict.pop(self, key.lower(), *default)

    def _forget(self, name: str) -> None:
        """A value set or removed by the app replaces the received lines `getlist` kept."""
        repeats = getattr(self, "_repeats", None)
        if repeats is not None:
            repeats.pop(name, None)

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.setdefault(self, key.lower(), default)

    def _add(self, name: str, value: str) -> None:
        """Add one received header line, joining repeats the way docs/internals/requests-responses.md#request
        says."""
        name = name.lower()
        old = dict.get(self, name)
        if old is None:
            dict.__setitem__(self, name, value)
        else:
            dict.__setitem__(self, name, old + ("; " if name == "cookie" else ", ") + value)
            repeats = getattr(self, "_repeats", None)
            if repeats is None:
                repeats = self._repeats = {}
            lines = repeats.get(name)
            if lines is None:
                lines = repeats[name] = [old]  # the first line's value, before any join
            lines.append(value)


class QueryParams(dict):
    """Decoded query parameters, first occurrence wins; `getlist(name)` gives every value.

    `getlist` re-reads the raw query string (kept in `_raw`), so the common case of a handler
    that never calls it pays nothing for it. When the framework replaces
    `request.query_params` with converted values, `getlist` still answers from the raw string
    (values are then the decoded strings, not the converted ones).
    """

    __slots__ = ("_raw",)

    def getlist(self, name: str) -> List[Any]:
        values = [v for k, v in self.multi_items() if k == name]
        if not values and name in self:
            values = [dict.__getitem__(self, name)]
        return values

    def multi_items(self) -> List[Tuple[str, Any]]:
        """Every (name, value) pair in order, repeats included (at most `MAX_QUERY_PAIRS`)."""
        raw = getattr(self, "_raw", None)
        if raw is None:
            return list(self.items())
        return _query_pairs(raw, MAX_QUERY_PAIRS)

    def __str__(self) -> str:
        """Starlette's: the pairs URL-encoded again (`a=1&b=2`), for the links an app builds
        (`f"{request.url.path}?{request.query_params}"`); `repr` stays the dict's."""
        return _urlencode(self.multi_items())


class State(dict):
    """Per-request scratch dict that also allows attribute access (`request.state.user`)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def parse_query(qs: str, limit: int = MAX_QUERY_PAIRS) -> QueryParams:
    """Parse a raw query string (without `?`) per docs/internals/requests-responses.md#request.

    Split on `&`, then at the first `=`; a pair without `=` gets `""`; pairs with an empty key
    are ignored; the first occurrence of a key wins; at most `limit` pairs are read. The reading
    is native (crates/viperhttp-py/src/query.rs, the one owner of these rules).
    """
    result = QueryParams()
    if isinstance(qs, (bytes, bytearray)):
        qs = bytes(qs).decode("latin-1")
    result._raw = qs
    if qs:
        _parse_query_into(qs, limit, result)
    return result


def parse_cookies(header: Optional[str]) -> Dict[str, str]:
    """Parse a `Cookie` header per docs/internals/requests-responses.md#request (no unquoting, later
    duplicates overwrite)."""
    cookies: Dict[str, str] = {}
    if not header:
        return cookies
    for chunk in header.split(";"):
        name, _, value = chunk.partition("=")
        name = name.strip(_COOKIE_TRIM)
        if name:
            cookies[name] = value.strip(_COOKIE_TRIM)
    return cookies


def _parse_headers_blob(blob: Union[bytes, bytearray, memoryview, str, None]) -> Headers:
    """Decode the native `name\\0value\\0...` blob (names already lower-case, IPC contract)."""
    if not blob:
        return Headers()
    if isinstance(blob, str):
        parts = blob.split("\0")
    else:
        data = bytes(blob)
        try:
            parts = data.decode("utf-8").split("\0")
        except UnicodeDecodeError:
            # Header values are bytes on the wire; most are ASCII or UTF-8, and a value that is
            # neither is read as latin-1 so it still round-trips byte for byte.
            parts = [_decode_header_part(p) for p in data.split(b"\0")]
    it = iter(parts)
    plain = dict(zip(it, it))  # the trailing "" after the last \0 has no partner
    if len(plain) == len(parts) >> 1:
        return Headers(plain)  # no repeated names: one C-level copy
    headers = Headers()
    it = iter(parts)
    add = headers._add
    for name, value in zip(it, it):
        if name:
            add(name, value)
    return headers


def _decode_header_part(part: bytes) -> str:
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        return part.decode("latin-1")


def first_header(request: Any, name: str) -> Optional[str]:
    """The first value of header `name` (lower-case), read from the native blob when
    `request.headers` was not built yet: a typed body route asks only for `content-type`, and
    building every header for it cost ~0.8 µs of the request. The scan is native
    (`_native.first_header`, over the IPC crate's blob reader: ~0.2 µs where a Python scan cost
    ~0.6), so a value that happens to spell the name is never taken for it."""
    headers = request._headers
    blob = request._hblob
    if headers is not None or type(blob) is not bytes:
        return request.headers.get(name)
    return _native_first_header(blob, name.encode("latin-1"))


def _headers_from(value: Any) -> Headers:
    """Build `Headers` from what a test passes to `Request(headers=...)`."""
    headers = Headers()
    if not value:
        return headers
    items: Iterable[Tuple[Any, Any]] = value.items() if isinstance(value, dict) else value
    for name, val in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(val, bytes):
            val = val.decode("latin-1")
        headers._add(str(name), str(val))
    return headers


_is_cancelled_fn: Any = None


def _is_cancelled_lookup() -> Any:
    """Find `is_cancelled(request_id)` once: `_native` first, then the package
    (docs/internals/bridge.md#client-disconnect)."""
    global _is_cancelled_fn
    if _is_cancelled_fn is None:
        fn: Any = False
        try:
            from viperhttp import _native  # type: ignore[attr-defined]

            fn = getattr(_native, "is_cancelled", None) or False
        except ImportError:
            pass
        if not fn:
            try:
                import viperhttp

                fn = getattr(viperhttp, "is_cancelled", None) or False
            except ImportError:
                pass
        _is_cancelled_fn = fn
    return _is_cancelled_fn


_UNSET: Any = object()


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON (RFC 8259); the stdlib accepts them unless told otherwise.
    raise ValueError(f"invalid JSON constant {name}")


class Request:
    """One HTTP request as seen by middleware, dependencies and handlers
    (docs/internals/requests-responses.md#request)."""

    # The nine raw members, the carried route match, the path parameters and the response plan
    # of a bare coroutine are slots: every request stores them, and a store into `__dict__` would
    # create that dict per request (~0.1 µs with its free). `__dict__` keeps arbitrary attributes possible
    # (docs/internals/requests-responses.md#request decision) and holds the lazily parsed caches,
    # whose class defaults below answer until a value is stored.
    __slots__ = (
        "request_id", "method", "path", "query", "_body", "_client", "scheme", "http_version",
        "_hblob", "_route", "_path_params", "_finish", "__dict__",
    )
    #: `_route`: (method, path, route_id, params) as the runtime matched them, or None.
    #: `_path_params`: the storage behind `path_params` (None until set or read).
    _route: Optional[Tuple[str, str, int, Dict[str, Any]]]
    _path_params: Optional[Dict[str, Any]]
    #: `_finish`: the route's response plan for a bare handler coroutine's return value, set by
    #: `call_route` for the bridge (docs/internals/bridge.md#bare-coroutine); None for the rest.
    #: A slot: stored into `__dict__` it would create that dict for every typed request.
    _finish: Optional[Callable[[Any], Any]]

    _background: Any = None  # the framework's BackgroundTasks, read by the bridge
    _sub_response: Any = None  # a `response: Response` parameter's object (responses.sub_response_for)
    #: streams that took over the route's `yield` dependencies (stream_routes._HandedOver)
    _handed_over: Any = None
    _headers: Optional[Headers] = None
    _qp: Optional[QueryParams] = None
    _cookies: Optional[Dict[str, str]] = None
    _state: Optional["State"] = None
    _json: Any = _UNSET
    _form: Optional[Dict[str, Any]] = None
    #: set by session middleware / auth (docs/internals/sessions-auth.md)
    session: Any = None
    user: Any = None

    def __init__(
        self,
        method: str = "GET",
        path: str = "/",
        query: str = "",
        headers: Any = None,
        body: Union[bytes, bytearray, str, None] = b"",
        *,
        client: Optional[Tuple[str, int]] = None,
        scheme: str = "http",
        http_version: str = "1.1",
        request_id: Optional[int] = None,
    ) -> None:
        # Public constructor for tests (docs/internals/requests-responses.md#request decision). A path
        # carrying `?query` is split when no separate query is given, so `Request(path="/a?x=1")` works as
        # expected.
        if not query and "?" in path:
            path, _, query = path.partition("?")
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        self.request_id = request_id
        self.method = method.upper()
        self.path = path
        self.query = query
        self._body = body
        self._client = client
        self.scheme = scheme
        self.http_version = http_version
        self._hblob = None
        self._route = None
        self._path_params = None
        self._finish = None
        self._headers = _headers_from(headers)

    @classmethod
    def _from_native(
        cls,
        request_id: int,
        method: str,
        path: str,
        query: str,
        headers_blob: Union[bytes, str, None],
        body: bytes,
        client: Optional[Tuple[str, int]],
        scheme: str,
        http_version: str,
        route_id: Optional[int] = None,
        route_params: Optional[Dict[str, Any]] = None,
    ) -> "Request":
        """Bridge constructor: stores the raw values only; everything else is parsed lazily.
        `route_id` / `route_params`: the runtime's route match, when it carried one
        (docs/internals/ipc.md, "Route once")."""
        self = _new_object(cls)
        self._route = None if route_id is None else (method, path, route_id, route_params)
        self._path_params = None
        self._finish = None
        self.request_id = request_id
        self.method = method
        self.path = path
        self.query = query
        self._hblob = headers_blob
        self._body = body
        self._client = client
        self.scheme = scheme
        self.http_version = http_version
        return self

    # --- Starlette spellings over the raw members (docs/internals/typed-api.md) ------------------------

    @property
    def body(self) -> "Body":
        """The raw body as bytes, which `await request.body()` also returns (Starlette)."""
        body = self._body
        if type(body) is not Body:
            body = self._body = Body(body or b"")
        return body

    @body.setter
    def body(self, value: Any) -> None:
        self._body = value

    @property
    def client(self) -> Optional["Address"]:
        """`(host, port)` of the peer, also as `.host` / `.port`; None when unknown."""
        client = self._client
        if client is not None and type(client) is not Address:
            client = self._client = Address(*client)
        return client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value

    # --- lazily parsed members -------------------------------------------------------------

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = _parse_headers_blob(self._hblob)
        return headers

    @headers.setter
    def headers(self, value: Any) -> None:
        self._headers = value if isinstance(value, Headers) else _headers_from(value)

    @property
    def query_string(self) -> str:
        return self.query

    @property
    def query_params(self) -> QueryParams:
        qp = self._qp
        if qp is None:
            qp = self._qp = parse_query(self.query)
        return qp

    @query_params.setter
    def query_params(self, value: Optional[Dict[str, Any]]) -> None:
        if value is not None and type(value) is not QueryParams:
            converted = QueryParams(value)
            converted._raw = self.query  # getlist() keeps answering from the raw string
            value = converted
        self._qp = value  # None: back to lazy parsing of the raw string

    @property
    def path_params(self) -> Dict[str, Any]:
        params = self._path_params
        if params is None:
            params = self._path_params = {}
        return params

    @path_params.setter
    def path_params(self, value: Dict[str, Any]) -> None:
        self._path_params = value

    @property
    def cookies(self) -> Dict[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookies(self.headers.get("cookie"))
        return cookies

    @cookies.setter
    def cookies(self, value: Dict[str, str]) -> None:
        self._cookies = value

    @property
    def app(self) -> Any:
        """The app serving this request (Starlette's `request.app`): the process's one active app."""
        from .app import active_app  # late: app imports this module

        return active_app()

    @property
    def state(self) -> "State":
        state = self._state
        if state is None:
            # Starlette's lifespan state: what `lifespan` yielded, a shallow copy per request, made
            # when the request first looks at its state (docs/internals/lifespan.md)
            state = self._state = State(getattr(self.app, "_lifespan_state", None) or ())
        return state

    @state.setter
    def state(self, value: Dict[str, Any]) -> None:
        self._state = value if isinstance(value, State) else State(value or {})

    @property
    def url(self) -> "URL":
        """`scheme://host/path?query` rebuilt from the `Host` header ("localhost" without one);
        a str with Starlette's `.scheme .netloc .hostname .port .path .query` too."""
        host = self.headers.get("host") or "localhost"
        url = f"{self.scheme}://{host}{self.path}"
        return URL(f"{url}?{self.query}" if self.query else url)

    @property
    def base_url(self) -> "URL":
        """Starlette's `request.base_url`: `scheme://host/`, with the app's `root_path` before
        the last slash (docs/guide/deployment.md, "Behind a proxy")."""
        root = getattr(self.app, "root_path", "")
        return URL(f"{self.scheme}://{self.headers.get('host') or 'localhost'}{root}/")

    def url_for(self, name: str, /, **path_params: Any) -> "URL":
        """Starlette's `request.url_for`: the absolute URL of the route called `name`
        (`ViperHTTP.url_path_for`)."""
        return URL(self.base_url.rstrip("/") + self.app.url_path_for(name, **path_params))

    # --- body helpers ----------------------------------------------------------------------

    def json(self) -> Any:
        """Parse the body as JSON once; failure → 400 `Invalid JSON`.

        Synchronous like the original, and awaitable like Starlette's: the value comes back as
        an awaitable subclass of its type (dict, list, str, int, float); `true`/`false`/`null`
        cannot be subclassed, so for those an `await` from a coroutine gets an awaitable
        (docs/internals/typed-api.md).
        """
        value = self._json
        if value is _UNSET:
            value = self._json = _awaitable(self._parse_json())
        if value is None or type(value) is bool:
            return _maybe_awaited(value)
        return value

    def _parse_json(self) -> Any:
        body = self._body
        if not body or not isinstance(body, (bytes, bytearray)):
            raise HTTPException(400, "Invalid JSON")
        try:
            value = _json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "Invalid JSON") from None
        return value

    async def ajson(self) -> Any:
        """Async alias of `json()` for `await request.ajson()` (docs/internals/requests-responses.md#request
        decision)."""
        value = self.json()
        return value.value if type(value) is _Done else value

    def form(self) -> Dict[str, Any]:
        """Parse an urlencoded or multipart body once (synchronous); rules in `viperhttp.forms`."""
        form = self._form
        if form is None:
            from viperhttp.forms import parse_form  # late: only form handlers need it

            form = self._form = FormData(parse_form(self.headers.get("content-type"), self._body))
        return form

    async def is_disconnected(self) -> bool:
        """True once the runtime marked this request cancelled (client gone,
        docs/internals/bridge.md#client-disconnect)."""
        fn = _is_cancelled_lookup()
        if not fn or self.request_id is None:
            return False
        try:
            return bool(fn(self.request_id))
        except Exception:  # an unknown/finished id is simply "not cancelled"
            return False

    def __repr__(self) -> str:
        target = f"{self.path}?{self.query}" if self.query else self.path
        return f"<Request {self.method} {target}>"


_new_object = object.__new__

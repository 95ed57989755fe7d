"""Response objects, return-value normalisation, serialisation and cookies
(docs/internals/requests-responses.md#responses, docs/internals/bridge.md#decisions-on-serialisation).

Every response is a dict carrying `"__vhttp_response__": True`
(docs/internals/requests-responses.md#responses). The classes here subclass `dict` with exactly those keys and
add properties (`status_code`, `headers`, `body`, `media_type`) and the cookie helpers, so middleware can
treat them as dicts or as objects.

This module also answers for `viperhttp.responses` (docs/internals/framework.md): `RedirectResponse`,
`UploadFile`, `form_upload` are importable from here (fetched lazily, like `EventSourceResponse`
from `viperhttp_responses`, which owns SSE formatting, docs/internals/websocket.md#server-sent-events, to
avoid import cycles).
"""
from __future__ import annotations

import os
import time as _time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

# Only `files` at import time: `viperhttp.exceptions` imports this module, and `forms` imports
# `exceptions`, so `UploadFile`/`form_upload` are re-exported lazily (see `__getattr__`).
from viperhttp import _native
from viperhttp.files import host_path
from viperhttp.headerlist import HeaderList

__all__ = [
    "Response", "HeaderList", "JSONResponse", "HTMLResponse", "PlainTextResponse", "StreamingResponse",
    "FileResponse", "RedirectResponse", "EventSourceResponse", "UploadFile", "form_upload",
    "normalize", "serialize_response", "is_response", "set_cookie", "delete_cookie", "json_dumps",
]

TEXT_PLAIN = "text/plain; charset=utf-8"
TEXT_HTML = "text/html; charset=utf-8"
APPLICATION_JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
MARKER = "__vhttp_response__"
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


#: Compact JSON, byte-identical to `json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
#: allow_nan=False)` with `encoders.json_default` for the rest (crates/viperhttp-py/src/json.rs).
json_dumps: Callable[[Any], bytes] = _native.json_dumps


# --- response classes ----------------------------------------------------------------------

def _merge_alias(value: Any, alias: Any, name: str, alias_name: str) -> Any:
    """`content=` / `media_type=` (FastAPI spellings, docs/internals/requests-responses.md#responses); both
    spellings → TypeError."""
    if alias is None:
        return value
    if value is not None:
        raise TypeError(f"give either {name}= or {alias_name}=, not both")
    return alias


def _media_alias(content_type: Optional[str], media_type: Optional[str]) -> Optional[str]:
    """`media_type=` is Starlette's spelling, so Starlette's rule comes with it: a `text/*` type
    without a charset gets `; charset=utf-8`. `content_type=` (the original's) is sent as given
    (docs/internals/requests-responses.md#responses)."""
    if media_type is None:
        return content_type
    content_type = _merge_alias(content_type, media_type, "content_type", "media_type")
    if type(media_type) is str and media_type.startswith("text/") and "charset=" not in media_type.lower():
        return media_type + "; charset=utf-8"
    return content_type


def _check_int(value: Any, name: str) -> int:
    # bool is an int subclass but never a valid status / size; IntEnum (HTTPStatus) is fine.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int")
    return int(value)


def _check_status(status_code: Any) -> int:
    # The 100..999 range is checked by `send_response` (docs/internals/bridge.md#decisions-on-serialisation),
    # not here.
    return _check_int(status_code, "status_code")


def _check_headers(headers: Any) -> Any:
    """The response's own copy of `headers` (as Starlette's responses copy them): a header set
    on the response later never reaches the caller's dict, e.g. a module-level constant."""
    if headers is None:
        return None
    if isinstance(headers, (list, tuple)):
        return list(headers)
    if isinstance(headers, Mapping):  # Starlette's responses take any mapping
        return dict(headers)
    raise TypeError("headers must be a mapping, a list of (name, value) pairs or None")


def _attach_background(response: "Response", background: Any) -> None:
    """Starlette's `background=`: a `BackgroundTasks` or a `BackgroundTask`, run after this
    response was sent, after the request's own tasks (the bridge adopts it, docs/internals/bridge.md)."""
    if not (hasattr(background, "drain_tasks") or callable(getattr(background, "func", None))):
        raise TypeError("background must be a BackgroundTasks or a BackgroundTask")
    response["background"] = background


_UNSET: Any = object()


def _leading(first: Any, body: Any, status_code: Any, content: Any) -> Tuple[Any, Any, Any]:
    """(status_code, body, content) from the first positional argument of `Response` /
    `JSONResponse`: an int is the original's status code (`Response(404, "gone")`); anything
    else is FastAPI's content (`JSONResponse({"x": 1})`, `JSONResponse(data, 400)`,
    `JSONResponse(data, status_code=400)`), whose second positional is then the status."""
    if first is _UNSET:
        return (200 if status_code is None else status_code), body, content
    if isinstance(first, int) and not isinstance(first, bool):
        if status_code is not None:
            raise TypeError("status_code given twice")
        return first, body, content
    if content is not None:
        raise TypeError("content given twice")
    if body is not None:  # FastAPI's second positional: the status code
        if status_code is not None:
            raise TypeError("status_code given twice")
        status_code, body = _check_status(body), None
    return (200 if status_code is None else status_code), body, first


class Response(dict):
    """`Response(status_code=200, body=None, headers=None, content_type=None)`
    (docs/internals/requests-responses.md#responses), or FastAPI's order
    `Response(content, status_code=200, headers=None, media_type=None)`: a first positional
    argument that is not an int is the content.

    With `content_type=None` the type is derived from the body when serialised
    (docs/internals/requests-responses.md#return-values).
    """

    __slots__ = ()
    _default_type: Optional[str] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        # Starlette's `class PNGResponse(StreamingResponse): media_type = "image/png"`: the
        # class's default type; the attribute goes so instances keep the `media_type` property.
        super().__init_subclass__(**kw)
        media = cls.__dict__.get("media_type")
        if isinstance(media, str):
            cls._default_type = _media_alias(None, media)
            delattr(cls, "media_type")

    def __init__(self, first: Any = _UNSET, /, body: Any = None, headers: Any = None,
                 content_type: Optional[str] = None, *, status_code: Any = None, content: Any = None,
                 media_type: Optional[str] = None, background: Any = None) -> None:
        # Item stores rather than dict.__init__(**kw): about twice as fast, and exceptions.py
        # builds its 404/405/500 answers through here.
        if first is not _UNSET or status_code is None:
            status_code, body, content = _leading(first, body, status_code, content)
        if content is not None:
            body = _merge_alias(body, content, "body", "content")
        if media_type is not None:
            content_type = _media_alias(content_type, media_type)
        if type(status_code) is not int:
            status_code = _check_status(status_code)
        if headers is not None:  # the response's own copy: a header set later never reaches the caller's
            headers = _check_headers(headers)
        self[MARKER] = True
        self["status_code"] = status_code
        self["body"] = body
        self["headers"] = headers
        self["content_type"] = content_type if content_type is not None else self._default_type
        if background is not None:
            _attach_background(self, background)

    @property
    def status_code(self) -> int:
        return self.get("status_code", 200)

    @status_code.setter
    def status_code(self, value: int) -> None:
        self["status_code"] = value

    @property
    def headers(self) -> Any:
        """The headers value: a dict, or a `HeaderList` of pairs (also writable by name); a
        missing value becomes `{}` on access."""
        headers = self.get("headers")
        if headers is None:
            headers = self["headers"] = {}
        elif type(headers) is list:
            headers = self["headers"] = HeaderList(headers)
        return headers

    @headers.setter
    def headers(self, value: Any) -> None:
        self["headers"] = _check_headers(value)

    @property
    def body(self) -> Any:
        return self.get("body")

    @body.setter
    def body(self, value: Any) -> None:
        self["body"] = value

    @property
    def media_type(self) -> Optional[str]:
        return self.get("content_type")

    @media_type.setter
    def media_type(self, value: Optional[str]) -> None:
        self["content_type"] = value

    @property
    def body_iterator(self) -> Any:
        """Starlette's `body_iterator`: the body as the client would get it, as an async
        iterator of bytes (a stream's pieces; anything else encoded and given in one piece).
        Reading a stream consumes it, as in Starlette: a middleware that reads it sends a new
        response made from what it read."""
        return _body_pieces(self)

    def set_cookie(self, key: str, value: str = "", max_age: Optional[int] = None,
                   expires: Any = None, path: Optional[str] = "/", domain: Optional[str] = None,
                   secure: bool = False, httponly: bool = False,
                   samesite: Optional[str] = "lax") -> "Response":
        return set_cookie(self, key, value, max_age, expires, path, domain, secure, httponly,
                          samesite)

    def delete_cookie(self, key: str, path: Optional[str] = "/", domain: Optional[str] = None,
                      secure: bool = False, httponly: bool = False,
                      samesite: Optional[str] = "lax") -> "Response":
        return delete_cookie(self, key, path, domain, secure, httponly, samesite)


class JSONResponse(Response):
    """`JSONResponse(status_code=200, body=None, headers=None, content_type=None)`, or FastAPI's
    `JSONResponse(content, status_code=200, headers=None, media_type=None)` (a first positional
    argument that is not an int is the content): the body object is JSON-encoded when
    serialised; type `application/json` unless given.

    A dict or list stays as it is until it is sent (middleware may still change it); any other
    value but None and raw bytes is encoded here, so `JSONResponse("ok")` sends `"ok"` and
    `True` sends `true`, as FastAPI does, and never text that is not JSON
    (docs/internals/requests-responses.md#responses)."""

    __slots__ = ()
    _default_type = APPLICATION_JSON

    def __init__(self, first: Any = _UNSET, /, body: Any = None, headers: Any = None,
                 content_type: Optional[str] = None, *, status_code: Any = None, content: Any = None,
                 media_type: Optional[str] = None, background: Any = None) -> None:
        Response.__init__(self, first, body, headers, content_type, status_code=status_code, content=content,
                          media_type=media_type, background=background)
        body = self["body"]
        if body is not None and type(body) not in _KEPT_JSON_BODIES:
            self["body"] = _json_text(body)

    @Response.body.setter
    def body(self, value: Any) -> None:  # Response's getter, this setter
        self["body"] = value if value is None or type(value) in _KEPT_JSON_BODIES else _json_text(value)


#: JSONResponse bodies sent as they are: encoded when sent (dict, list) or already bytes.
_KEPT_JSON_BODIES = (dict, list, bytes, bytearray, memoryview)


def _json_text(value: Any) -> str:
    return json_dumps(value).decode("utf-8")


class HTMLResponse(Response):
    """`HTMLResponse(body="", status_code=200, headers=None)` — `text/html; charset=utf-8`."""

    __slots__ = ()
    _default_type = TEXT_HTML

    def __init__(self, body: Any = None, status_code: int = 200, headers: Any = None, *,
                 content: Any = None, content_type: Optional[str] = None,
                 media_type: Optional[str] = None, background: Any = None) -> None:
        body = _merge_alias(body, content, "body", "content")
        Response.__init__(self, body="" if body is None else body, headers=headers, content_type=content_type,
                          status_code=status_code, media_type=media_type, background=background)


class PlainTextResponse(HTMLResponse):
    """`PlainTextResponse(body="", status_code=200, headers=None)` — `text/plain; charset=utf-8`."""

    __slots__ = ()
    _default_type = TEXT_PLAIN


def _is_stream_source(body: Any) -> bool:
    return (isinstance(body, (str, bytes, bytearray, memoryview)) or hasattr(body, "read")
            or hasattr(body, "__iter__") or hasattr(body, "__aiter__"))


class StreamingResponse(Response):
    """`StreamingResponse(body, status_code=200, headers=None, content_type=None,
    chunk_size=16384, total_len=None, chunked=False)` (docs/internals/requests-responses.md#responses).

    `body` is a sync/async iterable (items str/bytes/bytearray/memoryview, None skipped), a
    str/bytes buffer or an object with `read(n)`. With a `text/event-stream` type, dict items
    are formatted as SSE events (docs/internals/websocket.md#server-sent-events). Without a type:
    `application/octet-stream`.
    """

    __slots__ = ()

    def __init__(self, body: Any = None, status_code: int = 200, headers: Any = None,
                 content_type: Optional[str] = None, chunk_size: int = 16384,
                 total_len: Optional[int] = None, chunked: bool = False, *,
                 content: Any = None, media_type: Optional[str] = None, background: Any = None) -> None:
        body = _merge_alias(body, content, "body", "content")
        content_type = _media_alias(content_type, media_type)
        if body is None:
            raise TypeError("body required")
        if not _is_stream_source(body):
            raise TypeError("stream body must be an iterable, an async iterable, str, bytes "
                            "or an object with read()")
        if content_type is not None and content_type.lower().startswith("text/event-stream"):
            from viperhttp_responses import sse_passthrough  # late: avoids an import cycle

            body = sse_passthrough(body)
        self._init_stream(body, status_code, headers, content_type, chunk_size, total_len,
                          chunked)
        if background is not None:
            _attach_background(self, background)

    def _init_stream(self, stream: Any, status_code: int, headers: Any,
                     content_type: Optional[str], chunk_size: int, total_len: Optional[int],
                     chunked: bool) -> None:
        if _check_int(chunk_size, "chunk_size") <= 0:
            raise ValueError("chunk_size must be > 0")
        if total_len is not None and _check_int(total_len, "total_len") < 0:
            raise ValueError("total_len must be None or an int >= 0")
        self[MARKER] = True
        self["status_code"] = _check_status(status_code)
        self["body"] = None
        self["headers"] = _check_headers(headers)
        self["content_type"] = content_type or self._default_type or OCTET_STREAM
        self["stream"] = stream
        self["chunk_size"] = int(chunk_size)
        self["total_len"] = total_len
        self["chunked"] = bool(chunked)


class FileResponse(StreamingResponse):
    """`FileResponse(path, status_code=200, headers=None, content_type=None, chunk_size=16384, *,
    media_type=None, filename=None, content_disposition_type="attachment")`.

    Served by the native runtime (docs/internals/static-files.md#fileresponse): the dict carries
    the absolute host path under `file`; the runtime opens the file when the response is sent and
    applies the static-file rules (type, ETag, `Last-Modified`, conditionals, ranges, `.gz`
    sibling) to the request it answers, then this response's status and headers. A missing file or
    a directory is answered `404 Not Found` then (the status here stays as given). `filename` adds
    `Content-Disposition` (RFC 5987 `filename*` for names `quote` changes) unless the headers have
    one, and picks the content type when none is given. `chunk_size` is checked and kept for
    compatibility; the runtime reads in its own 64 KiB chunks.
    """

    __slots__ = ()

    def __init__(self, path: Any, status_code: int = 200, headers: Any = None,
                 content_type: Optional[str] = None, chunk_size: int = 16384, *,
                 media_type: Optional[str] = None, filename: Optional[str] = None,
                 content_disposition_type: str = "attachment", background: Any = None) -> None:
        content_type = _media_alias(content_type, media_type)
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError("path must be a string")
        status_code = _check_status(status_code)
        if _check_int(chunk_size, "chunk_size") <= 0:
            raise ValueError("chunk_size must be > 0")
        headers = _check_headers(headers)
        if filename is not None:
            headers = _with_disposition(headers, filename, content_disposition_type)
        if content_type is None:
            # The runtime's table (crates/viperhttp-runtime/src/static_files/content_type.rs), so
            # `media_type` shows what is sent.
            content_type = _native.content_type_for(filename or path)
        self[MARKER] = True
        self["status_code"] = status_code
        self["body"] = None
        self["headers"] = headers
        self["content_type"] = content_type
        self["file"] = host_path(path)
        self["chunk_size"] = int(chunk_size)
        if background is not None:
            _attach_background(self, background)

    @property
    def path(self) -> str:
        """The absolute host path the runtime serves."""
        return self["file"]


def _with_disposition(headers: Any, filename: str, kind: str) -> Any:
    """`Content-Disposition` from `filename`, as Starlette writes it: `kind; filename="name"`, or
    `kind; filename*=utf-8''<percent-encoded>` when `quote` changes the name (non-ASCII, quotes,
    controls), so no raw byte of the name reaches the header. Headers that already carry one keep
    theirs."""
    from urllib.parse import quote  # late: only downloads need it

    if not isinstance(filename, str):
        raise TypeError("filename must be a str")
    quoted = quote(filename)
    if quoted != filename:
        value = f"{kind}; filename*=utf-8''{quoted}"
    else:
        value = f'{kind}; filename="{filename}"'
    return _with_default_headers(headers, (("Content-Disposition", value),))


def _with_default_headers(headers: Any, defaults: Tuple[Tuple[str, str], ...]) -> Any:
    """`headers` as every response takes them (`_check_headers`: any mapping, a list or tuple
    of pairs, None) with each of `defaults` added that they do not already carry (in any case):
    a value the caller gives wins. The caller's dict or list is not changed (a copy, as always)."""
    headers = _check_headers(headers)
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    given = {str(name).lower() for name, _ in items}
    missing = [(name, value) for name, value in defaults if name.lower() not in given]
    if headers is None:
        return dict(missing)
    if isinstance(headers, dict):
        headers.update(missing)  # our own copy already (`_check_headers`)
    else:
        headers.extend(missing)
    return headers


def _current_request_info() -> Tuple[str, Any]:
    """Method and headers of the request being handled, if any (docs/internals/framework.md);
    used by `TemplateResponse` for its `If-None-Match` and `Accept-Encoding` decisions."""
    try:
        from viperhttp import current_request  # late: the package imports this module
    except ImportError:
        return "GET", None
    request = current_request()
    if request is None:
        return "GET", None
    return getattr(request, "method", "GET") or "GET", getattr(request, "headers", None)


class RedirectResponse(Response):
    """`RedirectResponse(url, status_code=307, headers=None)`: `Location: url`, empty body.

    Like every constructor it also takes `content=` (the body, default empty) and `media_type=`
    (the content type, default `text/plain; charset=utf-8`), docs/internals/requests-responses.md#responses.
    """

    __slots__ = ()

    def __init__(self, url: str, status_code: int = 307, headers: Any = None, *,
                 content: Any = None, media_type: Optional[str] = None, background: Any = None) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("url must be a non-empty string")
        if (not isinstance(status_code, int) or isinstance(status_code, bool)
                or status_code not in _REDIRECT_CODES):
            raise ValueError("status_code must be one of 301, 302, 303, 307, 308")
        if "\r" in url or "\n" in url:
            raise ValueError("url must not contain line breaks")
        from urllib.parse import quote  # late: only redirects need it

        # Starlette's rule: spaces and non-ASCII are percent-encoded (a header value must be
        # ASCII); reserved characters and existing escapes are kept.
        url = quote(url, safe=":/%#?=@[]!$&'()*+,;")
        headers = _check_headers(headers)
        if headers is None or isinstance(headers, dict):
            headers = dict(headers or {})
            headers["Location"] = url
        else:
            headers = list(headers)
            headers.append(("Location", url))
        Response.__init__(self, body="" if content is None else content, headers=headers,
                          content_type=TEXT_PLAIN if media_type is None else _media_alias(None, media_type),
                          status_code=status_code, background=background)


def __getattr__(name: str) -> Any:
    # PEP 562 lazy re-exports, keeping the import graph acyclic: `EventSourceResponse` lives in
    # viperhttp_responses (which imports this module), `UploadFile`/`form_upload` in forms
    # (which imports exceptions, which imports this module).
    if name == "EventSourceResponse":
        from viperhttp_responses import EventSourceResponse

        return EventSourceResponse
    if name in ("UploadFile", "form_upload"):
        from viperhttp import forms

        return getattr(forms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- normalisation and serialisation --------------------------------------------------------

async def _body_pieces(resp: Dict[str, Any]) -> Any:
    """`Response.body_iterator`'s pieces, non-empty bytes."""
    path = resp.get("file")
    if path is not None:  # a FileResponse: the file as it is now
        with open(path, "rb") as f:
            data = f.read()
        if data:
            yield data
        return
    stream = resp.get("stream")
    if stream is None:
        body = serialize_response(resp)["body"]
        if body:
            yield bytes(body)
        return
    if isinstance(stream, (bytes, bytearray, memoryview, str)):
        stream = (stream,)
    if hasattr(stream, "__aiter__"):
        async for item in stream:
            if item:
                yield item.encode("utf-8") if isinstance(item, str) else bytes(item)
        return
    for item in stream:
        if item:
            yield item.encode("utf-8") if isinstance(item, str) else bytes(item)


def sub_response_for(request: Any) -> "Response":
    """The request's sub-response (FastAPI's `response: Response` parameter,
    docs/internals/typed-api.md "Request and response habits"): made on first use and shared by the
    handler and its dependencies. Its status is None until one is set; the route pipeline
    merges its status and headers into the response (`typed_response.merge_sub_response`)."""
    sub = request._sub_response
    if sub is None:
        sub = request._sub_response = Response()
        sub["status_code"] = None
    return sub


def is_response(obj: Any) -> bool:
    """True for any dict carrying `"__vhttp_response__": True`
    (docs/internals/requests-responses.md#responses)."""
    return isinstance(obj, dict) and obj.get(MARKER) is True


# The normalisation table and body serialisation have one owner, the binding's
# `crates/viperhttp-py/src/serialise.rs` (docs/internals/requests-responses.md, "Return
# values"): the bridge's hot path sends through it, so these names are the same functions.
normalize: Callable[[Any], Dict[str, Any]] = _native.normalize
serialize_response: Callable[[Any], Any] = _native.serialize_response


# --- cookies (docs/internals/requests-responses.md#cookies) -------------------------------------------------

_BAD_NAME = frozenset('()<>@,;:\\"/[]?={} \t\r\n\x7f') | frozenset(chr(i) for i in range(32))


def http_date(ts: float) -> str:
    """IMF-fixdate of a cookie's `Expires`, e.g. `Thu, 01 Jan 1970 00:00:00 GMT`."""
    # late: `email.utils` pulls in ~20 modules (socket, random, calendar, ...) that an app
    # setting no expiring cookie never needs (docs/internals/benchmarks.md "Memory")
    from email.utils import formatdate

    return formatdate(int(ts), usegmt=True)


def _cookie_expires(expires: Any) -> str:
    import datetime as _dt  # late: only `expires=` needs it (docs/internals/benchmarks.md "Memory")

    if isinstance(expires, _dt.datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=_dt.timezone.utc)
        return http_date(expires.timestamp())
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        return http_date(_time.time() + expires)  # seconds from now
    if isinstance(expires, str):
        return expires
    raise TypeError("expires must be an int (seconds from now), a str or a datetime")


# RFC 6265 §4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (no space,
# DQUOTE, comma, semicolon, backslash, controls or non-ASCII).
_COOKIE_OCTETS = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset('",;\\')


def _check_cookie_value(value: str) -> str:
    """A cookie value is emitted as given, so it must already be RFC 6265 cookie-octets,
    optionally inside one pair of double quotes (docs/internals/requests-responses.md, "Cookies").
    Anything else is refused rather than quoted: browsers and servers disagree on
    unquoting, and a space or comma would be read differently by each."""
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not all(c in _COOKIE_OCTETS for c in inner):
        raise ValueError("invalid cookie value: use only RFC 6265 cookie-octets "
                         "(no space, '\"', ',', ';', '\\\\', control or non-ASCII characters); "
                         "encode it first, e.g. with urllib.parse.quote")
    return value


def _check_attr(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\x00;"):
        raise ValueError(f"invalid cookie {what}")
    return value


def set_cookie(resp: Dict[str, Any], key: str, value: str = "", max_age: Optional[int] = None,
               expires: Any = None, path: Optional[str] = "/", domain: Optional[str] = None,
               secure: bool = False, httponly: bool = False,
               samesite: Optional[str] = "lax") -> Dict[str, Any]:
    """Append one `Set-Cookie` header to `resp` and return it.

    Order: `key=value; Path=...; Domain=...; Max-Age=...; Expires=...; Secure; HttpOnly;
    SameSite=Lax`. Dict headers are converted to a list of pairs (existing entries kept).
    """
    if not isinstance(key, str) or not key or any(c in _BAD_NAME for c in key):
        raise ValueError("invalid cookie name")
    value = _check_cookie_value("" if value is None else str(value))
    parts = [f"{key}={value}"]
    if path is not None:
        parts.append("Path=" + _check_attr(str(path), "path"))
    if domain is not None:
        parts.append("Domain=" + _check_attr(str(domain), "domain"))
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        parts.append("Expires=" + _check_attr(_cookie_expires(expires), "expires"))
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        label = _SAMESITE.get(str(samesite).lower())
        if label is None:
            raise ValueError("samesite must be 'lax', 'strict', 'none' or None")
        parts.append("SameSite=" + label)
    headers = resp.get("headers")
    if headers is None:
        headers = HeaderList()
    elif isinstance(headers, dict):
        headers = HeaderList(headers.items())
    elif type(headers) is not HeaderList:
        headers = HeaderList(headers)
    headers.append(("Set-Cookie", "; ".join(parts)))
    resp["headers"] = headers
    return resp


def delete_cookie(resp: Dict[str, Any], key: str, path: Optional[str] = "/",
                  domain: Optional[str] = None, secure: bool = False, httponly: bool = False,
                  samesite: Optional[str] = "lax") -> Dict[str, Any]:
    """`set_cookie` with an empty value, `Max-Age=0` and an `Expires` in 1970."""
    return set_cookie(resp, key, "", 0, "Thu, 01 Jan 1970 00:00:00 GMT", path, domain, secure,
                      httponly, samesite)


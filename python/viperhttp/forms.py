"""Form bodies: `application/x-www-form-urlencoded` and `multipart/form-data`
(docs/internals/requests-responses.md#request), and `UploadFile` / `form_upload` (re-exported by
`viperhttp_responses` and `viperhttp.responses`).

Host limits (docs/internals/requests-responses.md#request, docs/internals/http.md#limits): 64 fields / parts,
65536 bytes per key or value, and a file part no larger than the server's body limit (`MAX_FILE_SIZE`; the
bridge sets it from `run(max_body_size=...)`). Every malformed input ends in one of the specified
`HTTPException`s: nothing else escapes `parse_form()`.

Why a hand-written multipart parser: `cgi` is gone (3.13) and the stdlib `email` parser is built
for mail: it rewrites line endings in payloads, decodes transfer encodings, builds a message tree
per part and has no hook for the limits above. The runtime hands Python the whole body as one
blob (docs/internals/http.md), so a linear scan with `bytes.find` is both simpler and exact.
"""
from __future__ import annotations

import io
from typing import Any, Dict, List, Optional, Tuple, Union

from viperhttp._native import percent_decode as _percent_decode
from viperhttp.exceptions import HTTPException

__all__ = [
    "parse_form", "parse_urlencoded", "parse_multipart", "UploadFile", "form_upload",
    "MAX_FIELDS", "MAX_FIELD_SIZE", "MAX_FILE_SIZE",
]

#: Fields (urlencoded) / parts (multipart) per form (original 32; host decision 64).
MAX_FIELDS = 64
#: Bytes per urlencoded key or value, multipart field name or non-file value (original 8192).
MAX_FIELD_SIZE = 65536
#: Bytes per multipart file: the body limit (1 MiB default). The bridge sets this module global
#: from `run(max_body_size=...)`; the native runtime enforces the body limit anyway.
MAX_FILE_SIZE = 1048576

_BOUNDARY_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
)


def _too_large() -> HTTPException:
    return HTTPException(413, "Form field too large")


def _add_value(form: Dict[str, Any], name: str, value: Any) -> None:
    """A name seen again turns into a list of its values, in order."""
    if name in form:
        old = form[name]
        if isinstance(old, list):
            old.append(value)
        else:
            form[name] = [old, value]
    else:
        form[name] = value


def _plus_unquote(raw: bytes) -> bytes:
    # The one percent-decoder (crates/viperhttp-runtime/src/percent.rs); `+` is a space here.
    return _percent_decode(raw, True) if b"%" in raw or b"+" in raw else raw


def parse_urlencoded(body: bytes) -> Dict[str, Any]:
    """Pairs split like the query string and decoded like query values; repeats become lists."""
    form: Dict[str, Any] = {}
    count = 0
    for segment in body.split(b"&"):
        if not segment:
            continue
        raw_key, _, raw_value = segment.partition(b"=")
        if not raw_key:
            continue
        count += 1
        if count > MAX_FIELDS:
            raise HTTPException(413, "Too many form fields")
        key = _plus_unquote(raw_key)
        value = _plus_unquote(raw_value)
        if len(key) > MAX_FIELD_SIZE or len(value) > MAX_FIELD_SIZE:
            raise _too_large()
        _add_value(form, key.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    return form


def _header_params(value: str) -> Tuple[str, Dict[str, str]]:
    """Split `type; a=1; b="x y"` into the lower-cased main value and its parameters.

    Quoted strings may contain `;` and backslash escapes. Parameter names are lower-cased;
    `filename*=UTF-8''...` (RFC 5987) is decoded and takes the place of `filename`.
    """
    params: Dict[str, str] = {}
    main, rest = value, ""
    semi = value.find(";")
    if semi >= 0:
        main, rest = value[:semi], value[semi + 1:]
    i, n = 0, len(rest)
    eq = -1
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        # Linear overall: the next "=" is searched again only once `i` has passed it
        # (a hostile `;a;a;a…` list would otherwise rescan the tail for every token).
        if eq < i:
            eq = rest.find("=", i)
            if eq < 0:
                break
        semi = rest.find(";", i)
        if eq < 0 or (0 <= semi < eq):  # a bare token without "=": skip it
            i = n if semi < 0 else semi + 1
            continue
        name = rest[i:eq].strip().lower()
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: List[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n and rest[i + 1] in '"\\':
                    i += 1
                chars.append(rest[i])
                i += 1
            val = "".join(chars)
            i += 1
        else:
            end = rest.find(";", i)
            end = n if end < 0 else end
            val = rest[i:end].strip()
            i = end
        if name:
            params[name] = val
    ext = params.pop("filename*", None)
    if ext is not None:
        charset, _, encoded = ext.partition("'")
        _, _, encoded = encoded.partition("'")
        raw = _percent_decode(encoded.encode("utf-8"))  # RFC 5987: no `+` rule
        try:
            params["filename"] = raw.decode(charset or "utf-8", "replace")
        except (LookupError, ValueError):  # unknown or unusable charset (idna, NUL, …): UTF-8
            params["filename"] = raw.decode("utf-8", "replace")
    return main.strip().lower(), params


def _boundary_of(content_type: str) -> bytes:
    _, params = _header_params(content_type)
    boundary = params.get("boundary")
    if boundary is None:
        raise HTTPException(400, "Missing multipart boundary")
    # RFC 2046 §5.1.1: 1..70 characters from a fixed set, not ending in a space.
    if (not boundary or len(boundary) > 70 or boundary.endswith(" ")
            or not set(boundary) <= _BOUNDARY_CHARS):
        raise HTTPException(400, "Invalid multipart boundary")
    return boundary.encode("ascii")


def _part_headers(block: bytes) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("latin-1")
    pieces: Dict[str, List[str]] = {}
    last = ""
    for line in text.split("\r\n"):
        if not line:
            continue
        if line[0] in " \t" and last:  # obsolete line folding: continue the last header
            pieces[last].append(line.strip())  # joined once at the end: linear, not quadratic
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise HTTPException(400, "Invalid multipart headers")
        pieces[name] = [value.strip()]
        last = name
    for name, parts in pieces.items():
        headers[name] = " ".join(parts)
    return headers


def parse_multipart(body: bytes, content_type: str) -> Dict[str, Any]:
    """Parse a `multipart/form-data` body.

    File parts (a `filename` parameter, even empty) become
    `{"filename", "content_type", "data"}` dicts; other parts become str values.
    """
    boundary = _boundary_of(content_type)
    form: Dict[str, Any] = {}
    if not body:
        return form
    delimiter = b"--" + boundary
    next_delimiter = b"\r\n" + delimiter
    start = body.find(delimiter)
    # The delimiter must open the body or follow a line break (anything before is preamble).
    while start > 0 and body[start - 2:start] != b"\r\n":
        start = body.find(delimiter, start + 1)
    if start < 0:
        raise HTTPException(400, "Invalid multipart boundary")
    pos = start + len(delimiter)
    parts = 0
    file_limit = MAX_FILE_SIZE
    size = len(body)
    while True:
        if body.startswith(b"--", pos):
            break  # close delimiter; the epilogue after it is ignored
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            if not body[pos:].strip():
                break  # body ends right after a delimiter: tolerated as the end
            raise HTTPException(400, "Invalid multipart data")
        if body[pos:line_end].strip(b" \t"):  # only transport padding may follow a delimiter
            raise HTTPException(400, "Invalid multipart data")
        head_start = line_end + 2
        if head_start >= size:
            break
        if body.startswith(b"\r\n", head_start):
            head_end = head_start  # a part without headers: rejected below (no name)
        else:
            head_end = body.find(b"\r\n\r\n", head_start)
            if head_end < 0:
                raise HTTPException(400, "Invalid multipart headers")
        data_start = head_end + (2 if head_end == head_start else 4)
        data_end = body.find(next_delimiter, data_start)
        if data_end < 0:
            raise HTTPException(400, "Invalid multipart data")
        parts += 1
        if parts > MAX_FIELDS:
            raise HTTPException(413, "Too many form parts")
        headers = _part_headers(body[head_start:head_end])
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise HTTPException(400, "Invalid multipart headers")
        _, params = _header_params(disposition)
        name = params.get("name")
        if name is None:
            raise HTTPException(400, "Invalid multipart headers")
        if len(name.encode("utf-8", "surrogatepass")) > MAX_FIELD_SIZE:
            raise _too_large()
        length = data_end - data_start
        if "filename" in params:
            if length > file_limit:
                raise HTTPException(413, "Form file too large")
            value: Any = FilePart(filename=params["filename"], content_type=headers.get("content-type", ""),
                                  data=body[data_start:data_end])
            value.headers = headers
        else:
            if length > MAX_FIELD_SIZE:
                raise _too_large()
            value = body[data_start:data_end].decode("utf-8", "replace")
        _add_value(form, name, value)
        pos = data_end + len(next_delimiter)
    return form


def parse_form(content_type: Optional[str], body: Union[bytes, bytearray, None]) -> Dict[str, Any]:
    """`request.form()`: dispatch on the content type (substring match, case-insensitive)."""
    if not content_type:
        return {}
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif body is None:
        body = b""
    elif not isinstance(body, bytes):
        body = bytes(body)
    lowered = content_type.lower()
    if "application/x-www-form-urlencoded" in lowered:
        return parse_urlencoded(body)
    if "multipart/form-data" in lowered:
        return parse_multipart(body, content_type)
    return {}


def _as_bytes(data: Any) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class FilePart(dict):  # type: ignore[type-arg]
    """A multipart file part: the device's dict `{"filename", "content_type", "data"}`, which
    also keeps the part's headers (lower-case names) for `UploadFile.headers`."""

    __slots__ = ("headers",)


class UploadFile:
    """An in-memory file wrapping a multipart file dict (docs/internals/requests-responses.md#request).

    Async methods (`read`, `write`, `seek`, `tell`, `close`) have sync twins with a `_sync`
    suffix. Seeking past the end and writing pads with zero bytes; reading after `close()` gives
    `b""`; writing or seeking after it raises `ValueError`.
    """

    __slots__ = ("filename", "content_type", "closed", "_buf", "_pos", "_file", "_headers")

    def __init__(self, filename: Any = "", content_type: Any = "", data: Any = b"",
                 headers: Any = None) -> None:
        self.filename = _as_text(filename)
        self.content_type = _as_text(content_type)
        self._headers = headers
        self.closed = False
        self._buf = bytearray(_as_bytes(data))
        self._pos = 0
        self._file: Optional[UploadFileIO] = None

    @classmethod
    def from_multipart(cls, value: Any) -> Optional["UploadFile"]:
        """`UploadFile` for a multipart file dict; None unless `value` is a dict with `data`."""
        if not isinstance(value, dict) or "data" not in value:
            return None
        return cls(value.get("filename", ""), value.get("content_type", ""), value.get("data"),
                   getattr(value, "headers", None))

    @property
    def headers(self) -> Any:
        """The part's headers (Starlette's `UploadFile.headers`), case-insensitive; for an
        upload built by hand, its `Content-Type` alone."""
        from .request import Headers  # late: request imports this module

        if self._headers is None:
            self._headers = {"content-type": self.content_type} if self.content_type else {}
        if not isinstance(self._headers, Headers):
            self._headers = Headers({str(k).lower(): v for k, v in dict(self._headers).items()})
        return self._headers

    @property
    def size(self) -> int:
        return len(self._buf)

    @property
    def file(self) -> "UploadFileIO":
        """A synchronous binary file over the same bytes and position (Starlette's
        `UploadFile.file`): for `shutil.copyfileobj(upload.file, out)`, PIL and the like. One
        object per upload, as Starlette's."""
        if self._file is None:
            self._file = UploadFileIO(self)
        return self._file

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed UploadFile")

    def read_sync(self, size: Optional[int] = -1) -> bytes:
        if self.closed:
            return b""
        buf, pos = self._buf, self._pos
        if size is None or size < 0:
            end = len(buf)
        else:
            end = min(pos + int(size), len(buf))
        if end <= pos:
            return b""
        self._pos = end
        return bytes(buf[pos:end])

    def write_sync(self, data: Any) -> int:
        self._check_open()
        chunk = _as_bytes(data)
        buf, pos = self._buf, self._pos
        if pos > len(buf):
            buf.extend(bytes(pos - len(buf)))  # the gap left by seeking past the end
        buf[pos:pos + len(chunk)] = chunk
        self._pos = pos + len(chunk)
        return len(chunk)

    def seek_sync(self, offset: int, whence: int = 0) -> int:
        self._check_open()
        offset, whence = int(offset), int(whence)
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self._pos + offset
        elif whence == 2:
            pos = len(self._buf) + offset
        else:
            raise ValueError("invalid whence")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell_sync(self) -> int:
        return self._pos

    def close_sync(self) -> None:
        self.closed = True
        self._buf = bytearray()
        self._pos = 0

    async def read(self, size: Optional[int] = -1) -> bytes:
        return self.read_sync(size)

    async def write(self, data: Any) -> int:
        return self.write_sync(data)

    async def seek(self, offset: int, whence: int = 0) -> int:
        return self.seek_sync(offset, whence)

    async def tell(self) -> int:
        return self.tell_sync()

    async def close(self) -> None:
        self.close_sync()

    def __repr__(self) -> str:
        return (f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
                f"size={self.size})")


class UploadFileIO(io.BufferedIOBase):
    """`UploadFile.file`: the upload's `*_sync` methods as a standard binary file object
    (`readline`, iteration and `readinto` come from `io.BufferedIOBase`). Closing it closes the
    upload."""

    def __init__(self, upload: UploadFile) -> None:
        super().__init__()
        self._upload = upload

    def __del__(self) -> None:
        """`IOBase.__del__` would close the upload when this view is collected: only an
        explicit `close()` does."""

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        return self._upload.read_sync(size)

    def read1(self, size: int = -1) -> bytes:
        return self._upload.read_sync(size)

    def readinto(self, buffer: Any) -> int:
        data = self._upload.read_sync(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        return self._upload.write_sync(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._upload.seek_sync(offset, whence)

    def tell(self) -> int:
        return self._upload.tell_sync()

    @property
    def closed(self) -> bool:
        return self._upload.closed

    def close(self) -> None:
        self._upload.close_sync()


def form_upload(form: Any, name: str) -> Optional[UploadFile]:
    """The file part `name` of a parsed form as an `UploadFile`, or None."""
    if not isinstance(form, dict):
        return None
    return UploadFile.from_multipart(form.get(name))

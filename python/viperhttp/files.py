"""File logic behind `FileResponse` (docs/internals/requests-responses.md#responses): the static-file rules of
docs/internals/static-files.md#responses applied on the interpreter thread, minus `Cache-Control` and
on-the-fly gzip.

Owns: the content-type table (docs/internals/static-files.md#responses), the weak ETag and `Last-Modified`
(docs/internals/static-files.md#responses), the conditional / range evaluation order
(docs/internals/static-files.md#responses: representation → `If-None-Match`, or without it `If-Modified-Since`
→ 304 → `Range` + `If-Range` → 206 / 416 → 200), `.gz` siblings when the client accepts gzip
(docs/internals/static-files.md#gzip), VFS path mapping (docs/guide/device-apps.md#device-paths-vfs_root) and
`FileSlice`, the object whose `read(n)` the bridge drains as a sync stream
(docs/internals/bridge.md#streaming).

The file is opened once and `fstat`-ed through the same descriptor, so the ETag, the length and
the bytes sent all belong to one version even if the file is replaced meanwhile
(docs/internals/static-files.md#transfer).
"""
from __future__ import annotations

import os
import stat as _stat
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "CONTENT_TYPES", "guess_type", "weak_etag", "http_date", "parse_http_date", "accepts_gzip",
    "etag_matches", "parse_range", "UNSATISFIABLE", "FileSlice", "resolve_path", "VFS_ROOT",
    "build_file_response",
]

#: docs/internals/static-files.md#responses (case-insensitive extension after the last `.` of the last
#: segment).
CONTENT_TYPES: Dict[str, str] = {
    "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8", "js": "application/javascript",
    "mjs": "application/javascript", "json": "application/json", "map": "application/json",
    "webmanifest": "application/json", "xml": "application/xml", "png": "image/png",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "svg": "image/svg+xml",
    "ico": "image/x-icon", "webp": "image/webp", "avif": "image/avif",
    "txt": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8", "wasm": "application/wasm", "woff": "font/woff",
    "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf", "mp4": "video/mp4",
    "webm": "video/webm", "mp3": "audio/mpeg", "wav": "audio/wav", "pdf": "application/pdf",
}
DEFAULT_TYPE = "application/octet-stream"

#: VFS root (docs/guide/device-apps.md#device-paths-vfs_root). None = read env `VIPERHTTP_VFS_ROOT` at each
#: call; unset or empty there too = plain host paths. The bridge sets this from `run(vfs_root=...)`.
VFS_ROOT: Optional[str] = None

#: `parse_range` result for an unsatisfiable / malformed / multi range (→ 416).
UNSATISFIABLE: Tuple[int, int] = (-1, -1)

_TEXT_PLAIN = "text/plain; charset=utf-8"


def guess_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot < 0:
        return DEFAULT_TYPE
    return CONTENT_TYPES.get(name[dot + 1:].lower(), DEFAULT_TYPE)


def weak_etag(size: int, mtime: int) -> str:
    return f'W/"{size:x}-{mtime:x}"'


def http_date(ts: float) -> str:
    """IMF-fixdate, e.g. `Thu, 01 Jan 1970 00:00:00 GMT`."""
    # late: `email.utils` pulls in ~20 modules (socket, random, calendar, ...) that an app
    # serving no files never needs (docs/internals/benchmarks.md "Memory")
    from email.utils import formatdate

    return formatdate(int(ts), usegmt=True)


def parse_http_date(value: Optional[str]) -> Optional[int]:
    """Seconds since the epoch of an HTTP date, or None when absent or unparseable."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime  # late: see http_date

    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    try:
        return int(dt.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def accepts_gzip(value: Optional[str]) -> bool:
    """docs/internals/static-files.md#gzip: `gzip`/`x-gzip` listed with q > 0, or `*` with q > 0 and gzip
    unlisted."""
    if not value:
        return False
    gzip_q: Optional[float] = None
    star_q: Optional[float] = None
    for item in value.split(","):
        coding, *params = item.split(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def etag_matches(header: str, etag: str) -> bool:
    """`If-None-Match`: `*`, or a comma-separated list compared weakly (`W/` ignored)."""
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in header.split(","))


def parse_range(value: str, size: int) -> Optional[Tuple[int, int]]:
    """A single byte range → inclusive `(start, end)`; None = not a `bytes=` range (ignored);
    `UNSATISFIABLE` for multi-ranges, malformed specs and ranges outside the file."""
    value = value.strip()
    if value[:6].lower() != "bytes=":
        return None
    spec = value[6:].strip()
    if "," in spec or "-" not in spec or size <= 0:
        return UNSATISFIABLE
    first, _, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not (first.isdigit() and first.isascii()) and first:
        return UNSATISFIABLE
    if not (last.isdigit() and last.isascii()) and last:
        return UNSATISFIABLE
    if not first:  # suffix: the last N bytes
        if not last or int(last) == 0:
            return UNSATISFIABLE
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or start > end:
        return UNSATISFIABLE
    return start, min(end, size - 1)


def resolve_path(path: str) -> str:
    """Map a VFS path to a host path (docs/guide/device-apps.md#device-paths-vfs_root)."""
    root = VFS_ROOT if VFS_ROOT is not None else os.environ.get("VIPERHTTP_VFS_ROOT")
    if not root:
        return path
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, path.lstrip("/")))
    if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
        raise ValueError(f"path leaves vfs_root: {path!r}")
    return full


class FileSlice:
    """Bytes `[start, start + length)` of an open descriptor, read with `pread`.

    The bridge streams it with `read(chunk_size)` until `b""` and then calls `close()`
    (docs/internals/bridge.md#streaming). It owns the descriptor: `close()` (or garbage collection, for a
    response that was never sent) releases it without a `ResourceWarning`.
    """

    __slots__ = ("_fd", "_pos", "_end")

    def __init__(self, fd: int, start: int, length: int) -> None:
        self._fd = fd
        self._pos = start
        self._end = start + length

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def read(self, n: int = -1) -> bytes:
        fd = self._fd
        if fd < 0:
            return b""
        want = self._end - self._pos
        if n is not None and 0 <= n < want:
            want = n
        if want <= 0:
            return b""
        data = _pread(fd, want, self._pos)
        self._pos += len(data)
        if not data:  # the file shrank under us: end the stream (the runtime then closes)
            self._end = self._pos
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.close()


def _pread_fallback(fd: int, n: int, offset: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


_pread: Callable[[int, int, int], bytes] = getattr(os, "pread", _pread_fallback)

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# O_NONBLOCK so that opening a FIFO by mistake cannot hang the interpreter thread; it has no
# effect on regular files, the only kind served.
_OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0)


def _open_regular(path: str) -> Tuple[int, Optional[os.stat_result]]:
    """Open `path` read-only if it is a regular file: `(fd, stat)`, else `(-1, None)`."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):  # missing, unreadable, NUL in the path...
        return -1, None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return -1, None
    if not _stat.S_ISREG(st.st_mode):
        os.close(fd)
        return -1, None
    return fd, st


def _is_regular(path: str) -> bool:
    try:
        return _stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _response(status: int, body: Any, headers: Any, content_type: Optional[str]) -> Dict[str, Any]:
    return {"__vhttp_response__": True, "status_code": status, "body": body,
            "headers": headers, "content_type": content_type}


def not_found() -> Dict[str, Any]:
    return _response(404, "Not Found", None, _TEXT_PLAIN)


def _user_headers(headers: Any) -> List[Tuple[str, str]]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return [tuple(item) for item in headers]  # type: ignore[misc]


def build_file_response(
    path: str,
    status_code: int = 200,
    headers: Any = None,
    content_type: Optional[str] = None,
    chunk_size: int = 16384,
    method: str = "GET",
    request_headers: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """All keys of the response dict for `FileResponse` (docs/internals/requests-responses.md#responses).

    `request_headers` is the current request's (lower-case keys) `Headers`; conditional and range
    processing happen only for a plain `status_code == 200` answer to GET (HEAD: conditionals
    only, ranges are ignored as for static files).
    """
    req = request_headers if request_headers is not None else {}
    real = resolve_path(path)
    fd, st = _open_regular(real)
    if st is None:
        return not_found()
    ctype = content_type or guess_type(path)
    has_variant = not real.endswith(".gz") and _is_regular(real + ".gz")
    gzip = False
    if has_variant and accepts_gzip(req.get("accept-encoding")):
        gz_fd, gz_st = _open_regular(real + ".gz")
        if gz_st is not None:
            os.close(fd)
            fd, st, gzip = gz_fd, gz_st, True
    try:
        return _plan(fd, st, status_code, _user_headers(headers), ctype, chunk_size,
                     method.upper(), req, gzip, has_variant)
    except BaseException:
        os.close(fd)
        raise


def _plan(fd: int, st: os.stat_result, status_code: int, extra: List[Tuple[str, str]],
          ctype: str, chunk_size: int, method: str, req: Any, gzip: bool,
          has_variant: bool) -> Dict[str, Any]:
    size = st.st_size
    mtime = int(st.st_mtime)
    etag = weak_etag(size, mtime)
    last_modified = http_date(mtime)
    validators = [("ETag", etag), ("Last-Modified", last_modified), ("Accept-Ranges", "bytes")]
    encoding = [("Content-Encoding", "gzip")] if gzip else []
    vary = [("Vary", "Accept-Encoding")] if has_variant else []
    conditional = status_code == 200 and method in ("GET", "HEAD")
    if conditional:
        if_none_match = req.get("if-none-match")
        if if_none_match is not None:
            fresh = etag_matches(if_none_match, etag)
        else:
            since = parse_http_date(req.get("if-modified-since"))
            fresh = since is not None and mtime <= since
        if fresh:
            os.close(fd)
            return _response(304, None, validators + encoding + vary + extra, None)
    start, length, status, content_range = 0, size, status_code, []
    range_header = req.get("range") if conditional and method == "GET" else None
    if range_header is not None:
        # If-Range needs a strong match (RFC 9110 §13.1.5): our ETags are weak, so only
        # the exact Last-Modified date honours the range (docs/internals/static-files.md, "Range").
        if_range = req.get("if-range")
        if if_range is not None:
            if_range = if_range.strip()
        if if_range is None or (not if_range.startswith("W/") and if_range == last_modified):
            found = parse_range(range_header, size)
            if found is UNSATISFIABLE:
                os.close(fd)
                return _response(416, None, [("Content-Range", f"bytes */{size}")] + validators
                                 + extra, None)
            if found is not None:
                start, end = found
                length = end - start + 1
                status = 206
                content_range = [("Content-Range", f"bytes {start}-{end}/{size}")]
    out_headers = validators + content_range + encoding + vary + extra
    if length == 0:  # an empty file: a plain empty body keeps `Content-Length: 0`
        os.close(fd)
        return _response(status, b"", out_headers, ctype)
    resp = _response(status, None, out_headers, ctype)
    resp["stream"] = FileSlice(fd, start, length)
    resp["chunk_size"] = chunk_size
    resp["total_len"] = length
    resp["chunked"] = False
    return resp

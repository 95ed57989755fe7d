"""Templates: `TemplateResponse`, `render_template` and the cache/debug/limit functions
(docs/internals/templates.md).

Backed by Jinja2 with a compatibility layer (`compat`, `engine`, `filters`, `loader`) so that
templates written for the original device framework render byte for byte as they did there,
while Jinja features it lacked (`extends`/`block`, macros, calls, arithmetic) also work.
"""
from __future__ import annotations

import logging
import os
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from viperhttp.responses import MARKER, TEXT_HTML, TEXT_PLAIN, Response, _check_headers, _media_alias

from . import loader
from .compat import TemplateError
from .engine import DEBUG, LIMITS, STATE, RenderState
from .loader import CACHE

__all__ = ["TemplateResponse", "render_template", "template_clear_cache", "template_stats",
           "template_warmup", "template_debug", "template_configure", "TemplateError"]

log = logging.getLogger("viperhttp.templates")

#: Rendered output is buffered into pieces of about this size when streaming.
_STREAM_PIECE = 16384
_EXTENSIONS = (".html", ".htm", ".tpl", ".j2", ".jinja", ".jinja2")
_WARMUP_MAX_NESTING = 8


def _context(context: Any, tpl_ctx: Any) -> Dict[str, Any]:
    if context is None:
        context = tpl_ctx
    elif tpl_ctx is not None:
        raise TypeError("pass context or tpl_ctx, not both")
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise TypeError("context must be dict")
    return context


def _prepare(path: Any, strict: bool) -> Tuple[Any, RenderState]:
    """Name check, compile (or cache hit) and a fresh render state."""
    name = loader.resolve_name(path)
    template = loader.load(name)
    root = name.rsplit("/", 1)[0] or "/"
    return template, RenderState(strict=bool(strict), root=root)


def _render(template: Any, context: Dict[str, Any], state: RenderState) -> str:
    token = STATE.set(state)
    try:
        return "".join(loader.render_chunks(template, context, state))
    finally:
        STATE.reset(token)


def _failed(exc: BaseException) -> str:
    CACHE.count("errors")
    return loader.error_text(exc)


def _failed_response(exc: BaseException, path: Any) -> str:
    """The 500 body of a `TemplateResponse` that failed (the documented short text), logged as
    every other 500 is, with what the body leaves out: the template and the cause (no
    traceback: the cause is in the template, not in Python code)."""
    text = _failed(exc)
    log.error("template_error %s (%s)", text, _cause(exc, path))
    return text


def _cause(exc: BaseException, path: Any) -> str:
    """`in templates/page.html: 'dict object' has no attribute 'avatar'`, or for a syntax error
    in an included file `in templates/part.html` (the short text already says what)."""
    where = getattr(exc, "filename", None) or getattr(exc, "name", None) or path
    line = getattr(exc, "lineno", None)
    if isinstance(exc, TemplateError):
        cause = exc.__cause__ or exc.__context__
        detail = str(cause) if cause is not None and str(cause) not in exc.text else ""
    else:
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"in {where}{f' line {line}' if line else ''}{': ' + detail if detail else ''}"


def render_template(path: Any, context: Any = None, strict: bool = True, *, tpl_ctx: Any = None) -> str:
    """Renders the template at `path` (a VFS path) to a str.

    Raises `TypeError`/`ValueError` for a bad `path` or `context`, and
    `ValueError("template: <error text>")` for any compile or render failure.
    """
    context = _context(context, tpl_ctx)
    _check_path(path)
    try:
        template, state = _prepare(path, strict)
        out = _render(template, context, state)
    except Exception as exc:
        raise ValueError("template: " + _failed(exc)) from exc
    CACHE.count("renders")
    return out


def _check_path(path: Any) -> None:
    if not isinstance(path, str):
        raise TypeError("path must be str")
    if not path:
        raise ValueError("path must not be empty")


def _error_response(text: str) -> Response:
    return Response(500, text, None, TEXT_PLAIN)


def _header_list(headers: Any) -> List[Tuple[str, str]]:
    headers = _check_headers(headers)
    if headers is None:
        return []
    if isinstance(headers, dict):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _find(headers: List[Tuple[str, str]], name: str) -> Optional[str]:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _request_header(name: str) -> Optional[str]:
    from viperhttp.responses import _current_request_info
    _method, headers = _current_request_info()
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    return value if isinstance(value, str) else None


class TemplateResponse(Response):
    """`TemplateResponse(path, context=None, status_code=200, headers=None, content_type=None,
    strict=True, stream=False)`; `context` may also be passed as `tpl_ctx`.

    Non-stream: rendered now; a compile or render failure gives a 500 `text/plain` response
    whose body is the error text (never an exception). Stream: compiled and the first piece
    rendered now (so an early failure is still a clean 500), the rest while sending; see
    docs/internals/templates.md for ETag/304, gzip and mid-stream failures.
    """

    __slots__ = ()

    def __init__(self, path: Any, context: Any = None, status_code: int = 200, headers: Any = None,
                 content_type: Optional[str] = None, strict: bool = True, stream: bool = False, *,
                 tpl_ctx: Any = None, media_type: Optional[str] = None) -> None:
        context = _context(context, tpl_ctx)
        if media_type is not None and content_type is None:
            content_type = _media_alias(None, media_type)  # Starlette's charset rule
        content_type = content_type or TEXT_HTML
        _check_path(path)
        try:
            template, state = _prepare(path, strict)
        except Exception as exc:
            Response.__init__(self, 500, _failed_response(exc, path), None, TEXT_PLAIN)
            return
        if not stream:
            try:
                body = _render(template, context, state)
            except Exception as exc:
                Response.__init__(self, 500, _failed_response(exc, path), None, TEXT_PLAIN)
                return
            CACHE.count("renders")
            Response.__init__(self, body=body, headers=headers, content_type=content_type, status_code=status_code)
            return
        self._init_template_stream(template, context, state, status_code, headers, content_type, path)

    def _init_template_stream(self, template: Any, context: Dict[str, Any], state: RenderState,
                              status_code: int, headers: Any, content_type: str, path: str) -> None:
        header_list = _header_list(headers)
        etag = _find(header_list, "etag")
        if etag is not None and status_code == 200:
            from viperhttp.files import etag_matches
            wanted = _request_header("if-none-match")
            if wanted is not None and etag_matches(wanted, etag):
                Response.__init__(self, 304, b"", header_list, content_type)
                return
        encoding = _find(header_list, "content-encoding")
        gzip = False
        if _find(header_list, "content-length") is None:
            from viperhttp.files import accepts_gzip
            if encoding is not None and encoding.strip().lower() == "gzip":
                gzip = True
            elif encoding is None and accepts_gzip(_request_header("accept-encoding")):
                gzip = True
                header_list.append(("Content-Encoding", "gzip"))
            if gzip and _find(header_list, "vary") is None:
                header_list.append(("Vary", "Accept-Encoding"))
        chunks = loader.render_chunks(template, context, state)
        try:
            first, done = _pull(chunks, state)
        except Exception as exc:
            Response.__init__(self, 500, _failed_response(exc, path), None, TEXT_PLAIN)
            return
        body: Iterator[bytes] = _stream(first, None if done else chunks, state)
        if gzip:
            body = _gzip(body)
        self[MARKER] = True
        self["status_code"] = status_code
        self["body"] = None
        self["headers"] = header_list or None
        self["content_type"] = content_type
        self["stream"] = body
        self["chunk_size"] = _STREAM_PIECE
        self["total_len"] = None
        self["chunked"] = True


def _pull(chunks: Iterator[str], state: RenderState) -> Tuple[bytes, bool]:
    """About `_STREAM_PIECE` bytes of output; `done` when the render finished."""
    parts: List[str] = []
    size = 0
    token = STATE.set(state)
    try:
        for part in chunks:
            parts.append(part)
            size += len(part)
            if size >= _STREAM_PIECE:
                return "".join(parts).encode("utf-8"), False
    finally:
        STATE.reset(token)
    return "".join(parts).encode("utf-8"), True


def _stream(first: bytes, chunks: Optional[Iterator[str]], state: RenderState) -> Iterator[bytes]:
    if first:
        yield first
    if chunks is None:
        CACHE.count("renders")
        return
    while True:
        try:
            piece, done = _pull(chunks, state)
        except Exception as exc:
            text = _failed(exc)
            log.error("template_stream_error %s (response truncated)", text)
            raise TemplateError(text) from exc
        if piece:
            yield piece
        if done:
            CACHE.count("renders")
            return


def _gzip(pieces: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


# --- cache, stats, warmup, debug, limits -------------------------------------------------------

def template_clear_cache(path: Any = None) -> None:
    """Drops one cached template (`path`) or all of them."""
    CACHE.clear(None if path is None else loader.resolve_name(path))


def template_stats() -> Dict[str, Any]:
    """Counters and cache entries (docs/internals/templates.md lists the keys)."""
    return CACHE.snapshot()


def template_debug(enabled: Any = None) -> bool:
    """Gets, or sets when `enabled` is not None, debug mode; returns the current value."""
    if enabled is not None:
        DEBUG[0] = bool(enabled)
    return DEBUG[0]


def template_configure(max_size: Optional[int] = None, max_include_depth: Optional[int] = None,
                       max_loop_iters: Optional[int] = None, cache_entries: Optional[int] = None,
                       cache_budget_bytes: Optional[int] = None, max_nodes: Optional[int] = None
                       ) -> Dict[str, int]:
    """Sets the given limits (positive ints; None keeps the current value); returns all."""
    values = {"max_size": max_size, "max_include_depth": max_include_depth,
              "max_loop_iters": max_loop_iters, "cache_entries": cache_entries,
              "cache_budget_bytes": cache_budget_bytes, "max_nodes": max_nodes}
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{key} must be int")
        if value <= 0:
            raise ValueError(f"{key} must be > 0")
    for key, value in values.items():
        if value is not None:
            setattr(LIMITS, key, value)
    CACHE.clear()
    return {key: getattr(LIMITS, key) for key in values}


def template_warmup(root: Any = "/www") -> Dict[str, Any]:
    """Compiles every template file under `root` (an absolute VFS directory, nesting ≤ 8)."""
    if not isinstance(root, str):
        raise TypeError("root must be str")
    if not root.startswith("/"):
        raise ValueError("root must be an absolute path")
    name = loader.resolve_name(root).rstrip("/") or "/"
    try:
        host = loader.host_path(name)
    except TemplateError:
        raise ValueError("invalid root") from None
    if root == "/www" and not _vfs_root_set():
        host = os.path.join(os.getcwd(), "www")  # default device path, docs/internals/templates.md
        name = host.replace(os.sep, "/")
    if not os.path.isdir(host):
        raise ValueError("root must be an existing directory")
    out = {"root": root, "dirs_seen": 0, "files_seen": 0, "candidates": 0, "compiled": 0,
           "cached": 0, "errors": 0}
    _walk(host, name, 0, out)
    return out


def _vfs_root_set() -> bool:
    from viperhttp.files import VFS_ROOT
    return bool(VFS_ROOT if VFS_ROOT is not None else os.environ.get("VIPERHTTP_VFS_ROOT"))


def _walk(host: str, name: str, depth: int, out: Dict[str, Any]) -> None:
    out["dirs_seen"] += 1
    try:
        items = sorted(os.scandir(host), key=lambda e: e.name)
    except OSError:
        out["errors"] += 1
        return
    for item in items:
        child = name.rstrip("/") + "/" + item.name
        if item.is_dir(follow_symlinks=False):
            if depth + 1 <= _WARMUP_MAX_NESTING:
                _walk(item.path, child, depth + 1, out)
            continue
        out["files_seen"] += 1
        if not item.name.lower().endswith(_EXTENSIONS):
            continue
        out["candidates"] += 1
        hits_before = CACHE.stats["cache_hits"]
        try:
            loader.load(child)
        except TemplateError:
            CACHE.count("errors")
            out["errors"] += 1
            continue
        if CACHE.stats["cache_hits"] > hits_before:
            out["cached"] += 1
        else:
            out["compiled"] += 1

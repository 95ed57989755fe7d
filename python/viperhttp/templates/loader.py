"""Template names, loading, compiling, the path+size+mtime cache and the error texts
(docs/internals/templates.md, "Cache" and "Errors")."""
from __future__ import annotations

import os
import posixpath
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

from jinja2.exceptions import TemplateSyntaxError, UndefinedError

from viperhttp import files as _files

from .compat import ParseError, TemplateError, line_text, position, preprocess
from .engine import DEBUG, ENV, LIMITS, RenderState

__all__ = ["CACHE", "error_text", "resolve_name", "host_path", "load", "render_chunks"]


# --- errors -----------------------------------------------------------------------------------

def _parse_text(reason: str, source: str, line: int, column: int) -> str:
    text = f"template parse error at line {line}, column {column}: {reason}"
    if DEBUG[0]:
        text += f" [near: {line_text(source, line)[:72]}]"
    return text


def _jinja_syntax_text(exc: TemplateSyntaxError, source: str) -> str:
    message = exc.message or "syntax error"
    if "No filter named" in message:
        return "unknown template filter"
    if "No test named" in message:
        return "unknown template test"
    line = exc.lineno or 1
    text = line_text(source, line)
    starts = [i for i in (text.find("{{"), text.find("{%")) if i >= 0]
    return _parse_text(message, source, line, min(starts) + 1 if starts else 1)


def error_text(exc: BaseException) -> str:
    """The documented text for any failure of a compile or render."""
    if isinstance(exc, TemplateError):
        return exc.text
    if isinstance(exc, UndefinedError):
        return "undefined template variable" + (f": {exc}" if DEBUG[0] else "")
    message = str(exc)
    if "No filter named" in message:
        return "unknown template filter"
    if "No test named" in message:
        return "unknown template test"
    return "template runtime error" + (f": {exc}" if DEBUG[0] else "")


# --- names and the cache ----------------------------------------------------------------------

def resolve_name(path: Any) -> str:
    """A user path → the template's name (normalised VFS path), checked."""
    if not isinstance(path, str):
        raise TypeError("path must be str")
    if not path:
        raise ValueError("path must not be empty")
    if path.startswith("/"):
        return posixpath.normpath("/" + path.lstrip("/"))
    if _vfs_root():
        return posixpath.normpath("/" + path)
    return os.path.abspath(path).replace(os.sep, "/")


def _vfs_root() -> Optional[str]:
    root = _files.VFS_ROOT
    return root if root is not None else os.environ.get("VIPERHTTP_VFS_ROOT")


def host_path(name: str) -> str:
    if "\x00" in name:
        raise TemplateError("invalid template path")
    if not _vfs_root():
        return name
    try:
        return _files.resolve_path(name)
    except ValueError:
        raise TemplateError("invalid template path") from None


@dataclass
class _Entry:
    template: Any
    size: int
    mtime: int
    bytes: int
    hits: int = 0


class _Cache:
    """Compiled templates by name, valid while the file's size and mtime (ns) are unchanged;
    LRU within `cache_entries` and `cache_budget_bytes` (bytes = source size)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self.bytes = 0
        self.stats = {"renders": 0, "compiles": 0, "cache_hits": 0, "cache_misses": 0,
                      "cache_evicts": 0, "errors": 0}

    def _drop(self, name: str) -> None:
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.bytes -= entry.bytes

    def clear(self, name: Optional[str] = None) -> None:
        with self.lock:
            if name is None:
                self.entries.clear()
                self.bytes = 0
            else:
                self._drop(name)

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            out: Dict[str, Any] = dict(self.stats)
            out["cache_bytes"] = self.bytes
            out["cache_budget_bytes"] = LIMITS.cache_budget_bytes
            out["capacity"] = LIMITS.cache_entries
            out["entries"] = [{"path": k, "size": e.size, "mtime": e.mtime, "hits": e.hits,
                               "bytes": e.bytes} for k, e in self.entries.items()]
        return out

    def load(self, name: str) -> Any:
        path = host_path(name)
        try:
            st = os.stat(path)
        except OSError:
            self.clear(name)
            raise TemplateError("template not found") from None
        if not stat.S_ISREG(st.st_mode):
            raise TemplateError("template not found")
        with self.lock:
            entry = self.entries.get(name)
            if entry is not None and entry.size == st.st_size and entry.mtime == st.st_mtime_ns:
                entry.hits += 1
                self.stats["cache_hits"] += 1
                self.entries.move_to_end(name)
                return entry.template
            self.stats["cache_misses"] += 1
        template = compile_file(name, path, st.st_size)
        with self.lock:
            self._drop(name)
            self.entries[name] = _Entry(template, st.st_size, st.st_mtime_ns, st.st_size)
            self.bytes += st.st_size
            while self.entries and (len(self.entries) > LIMITS.cache_entries
                                    or self.bytes > LIMITS.cache_budget_bytes):
                oldest = next(iter(self.entries))
                if oldest == name:
                    break
                self._drop(oldest)
                self.stats["cache_evicts"] += 1
        return template


CACHE = _Cache()


def compile_file(name: str, path: str, size: int) -> Any:
    """Reads, pre-passes and compiles one file; failures raise `TemplateError` texts."""
    if size > LIMITS.max_size:
        raise TemplateError("template too large")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(LIMITS.max_size + 1)
    except OSError:
        raise TemplateError("template read failed") from None
    if len(raw) > LIMITS.max_size:
        raise TemplateError("template too large")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError("template read failed") from None
    try:
        jinja_source = preprocess(source, name, LIMITS.max_nodes)
    except ParseError as exc:
        line, column = position(source, exc.offset)
        raise TemplateError(_parse_text(exc.reason, source, line, column)) from None
    env = ENV
    if "\r\n" in source and "\n" not in source.replace("\r\n", ""):
        env = _CRLF_ENV  # keep CRLF line ends byte for byte
    try:
        code = env.compile(jinja_source, name, path)
    except TemplateSyntaxError as exc:
        raise TemplateError(_jinja_syntax_text(exc, source)) from None
    CACHE.count("compiles")
    return env.template_class.from_code(env, code, env.make_globals(None), None)


_CRLF_ENV = ENV.overlay(newline_sequence="\r\n")


def load(name: str) -> Any:
    """The compiled template `name` (errors are counted by the caller that reports them)."""
    return CACHE.load(name)


def render_chunks(template: Any, context: Dict[str, Any], state: RenderState) -> Iterator[str]:
    """The render generator of `template`; the caller sets `STATE` around each step."""
    chunks: Iterator[str] = template.root_render_func(template.new_context(context))
    return chunks

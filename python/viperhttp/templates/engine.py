"""The Jinja2 environment with the original's output, filter, undefined and limit rules, and the
compiled-template cache (docs/templates.md).

Per-render state (strict flag, loop counter, include depth, sandbox root) lives in a context
variable set around every step of a render, so one environment and one compiled template serve
strict and lenient renders, sync and streamed, concurrently.
"""
from __future__ import annotations

import contextvars
import os
import posixpath
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.runtime import Undefined
from jinja2 import Environment
from markupsafe import Markup
from markupsafe import escape as _markup_escape

from viperhttp import files as _files

from .compat import ParseError, TemplateError, line_text, position, preprocess

__all__ = ["Limits", "RenderState", "STATE", "CACHE", "ENV", "error_text", "load", "resolve_name",
           "DEBUG"]


@dataclass
class Limits:
    """`template_configure` settings (defaults: the original's, cache: the host's)."""

    max_size: int = 131072
    max_include_depth: int = 8
    max_loop_iters: int = 10000
    cache_entries: int = 256
    cache_budget_bytes: int = 32 * 1024 * 1024
    max_nodes: int = 2048


LIMITS = Limits()
#: Debug mode (`template_debug`): parse errors get `[near: ...]`, runtime errors the exception.
DEBUG = [False]


class RenderState:
    """What one render needs beyond the Jinja context."""

    __slots__ = ("strict", "root", "loops", "depth", "limits")

    def __init__(self, strict: bool, root: str) -> None:
        self.strict = strict
        self.root = root
        self.loops = 0
        self.depth = 0
        self.limits = LIMITS


STATE: "contextvars.ContextVar[Optional[RenderState]]" = contextvars.ContextVar("vh_template",
                                                                                 default=None)


# --- output -----------------------------------------------------------------------------------

_EMPTY = Markup("")
try:  # MarkupSafe's C escaper without the Markup wrapping of its public `escape()`
    from markupsafe._speedups import _escape_inner as _escape_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - pure-Python MarkupSafe
    def _escape_c(text: str) -> str:
        return (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                .replace("'", "&#39;").replace('"', "&#34;"))


def escape_str(text: str) -> str:
    """Escapes exactly `& < > " '` as `&amp; &lt; &gt; &quot; &#39;` (MarkupSafe spells `"` as
    `&#34;`; that spelling can only come from a `"`, so it is swapped)."""
    out = _escape_c(text)
    if '"' in text:
        return out.replace("&#34;", "&quot;")
    return out


def escape_text(text: str) -> Markup:
    """`escape_str` as Markup (for filters that return trusted text)."""
    return Markup(escape_str(text))


def finalize(value: Any) -> str:
    """Every `{{ }}` value, as the text that goes out: None → nothing, Markup (safe) as is,
    anything else `str()` then escaped. The code generator calls only this (no second
    `escape()` pass), so it returns plain str. Runs once per output: the common types are
    handled inline."""
    kind = type(value)
    if kind is str:
        out = _escape_c(value)
        return out.replace("&#34;", "&quot;") if '"' in value else out
    if kind is int or kind is float:
        return str(value)  # digits, sign, '.', 'e', 'inf', 'nan': nothing to escape
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str.__str__(value)
    if isinstance(value, Undefined):
        return str(value)  # strict: raises; lenient: ""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return escape_str(str(value))


class _CodeGenerator(CodeGenerator):
    """Output goes through `finalize` alone: stock Jinja wraps it in MarkupSafe's `escape()`,
    which would spell `"` as `&#34;` and costs a second call and a Markup per value; constant
    outputs are folded with the same function."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize_info: Any) -> str:
        const = node.as_const(frame.eval_ctx)
        if isinstance(node, nodes.TemplateData):
            return str(const)
        return finalize(const)

    def _output_child_pre(self, node: nodes.Expr, frame: Any, finalize_info: Any) -> None:
        if frame.eval_ctx.volatile:  # inside {% autoescape %}: stock behaviour
            super()._output_child_pre(node, frame, finalize_info)
        else:
            # str values (the common case) are escaped inline with C calls only; anything
            # else goes through `finalize`. `_vh_o`/`_vh_e` are scratch locals: each output
            # is evaluated completely before the next one starts.
            self.write("((_vh_e if '&#34;' not in (_vh_e := environment.vh_escape(_vh_o)) "
                       "else _vh_e.replace('&#34;', '&quot;')) if type(_vh_o := ")

    def visit_Getattr(self, node: nodes.Getattr, frame: Any) -> None:
        """`a.b` on a plain dict without a call: inlined as a key lookup when the key exists
        (the common case for contexts built from dicts), else `environment.getattr`."""
        attr = node.attr
        if attr in _DICT_VIEWS or attr[:1] == "_" or self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        self._vh_tmp = getattr(self, "_vh_tmp", 0) + 1
        tmp = f"_vh_t{self._vh_tmp}"
        self.write(f"({tmp}[{attr!r}] if type({tmp} := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {attr!r} in {tmp} else environment.getattr({tmp}, {attr!r}))")

    def visit_Output(self, node: nodes.Output, frame: Any) -> None:
        """In generator code, one `yield` per output statement (its parts joined) instead of
        one per part: a generator step per part costs more than the join."""
        if frame.buffer is not None or frame.require_output_check or len(node.nodes) < 2:
            return super().visit_Output(node, frame)
        finalize_info = self._make_finalize()
        body: List[Any] = []
        for child in node.nodes:
            try:
                const = self._output_child_to_const(child, frame, finalize_info)
            except Exception:  # nodes.Impossible included: evaluated at run time
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if len(body) == 1:
            return super().visit_Output(node, frame)
        self.writeline("yield ''.join((")
        self.indent()
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + ",")
            else:
                self.newline(item)
                self._output_child_pre(item, frame, finalize_info)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize_info)
                self.write(",")
        self.outdent()
        self.writeline("))")
        return None

    def _output_child_post(self, node: nodes.Expr, frame: Any, finalize_info: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_post(node, frame, finalize_info)
        else:
            self.write(") is str else environment.finalize(_vh_o))")


# --- undefined --------------------------------------------------------------------------------

def _strict() -> bool:
    state = STATE.get()
    return state is None or state.strict


class VUndefined(Undefined):
    """Strict renders fail on any use; lenient renders treat it as None and chain (`a.b.c`)."""

    __slots__ = ()

    def __str__(self) -> str:
        if _strict():
            self._fail_with_undefined_error()
        return ""

    def __iter__(self) -> Iterator[Any]:
        if _strict():
            self._fail_with_undefined_error()
        return iter(())

    def __bool__(self) -> bool:
        if _strict():
            self._fail_with_undefined_error()
        return False

    def __len__(self) -> int:
        if _strict():
            self._fail_with_undefined_error()
        return 0

    def __eq__(self, other: Any) -> bool:
        if _strict():
            self._fail_with_undefined_error()
        return other is None or isinstance(other, Undefined)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return id(type(self))

    def __contains__(self, item: Any) -> bool:
        if _strict():
            self._fail_with_undefined_error()
        return False

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        if _strict():
            self._fail_with_undefined_error()
        return self

    def __getitem__(self, key: Any) -> Any:
        if _strict():
            self._fail_with_undefined_error()
        return self

    def __html__(self) -> str:
        return str(self)


# --- filters and tests ------------------------------------------------------------------------

def _keep_mark(value: Any, text: str) -> Any:
    return Markup(text) if isinstance(value, Markup) else text


def f_safe(value: Any) -> Markup:
    return _EMPTY if value is None else Markup(value if isinstance(value, str) else str(value))


def f_escape(value: Any) -> Any:
    """Marks the value "escape on output", also undoing an earlier `safe`."""
    if value is None or isinstance(value, Undefined):
        return value
    return str.__str__(value) if isinstance(value, str) else str(value)


def f_default(value: Any, default_value: Any = "", boolean: bool = False,
              _raw: Optional[str] = None) -> Any:
    """None and `""` (and undefined: lenient superset) are replaced; a bare-word argument that
    is not a defined variable stands for itself (`_raw`, set by the pre-pass)."""
    if (isinstance(value, Undefined) or value is None or (isinstance(value, str) and value == "")
            or (boolean and not value)):
        if _raw is not None and isinstance(default_value, Undefined):
            return _raw
        return default_value
    return value


def f_upper(value: Any) -> Any:
    return _keep_mark(value, str(value).upper())


def f_lower(value: Any) -> Any:
    return _keep_mark(value, str(value).lower())


def f_capitalize(value: Any) -> Any:
    return _keep_mark(value, str(value).capitalize())


_WORD_START = re.compile(r"(^|[^0-9A-Za-z])([A-Za-z])")


def f_title(value: Any) -> Any:
    """Upper-cases the first letter after every non-alphanumeric character, the rest lower."""
    text = _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), str(value).lower())
    return _keep_mark(value, text)


def f_trim(value: Any, chars: Optional[str] = None) -> Any:
    return _keep_mark(value, str(value).strip(chars))


def f_length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def f_join(value: Any, d: str = ", ", attribute: Any = None) -> str:
    if isinstance(value, (list, tuple)):
        if attribute is not None:
            value = [ENV.getattr(v, attribute) for v in value]
        return str(d).join(str(v) for v in value)
    if isinstance(value, Undefined):
        str(value)
        return ""
    if value is None:
        return "None"
    if not isinstance(value, (str, bytes, dict)) and hasattr(value, "__iter__"):
        return str(d).join(str(v) for v in value)
    return str(value)


def f_replace(value: Any, old: Any, new: Any = "", count: Optional[int] = None) -> Any:
    text = str(value).replace(str(old), str(new), -1 if count is None else count)
    return _keep_mark(value, text)


def t_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def t_iterable(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict, str))


def t_string(value: Any) -> bool:
    return isinstance(value, str)


# --- loops and includes -----------------------------------------------------------------------

class _Counted:
    """An iterable whose items count against the per-render loop cap; the two-name `for`
    form gets items cut to `width` elements (the original ignores extra ones)."""

    __slots__ = ("value", "width", "state")

    def __init__(self, value: Any, width: int, state: RenderState) -> None:
        self.value, self.width, self.state = value, width, state

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Iterator[Any]:
        state, width = self.state, self.width
        cap = state.limits.max_loop_iters
        for item in self.value:
            state.loops += 1
            if state.loops > cap:
                raise TemplateError("template loop limit exceeded")
            if width:
                parts = tuple(item) if not isinstance(item, tuple) else item
                if len(parts) < width:
                    raise TemplateError("template runtime error")
                item = parts[:width]
            yield item


def vh_iter(value: Any, width: int) -> Any:
    if value is None:
        return ()
    if isinstance(value, Undefined):
        return value  # strict: iterating raises; lenient: empty
    state = STATE.get()
    if state is None:
        return value
    if not width:
        try:
            size = len(value)
        except TypeError:
            pass
        else:
            # A sized iterable is charged in full on entry: no per-item wrapper. Loops cannot
            # stop early (no `break`), so the count is the same; only the moment of the error
            # moves to the loop's start.
            state.loops += size
            if state.loops > state.limits.max_loop_iters:
                raise TemplateError("template loop limit exceeded")
            return value
    return _Counted(value, width, state)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def vh_path(path: str) -> str:
    """An extends/import path, checked against the sandbox root."""
    state = STATE.get()
    if state is not None and not _inside(path, state.root):
        raise TemplateError("template include error: invalid template path")
    return path


def vh_inc(path: str) -> str:
    """Enters an include: depth check and sandbox check; `vh_leave` runs after its output."""
    state = STATE.get()
    if state is not None:
        state.depth += 1
        if state.depth > state.limits.max_include_depth:
            raise TemplateError("template include depth exceeded")
    return vh_path(path)


def vh_leave() -> Markup:
    state = STATE.get()
    if state is not None:
        state.depth -= 1
    return _EMPTY


class _ItemList(list):  # type: ignore[type-arg]
    """`d.items` / `d.keys` / `d.values` as a list that also answers the call form `d.items()`."""

    __slots__ = ()

    def __call__(self) -> "_ItemList":
        return self


_DICT_VIEWS = {"items": dict.items, "keys": dict.keys, "values": dict.values}


class Env(Environment):
    """Jinja2 with the original's attribute rules and our template cache. Templates are app
    code, but attributes starting with `_` are not reachable from them (no `__class__` walks)."""

    code_generator_class = _CodeGenerator

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_VIEWS:  # the common case, first
            try:
                return obj[attribute]
            except KeyError:
                pass
        elif isinstance(obj, dict):
            view = _DICT_VIEWS.get(attribute)
            if view is not None:
                return _ItemList(view(obj))
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        elif isinstance(obj, Undefined):
            if _strict():
                obj._fail_with_undefined_error()
            return obj
        if attribute[:1] == "_":
            return self.undefined(obj=obj, name=attribute)
        try:  # Environment.getattr, inlined (one frame less per `loop.index` and the like)
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument[:1] == "_" and not isinstance(obj, dict):
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def _load_template(self, name: str, globals: Any) -> Any:
        # Only reached from a render: `include`, `extends`, `import`, `from`.
        try:
            return load(name)
        except TemplateError as exc:
            if exc.text.startswith("template include error: "):
                raise
            raise TemplateError("template include error: " + exc.text) from exc


ENV = Env(autoescape=True, keep_trailing_newline=True, finalize=finalize, undefined=VUndefined,
          cache_size=0, auto_reload=False)
ENV.vh_escape = _escape_c  # type: ignore[attr-defined]  # read by the generated output code
ENV.filters.update({
    "safe": f_safe, "escape": f_escape, "e": f_escape, "default": f_default, "d": f_default,
    "upper": f_upper, "lower": f_lower, "capitalize": f_capitalize, "title": f_title,
    "trim": f_trim, "length": f_length, "count": f_length, "join": f_join, "replace": f_replace,
})
ENV.tests.update({"number": t_number, "iterable": t_iterable, "string": t_string})
ENV.globals.update({"__vh_iter": vh_iter, "__vh_inc": vh_inc, "__vh_leave": vh_leave,
                    "__vh_path": vh_path})


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
    return template.root_render_func(template.new_context(context))

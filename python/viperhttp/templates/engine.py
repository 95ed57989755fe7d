"""The Jinja2 environment with the device's output, undefined, attribute and limit rules
(docs/internals/templates.md): the code generator's output path, loop counting and include checks.

Per-render state (strict flag, loop counter, include depth, sandbox root) lives in a context
variable set around every step of a render, so one environment and one compiled template serve
strict and lenient renders, sync and streamed, concurrently.
"""
from __future__ import annotations

import contextvars
import operator
import os
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.exceptions import TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from jinja2.runtime import Undefined
from markupsafe import Markup

from .compat import TemplateError
from .filters import FILTERS, TESTS

__all__ = ["Limits", "LIMITS", "DEBUG", "RenderState", "STATE", "ENV", "finalize", "escape_str"]


@dataclass
class Limits:
    """`template_configure` settings (defaults: the original's, cache: the host's)."""

    max_size: int = 131072
    max_include_depth: int = 8
    max_loop_iters: int = 10000
    cache_entries: int = 256
    cache_budget_bytes: int = 32 * 1024 * 1024
    max_nodes: int = 2048
    #: Render nesting: templates being rendered inside one another (include, extends,
    #: import, from) at once; the original's "render nesting depth 16".
    max_depth: int = 16


LIMITS = Limits()
#: Debug mode (`template_debug`): parse errors get `[near: ...]`, runtime errors the exception.
DEBUG = [False]


class RenderState:
    """What one render needs beyond the Jinja context."""

    __slots__ = ("strict", "root", "real_root", "loops", "depth", "nesting", "limits")

    def __init__(self, strict: bool, root: str) -> None:
        self.strict = strict
        self.root = root
        self.real_root: Optional[str] = None  # realpath of root's host directory, on first use
        self.loops = 0
        self.depth = 0  # nested includes (max_include_depth)
        self.nesting = 0  # nested template renders of any kind (max_depth)
        self.limits = LIMITS


STATE: "contextvars.ContextVar[Optional[RenderState]]" = contextvars.ContextVar("vh_template",
                                                                                 default=None)


# --- output -----------------------------------------------------------------------------------

_EMPTY = Markup("")


def _escape_py(text: str) -> str:
    return (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


_escape_c: Callable[[str], str] = _escape_py
try:  # MarkupSafe's C escaper without the Markup wrapping of its public `escape()`
    from markupsafe._speedups import _escape_inner

    _escape_c = _escape_inner
except ImportError:  # pragma: no cover - pure-Python MarkupSafe
    pass


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
        # Also inside `{% autoescape expr %}` (a "volatile" context): escaping is always on and
        # `finalize` already escapes, so Jinja's extra `escape()` there would escape twice.
        # str values (the common case) are escaped inline with C calls only; anything else
        # goes through `finalize`. `_vh_o`/`_vh_e` are scratch locals: each output is
        # evaluated completely before the next one starts.
        self.write("((_vh_e if '&#34;' not in (_vh_e := environment.vh_escape(_vh_o)) "
                   "else _vh_e.replace('&#34;', '&quot;')) if type(_vh_o := ")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        """`a ~ b`: joined by `vh_join` (our escape spelling when a part is safe)."""
        self.write("environment.vh_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

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

    def visit_Compare(self, node: nodes.Compare, frame: Any) -> None:
        """A single ordering comparison (`<`, `<=`, `>`, `>=`) that cannot be made (`'a' < 1`,
        `none > 0`) is false, as on the device, instead of an error."""
        if len(node.ops) != 1 or node.ops[0].op not in _ORDERING:
            super().visit_Compare(node, frame)
            return
        self.write(f"environment.vh_order({node.ops[0].op!r}, ")
        self.visit(node.expr, frame)
        self.write(", ")
        self.visit(node.ops[0].expr, frame)
        self.write(")")

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
        self.write(") is str else environment.finalize(_vh_o))")


def _escaped(value: Any) -> str:
    """`value` as safe text: Markup (anything with `__html__`) as is, else `str()` escaped."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return escape_str(value if isinstance(value, str) else str(value))


def vh_join(parts: Any) -> Any:
    """`a ~ b ~ ...`: plain str when no part is safe (escaped on output), else Markup with the
    other parts escaped by `escape_str` (Jinja's `markup_join` would spell `"` as `&#34;`)."""
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    if not any(hasattr(t, "__html__") for t in texts):
        return "".join(texts)
    return Markup("".join(_escaped(t) for t in texts))


_ORDERING = {"lt": operator.lt, "lteq": operator.le, "gt": operator.gt, "gteq": operator.ge}


def vh_order(op: str, left: Any, right: Any) -> bool:
    """`left <op> right`, false when the values cannot be ordered. An undefined operand is
    an error in strict renders and None (so: false) in lenient ones."""
    for value in (left, right):
        if isinstance(value, Undefined):
            if _strict():
                value._fail_with_undefined_error()
            return False
    try:
        return bool(_ORDERING[op](left, right))
    except TypeError:
        return False


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
    """`path` is `root` or below it (both normalised, `/`-separated)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_sandbox(name: str, state: RenderState) -> None:
    """A template loaded during a render must lie inside the sandbox root: its name, and the
    file it really is (symlinks resolved) inside the real root directory."""
    if not isinstance(name, str) or not _inside(name, state.root):
        raise TemplateError("template include error: invalid template path")
    from .loader import host_path  # late: the loader imports this module
    try:
        real = os.path.realpath(host_path(name))
        if state.real_root is None:
            state.real_root = os.path.realpath(host_path(state.root))
    except (TemplateError, OSError, ValueError):
        raise TemplateError("template include error: invalid template path") from None
    if not _inside(real, state.real_root):
        raise TemplateError("template include error: invalid template path")


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


def _nest(state: RenderState) -> None:
    state.nesting += 1
    if state.nesting > state.limits.max_depth:
        state.nesting -= 1
        raise TemplateError("template depth exceeded")


class _Nested:
    """A template loaded during a render, as the template that loaded it sees it: rendering it
    (`root_render_func` for include/extends, `make_module`/`_get_default_module` for
    import/from) counts one level of render nesting, so an extends or import cycle stops at
    `max_depth` with `template depth exceeded` instead of a RecursionError."""

    __slots__ = ("_vh_template", "_vh_state")

    def __init__(self, template: Any, state: RenderState) -> None:
        self._vh_template = template
        self._vh_state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._vh_template, name)

    def root_render_func(self, context: Any) -> Iterator[str]:
        state = self._vh_state
        _nest(state)
        try:
            yield from self._vh_template.root_render_func(context)
        finally:
            state.nesting -= 1

    def make_module(self, *args: Any, **kwargs: Any) -> Any:
        state = self._vh_state
        _nest(state)
        try:
            return self._vh_template.make_module(*args, **kwargs)
        finally:
            state.nesting -= 1

    def _get_default_module(self, ctx: Any = None) -> Any:
        state = self._vh_state
        _nest(state)
        try:
            return self._vh_template._get_default_module(ctx)
        finally:
            state.nesting -= 1


class IncludeNotFound(TemplateNotFound, TemplateError):
    """A missing include: Jinja's `TemplateNotFound` (so `ignore missing` works) carrying our
    error text."""

    def __init__(self, name: str, text: str) -> None:
        TemplateNotFound.__init__(self, name, text)
        self.text = text


class _ItemList(list):  # type: ignore[type-arg]
    """`d.items` / `d.keys` / `d.values` as a list that also answers the call form `d.items()`."""

    __slots__ = ()

    def __call__(self) -> "_ItemList":
        return self


_DICT_VIEWS = {"items": dict.items, "keys": dict.keys, "values": dict.values}
_METHOD_TYPES = frozenset({types.MethodType, types.BuiltinMethodType})
#: type → attribute name → Jinja's `is_safe_attribute` verdict (see `Env.getattr`).
_SAFE_ATTRS: "dict[type, dict[str, bool]]" = {}


class Env(SandboxedEnvironment):
    """Jinja2's `SandboxedEnvironment` with the original's attribute rules and our template
    cache. Jinja's sandbox decides what is reachable (no `_` attributes, no function/frame/
    code internals, `str.format`/`format_map` go through its sandboxed formatter, calls are
    checked by `is_safe_callable`); on top of it names starting with `_` are plain undefined
    (as on the device), and dicts get the device's key-first lookup and `items`/`keys`/`values`
    views (keys of a dict are data, never attributes)."""

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
        # SandboxedEnvironment.getattr, inlined (one frame less per `loop.index` and the
        # like): the same checks in the same order.
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            try:
                return obj[attribute]
            except (TypeError, LookupError, AttributeError):
                return self.undefined(obj=obj, name=attribute)
        verdicts = _SAFE_ATTRS.get(type(obj))
        if verdicts is None:
            if len(_SAFE_ATTRS) >= 1024:
                _SAFE_ATTRS.clear()
            verdicts = _SAFE_ATTRS[type(obj)] = {}
        safe = verdicts.get(attribute)
        if safe is None:
            # Jinja's verdict depends only on the object's type and the name (isinstance
            # checks and name sets), so it is computed once per pair.
            safe = verdicts[attribute] = self.is_safe_attribute(obj, attribute, value)
        if not safe:
            return self.unsafe_undefined(obj, attribute)
        if type(value) in _METHOD_TYPES:  # what `wrap_str_format` looks at (not subclassable)
            fmt = self.wrap_str_format(value)
            if fmt is not None:
                return fmt
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument[:1] == "_" and not isinstance(obj, dict):
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def _load_template(self, name: str, globals: Any) -> Any:
        # Only reached from a render: `include`, `extends`, `import`, `from`. The sandbox is
        # enforced here, for every load, whatever produced the name.
        from .loader import load  # late: the loader compiles with this environment
        state = STATE.get()
        if state is not None:
            _check_sandbox(name, state)
        try:
            template = load(name)
            return template if state is None else _Nested(template, state)
        except TemplateError as exc:
            if exc.text.startswith("template include error: "):
                raise
            text = "template include error: " + exc.text
            if exc.text == "template not found":
                raise IncludeNotFound(name, text) from exc  # `ignore missing` catches it
            error = TemplateError(text)
            error.filename = name  # the log line names the included file (templates.md, "Errors")
            raise error from exc


ENV = Env(autoescape=True, keep_trailing_newline=True, finalize=finalize, undefined=VUndefined,
          cache_size=0, auto_reload=False)
ENV.vh_escape = _escape_c  # type: ignore[attr-defined]  # read by the generated output code
ENV.vh_order = vh_order  # type: ignore[attr-defined]  # read by the generated comparisons
ENV.vh_join = vh_join  # type: ignore[attr-defined]  # read by the generated `~`
ENV.filters.update(FILTERS)
ENV.tests.update(TESTS)
ENV.globals.update({"__vh_iter": vh_iter, "__vh_inc": vh_inc, "__vh_leave": vh_leave,
                    "__vh_path": vh_path})


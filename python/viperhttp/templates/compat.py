"""Source pre-pass: the original device template language → Jinja2 source (docs/templates.md).

Templates written for the original are valid Jinja except for a few spellings; this pass
rewrites them and reports the original's parse errors with its texts and 1-based positions:

- `|name:arg` becomes `|name(arg)`; bare-word arguments of `join`/`replace` become string
  literals; a bare `default` argument becomes `default(path, _raw="path")` so the filter can
  fall back to the word when the path is undefined;
- literals `null`, `TRUE`, `None`, … in any letter case become `none`/`true`/`false`;
- `{% for %}` iterables go through `__vh_iter` (shared loop cap, two-name form ignoring extra
  items); `{% include %}`/`{% extends %}`/`{% import %}`/`{% from %}` paths are resolved
  here, relative to the including file, and checked at render time against the sandbox root by
  `__vh_inc`/`__vh_path`; a path that is not a single string literal is a parse error for all
  four (the loader checks the sandbox again for every load, `engine.Env._load_template`);
- `if`/`for`/`raw` nesting and the statement set are checked so that the original's errors
  (`if missing endif`, `unsupported template statement`, ...) come out with their positions.

Line breaks are never added or removed, so Jinja's own line numbers stay valid.
"""
from __future__ import annotations

import posixpath
import re
from typing import List, Optional, Tuple

__all__ = ["TemplateError", "ParseError", "preprocess", "position", "line_text"]


class TemplateError(Exception):
    """A template failure whose message is one of the documented error texts."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ParseError(TemplateError):
    """A parse error at a 0-based source offset; the text is built by the caller."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


_OPEN = re.compile(r"\{[{%#]")
_BREAK = re.compile(r"\r\n|\r|\n")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_FOR = re.compile(r"^for\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s+in\s+(.+)$", re.S)
_SET = re.compile(r"^set\s+(.*?)\s*=\s*(.*)$", re.S)
_SET_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?(\s*,\s*[A-Za-z_]\w*)*$")
_LITERALS = {"true": "true", "false": "false", "none": "none", "null": "none"}
#: Jinja statements accepted as a superset of the original's (docs/templates.md).
_JINJA_STATEMENTS = frozenset({
    "block", "endblock", "macro", "endmacro", "call", "endcall", "filter", "endfilter", "with",
    "endwith", "autoescape", "endautoescape",
})
_PATH_STATEMENTS = frozenset({"include", "extends", "import", "from"})
#: What may follow an include's path literal (Jinja's modifiers).
_INCLUDE_TAIL = re.compile(r"^(\s+ignore\s+missing)?(\s+(with|without)\s+context)?\s*$")
_NAME = r"[A-Za-z_]\w*"
_CONTEXT = r"(\s+(with|without)\s+context)?\s*$"
#: What may follow the path literal of `extends` / `import` / `from` (nothing that could make
#: the path an expression: `{% extends "a" if x else "/etc/passwd" %}` is refused).
_PATH_TAILS = {
    "extends": re.compile(r"^\s*$"),
    "import": re.compile(rf"^\s+as\s+{_NAME}{_CONTEXT}"),
    "from": re.compile(rf"^\s+import\s+{_NAME}(\s+as\s+{_NAME})?"
                       rf"(\s*,\s*{_NAME}(\s+as\s+{_NAME})?)*\s*,?{_CONTEXT}"),
}


def position(source: str, offset: int) -> Tuple[int, int]:
    """1-based (line, column) of `offset`; `\\r\\n`, `\\r` and `\\n` each end a line."""
    line, start = 1, 0
    for m in _BREAK.finditer(source, 0, offset):
        line, start = line + 1, m.end()
    return line, offset - start + 1


def line_text(source: str, line: int) -> str:
    """The text of 1-based `line` (without its line break)."""
    lines = re.split(r"\r\n|\r|\n", source)
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _scan_tag(source: str, start: int, close: str) -> int:
    """Index of `close` after `start`, skipping quoted strings; -1 if absent."""
    i, n = start, len(source)
    while i < n:
        c = source[i]
        if c in "'\"":
            j = source.find(c, i + 1)
            if j < 0:
                return source.find(close, i + 1)
            i = j + 1
            continue
        if c == close[0] and source.startswith(close, i):
            return i
        i += 1
    return -1


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split_top(text: str, sep: str) -> List[str]:
    """Split at top-level `sep` (outside quotes and brackets)."""
    parts: List[str] = []
    cur: List[str] = []
    depth, quote = 0, ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    parts.append("".join(cur))
    return parts


def _is_quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0] and text[0] not in text[1:-1]


def _literal(text: str) -> Optional[str]:
    """`text` as a normalised literal, or None when it is not one."""
    if _is_quoted(text) or _NUMBER.match(text):
        return text
    return _LITERALS.get(text.lower())


def _filter_call(name: str, arg: Optional[str]) -> str:
    """One filter application with the original's argument rules (docs/templates.md)."""
    if arg is None:
        return name
    arg = arg.strip()
    if name == "join":
        if "=" in arg or _literal(arg) is not None or not arg:
            return f"join({rewrite_expr(arg)})"
        return f"join({_quote(arg)})"
    if name == "replace":
        old, sep, new = _split_first(arg)
        old, new = old.strip(), new.strip()
        if not sep:
            return f"replace({old if _is_quoted(old) else _quote(old)})"
        left = old if _is_quoted(old) else _quote(old)
        right = rewrite_expr(new) if new[:1] in "'\"" else _quote(new)
        return f"replace({left}, {right})"
    if name in ("default", "d"):
        if len(_split_top(arg, ",")) > 1:
            return f"{name}({rewrite_expr(arg)})"
        lit = _literal(arg)
        if lit is not None:
            return f"{name}({lit})"
        if _PATH.match(arg):
            return f"{name}({arg}, _raw={_quote(arg)})"
        return f"{name}({_quote(arg)})"
    return f"{name}({rewrite_expr(arg)})"


def _split_first(text: str) -> Tuple[str, str, str]:
    parts = _split_top(text, ",")
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], ",", ",".join(parts[1:])


def _read_paren(expr: str, i: int) -> int:
    """Index just past the `)` matching the `(` at `i` (quotes respected)."""
    depth, quote, n = 0, "", len(expr)
    while i < n:
        c = expr[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _read_colon_arg(expr: str, i: int) -> int:
    """End of a `:arg` filter argument: quoted strings and commas, up to `|`, `)` or a
    top-level space (a space right after a comma is part of the argument)."""
    n = len(expr)
    while i < n:
        c = expr[i]
        if c in "'\"":
            j = expr.find(c, i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == ",":
            i += 1
            while i < n and expr[i] == " ":
                i += 1
            continue
        if c in "|)" or c.isspace():
            return i
        i += 1
    return n


def rewrite_expr(expr: str) -> str:
    """Rewrite one expression (see the module docstring); strings are copied verbatim."""
    out: List[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "'\"":
            j = expr.find(c, i + 1)
            j = n if j < 0 else j + 1
            out.append(expr[i:j])
            i = j
        elif c == "|":
            j = i + 1
            while j < n and expr[j] == " ":
                j += 1
            m = _IDENT.match(expr, j)
            if m is None:
                out.append(c)
                i += 1
                continue
            name, j = m.group(0), m.end()
            arg: Optional[str] = None
            if j < n and expr[j] == ":":
                end = _read_colon_arg(expr, j + 1)
                arg, j = expr[j + 1:end], end
            elif j < n and expr[j] == "(":
                end = _read_paren(expr, j)
                arg, j = expr[j + 1:end - 1], end
            out.append("|" + _filter_call(name, arg))
            i = j
        elif c.isalpha() or c == "_":
            m = _IDENT.match(expr, i)
            assert m is not None
            word = m.group(0)
            prev = "".join(out).rstrip()[-1:]
            out.append(word if prev == "." else _LITERALS.get(word.lower(), word))
            i = m.end()
        elif c.isdigit():
            j = i
            while j < n and (expr[j].isalnum() or expr[j] == "_"):
                j += 1
            out.append(expr[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _resolve(path: str, name: str) -> str:
    """An include/extends path relative to the directory of template `name`, normalised."""
    base = path if path.startswith("/") else posixpath.join(posixpath.dirname(name), path)
    resolved = posixpath.normpath(base)
    return "/" + resolved.lstrip("/") if base.startswith("/") else resolved


def _path_statement(keyword: str, body: str, name: str, offset: int,
                    strip_left: str, strip_right: str) -> str:
    """`include`/`extends`/`import`/`from` with the path resolved against `name`."""
    rest = body[len(keyword):].lstrip()
    m = re.match(r"""('[^']*'|"[^"]*")""", rest)
    if m is None:  # a path that is not a string literal: refused for every keyword
        raise ParseError("invalid include path", offset)
    literal, tail = m.group(1), rest[m.end():]
    if not literal[1:-1]:
        raise ParseError("invalid include path", offset)
    target = _resolve(literal[1:-1], name)
    if keyword == "include":
        if not _INCLUDE_TAIL.match(tail):
            raise ParseError("invalid include path", offset)
        return ("{%" + strip_left + f" include __vh_inc({_quote(target)}){tail} %}}"
                + "{{ __vh_leave() " + strip_right + "}}")
    if not _PATH_TAILS[keyword].match(tail):
        raise ParseError("invalid include path", offset)
    return "{%" + strip_left + f" {keyword} __vh_path({_quote(target)}){tail} " + strip_right + "%}"


def _statement(body: str, offset: int, stack: List[Tuple[str, int]], name: str,
               strip_left: str, strip_right: str) -> str:
    """Check and rewrite one `{% ... %}` body (already stripped of `-`/`+` and spaces)."""
    keyword = _IDENT.match(body)
    kw = keyword.group(0) if keyword else ""

    def tag(text: str) -> str:
        return "{%" + strip_left + " " + text + " " + strip_right + "%}"

    if kw == "if":
        cond = body[2:].strip()
        if not cond:
            raise ParseError("if condition required", offset)
        stack.append(("if", offset))
        return tag("if " + rewrite_expr(cond))
    if kw == "elif":
        cond = body[4:].strip()
        if not stack or stack[-1][0] != "if" or not cond:
            raise ParseError("invalid elif", offset)
        return tag("elif " + rewrite_expr(cond))
    if kw == "else":
        if body != "else" or not stack or stack[-1][0] not in ("if", "for"):
            raise ParseError("unexpected block terminator", offset)
        return tag("else")
    if kw in ("endif", "endfor"):
        if body != kw or not stack or stack[-1][0] != kw[3:]:
            raise ParseError("unexpected block terminator", offset)
        stack.pop()
        return tag(kw)
    if kw == "for":
        m = _FOR.match(body)
        if m is None:
            raise ParseError("invalid for syntax", offset)
        targets = [t.strip() for t in m.group(1).split(",")]
        source, suffix = m.group(2).strip(), ""
        parts = re.split(r"\s+(?=(?:if\s|recursive$))", source, maxsplit=1)
        if len(parts) == 2 and "'" not in parts[1] and '"' not in parts[1]:
            source, suffix = parts[0], " " + parts[1]
        if not source:
            raise ParseError("invalid for syntax", offset)
        stack.append(("for", offset))
        width = len(targets) if len(targets) > 1 else 0
        return tag(f"for {', '.join(targets)} in __vh_iter({rewrite_expr(source)}, {width})"
                   + rewrite_expr(suffix))
    if kw == "set":
        if body == "set":
            raise ParseError("invalid set syntax", offset)
        if "=" not in body:
            raise ParseError("set requires '='", offset)
        m = _SET.match(body)
        if m is None:
            raise ParseError("invalid set syntax", offset)
        target, value = m.group(1).strip(), m.group(2).strip()
        if not _SET_TARGET.match(target) or target.lower() in _LITERALS:
            raise ParseError("invalid set variable", offset)
        if not value:
            raise ParseError("set expression required", offset)
        return tag(f"set {target} = {rewrite_expr(value)}")
    if kw in _PATH_STATEMENTS:
        return _path_statement(kw, body, name, offset, strip_left, strip_right)
    if kw in _JINJA_STATEMENTS:
        return tag(body)
    raise ParseError("unsupported template statement", offset)


def preprocess(source: str, name: str, max_nodes: int) -> str:
    """The Jinja source for template `name` (its normalised path); raises `ParseError`."""
    out: List[str] = []
    stack: List[Tuple[str, int]] = []
    pos, nodes, n = 0, 0, len(source)
    while pos < n:
        m = _OPEN.search(source, pos)
        if m is None:
            out.append(source[pos:])
            nodes += 1
            break
        start = m.start()
        if start > pos:
            out.append(source[pos:start])
            nodes += 1
        nodes += 1
        if nodes > max_nodes:
            raise ParseError("template too complex", start)
        kind = source[start + 1]
        if kind == "#":
            end = source.find("#}", start + 2)
            if end < 0:
                raise ParseError("missing #}", start)
            out.append(source[start:end + 2])
            pos = end + 2
            continue
        close = "}}" if kind == "{" else "%}"
        end = _scan_tag(source, start + 2, close)
        if end < 0:
            raise ParseError("missing " + close, start)
        inner = source[start + 2:end]
        strip_left = inner[:1] if inner[:1] in "-+" else ""
        strip_right = inner[-1:] if inner[-1:] == "-" and len(inner) > len(strip_left) else ""
        body = inner[len(strip_left):len(inner) - len(strip_right)].strip()
        if kind == "{":
            out.append("{{" + strip_left + " " + rewrite_expr(body) + " " + strip_right + "}}")
            pos = end + 2
            continue
        if body == "raw":
            raw_end = _RAW_END.search(source, end + 2)
            if raw_end is None:
                raise ParseError("raw missing endraw", start)
            out.append(source[start:raw_end.end()])
            pos = raw_end.end()
            continue
        out.append(_statement(body, start, stack, name, strip_left, strip_right))
        pos = end + 2
    if stack:
        kind, offset = stack[-1]
        raise ParseError(f"{kind} missing end{kind}", offset)
    return "".join(out)

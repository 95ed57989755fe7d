"""Templates over real sockets (docs/internals/templates.md): the original's pinned vectors and runtime
matrix byte for byte, every filter and test, escaping, includes and their sandbox, limits,
error texts, the path+size+mtime cache, and streaming with ETag/gzip/mid-stream failure.

One server per module (tests/apps/templates_app.py); each test writes its template files into
its own directory and posts the path and context to it.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
import time
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest

from support.logs import wait_for_log

from apps.bridge_support import request as raw_request
from conftest import ROOT, TESTS, Server, _wait_ready, free_port

_counter = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("tpl-log") / "server.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1")
    env.pop("VIPERHTTP_VFS_ROOT", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(TESTS / "apps/templates_app.py"), str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
                                stdin=subprocess.DEVNULL)
    _wait_ready(proc, port, log_path)
    srv = Server(proc, port, log_path)
    yield srv
    srv.stop()


@pytest.fixture
def tdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("www")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def render(server: Server, path: Path, context: Any = None, **kw: Any) -> httpx.Response:
    spec: Dict[str, Any] = {"path": str(path), **kw}
    if context is not None:
        spec["context"] = context
    return server.client.post("/render", json=spec)


def tpl(server: Server, tdir: Path, source: str, context: Any = None, **kw: Any) -> httpx.Response:
    path = write(tdir / f"t{next(_counter)}.html", source)
    return render(server, path, context, **kw)


def ok(server: Server, tdir: Path, source: str, context: Any = None, **kw: Any) -> str:
    r = tpl(server, tdir, source, context, **kw)
    assert r.status_code == 200, (source, r.status_code, r.text)
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    return r.text


def fail(server: Server, tdir: Path, source: str, context: Any = None, **kw: Any) -> str:
    r = tpl(server, tdir, source, context, **kw)
    assert r.status_code == 500, (source, r.status_code, r.text)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    return r.text


# --- the original's pinned vectors ------------------------------------------------------------

PINNED = [
    ("Hello {{ name }}", {"name": "World"}, "Hello World"),
    ("{% if ok %}yes{% else %}no{% endif %}", {"ok": False}, "no"),
    ("{% for x in items %}[{{ x }}]{% endfor %}", {"items": [1, 2, 3]}, "[1][2][3]"),
    ("{% if true %}A{% elif false %}B{% else %}C{% endif %}", {}, "A"),
    ("{% set who = '<me>' %}<{{ who }}>", {}, "<&lt;me&gt;>"),
    ("{% for x in items %}{{ x }}{% else %}empty{% endfor %}", {"items": []}, "empty"),
    ("{% raw %}{{ x }} {% if %}{% endraw %}", {}, "{{ x }} {% if %}"),
    ("A   {{- 'x' -}}   B", {}, "AxB"),
    ("{% for k, v in data.items %}{{ k }}={{ v }};{% endfor %}", {"data": {"a": 1, "b": 2}}, "a=1;b=2;"),
]


@pytest.mark.parametrize("source,context,expected", PINNED)
def test_pinned_vectors_render_byte_for_byte(server, tdir, source, context, expected):
    assert ok(server, tdir, source, context) == expected


def test_pinned_include_vector(server, tdir):
    write(tdir / "part.html", "<p>{{ name }}</p>")
    assert ok(server, tdir, "[{% include 'part.html' %}]", {"name": "x"}) == "[<p>x</p>]"


PINNED_PARSE_ERRORS = [
    ("{{ name", "template parse error at line 1, column 1: missing }}"),
    ("ab\n{% if x %}open", "template parse error at line 2, column 1: if missing endif"),
    ("{% for x in y %}open", "template parse error at line 1, column 1: for missing endfor"),
    ("x {% raw %}open", "template parse error at line 1, column 3: raw missing endraw"),
    ("{% unknown x %}", "template parse error at line 1, column 1: unsupported template statement"),
    ("{% set x %}", "template parse error at line 1, column 1: set requires '='"),
]


@pytest.mark.parametrize("source,text", PINNED_PARSE_ERRORS)
def test_pinned_parse_errors(server, tdir, source, text):
    body = fail(server, tdir, source, {"x": 1, "y": []})
    assert body == text
    assert "line " in body and "column " in body and "[near:" not in body


RUNTIME_MATRIX = [
    ("{{ v }}", {"v": "<Ab>"}, True, "&lt;Ab&gt;"),
    ("{{ v|safe }}", {"v": "<Ab>"}, True, "<Ab>"),
    ("{{ missing|default('d') }}", {"missing": None}, True, "d"),
    ("{% if a and b > 1 %}T{% else %}F{% endif %}", {"a": 1, "b": 2}, True, "T"),
    ("{% if a == 1 and b != 2 %}T{% else %}F{% endif %}", {"a": 1, "b": 2}, True, "F"),
    ("{% if 'x' in s %}I{% endif %}{% if 'q' not in s %}N{% endif %}", {"s": "xyz"}, True, "IN"),
    ("{% if 2 in l %}I{% endif %}{% if 'k' in d %}K{% endif %}", {"l": [1, 2], "d": {"k": 0}}, True, "IK"),
    ("{% if m is undefined %}U{% endif %}{% if n is none %}N{% endif %}{% if s is string %}S{% endif %}",
     {"n": None, "s": "x"}, True, "UNS"),
    ("{{ s|upper }}-{{ s|lower }}-{{ s|length }}", {"s": "aBc"}, True, "ABC-abc-3"),
    ("{% for x in l %}{{ loop.index }}/{{ loop.length }}/{{ loop.revindex0 }} {% endfor %}",
     {"l": ["a", "b", "c"]}, True, "1/3/2 2/3/1 3/3/0 "),
    ("{{ s|replace('<','(') }}", {"s": "<a<"}, True, "(a("),
    ("{{ l|join(' | ') }}", {"l": ["a", "<b>", "c"]}, True, "a | &lt;b&gt; | c"),
    ("{{ s|title }}", {"s": "hello wORLD-x_y 2nd"}, True, "Hello World-X_Y 2nd"),
    ("{{ s|capitalize }}", {"s": "hELLO wORLD"}, True, "Hello world"),
    ("{% for x in l %}{{ x }}{% else %}none{% endfor %}", {"l": []}, True, "none"),
    ("U={{ missing }}", {}, False, "U="),
]


@pytest.mark.parametrize("source,context,strict,expected", RUNTIME_MATRIX)
def test_pinned_runtime_matrix(server, tdir, source, context, strict, expected):
    assert ok(server, tdir, source, context, strict=strict) == expected


def test_strict_undefined_is_an_error_and_lenient_is_empty(server, tdir):
    assert fail(server, tdir, "U={{ missing }}") == "undefined template variable"
    assert fail(server, tdir, "{% if missing %}x{% endif %}") == "undefined template variable"
    assert fail(server, tdir, "{{ a.b }}", {"a": {}}) == "undefined template variable"
    assert ok(server, tdir, "[{{ a.b.c }}]{% if a.b %}T{% else %}F{% endif %}", {}, strict=False) == "[]F"
    assert ok(server, tdir, "{% if missing is defined %}D{% else %}U{% endif %}") == "U"


def test_include_escaping_and_traversal(server, tdir):
    write(tdir / "pages" / "part.html", "<{{ v }}>")
    write(tdir / "boot.py", "SECRET")
    write(tdir / "pages" / "ok.html", "[{% include 'part.html' %}]")
    write(tdir / "pages" / "bad.html", "[{% include '../../boot.py' %}]")
    write(tdir / "pages" / "up.html", "[{% include '../boot.py' %}]")
    r = render(server, tdir / "pages" / "ok.html", {"v": "&'"})
    assert r.text == "[<&amp;&#39;>]"
    for name in ("bad.html", "up.html"):
        r = render(server, tdir / "pages" / name, {})
        assert r.status_code == 500 and "SECRET" not in r.text
        assert r.text == "template include error: invalid template path"


def test_include_depth_limit(server, tdir):
    for i in range(20):
        write(tdir / "chain" / f"c{i}.html", f"{i}{{% include 'c{i + 1}.html' %}}")
    write(tdir / "chain" / "c20.html", "end")
    r = render(server, tdir / "chain" / "c0.html")
    assert r.status_code == 500 and r.text == "template include depth exceeded"
    # eight nested includes are allowed, nine are not
    assert render(server, tdir / "chain" / "c12.html").text == "1213141516171819end"
    assert render(server, tdir / "chain" / "c11.html").text == "template include depth exceeded"
    write(tdir / "self.html", "x{% include 'self.html' %}")
    assert render(server, tdir / "self.html").text == "template include depth exceeded"


def test_extends_and_import_cycles_stop_at_the_render_depth(server, tdir):
    """Nested template renders of any kind (include, extends, import, from) count against the
    render depth (16): a cycle through extends/import ends with its own error text instead of
    a RecursionError reported as `template runtime error`."""
    d = tdir / "cyc"
    write(d / "a.html", "{% extends 'b.html' %}")
    write(d / "b.html", "{% extends 'a.html' %}")
    write(d / "self.html", "{% extends 'self.html' %}")
    write(d / "imp.html", "{% import 'imp.html' as m %}x")
    write(d / "f.html", "{% from 'g.html' import y %}x")
    write(d / "g.html", "{% from 'f.html' import y %}{% macro y() %}{% endmacro %}")
    for name in ("a.html", "self.html", "imp.html", "f.html"):
        r = render(server, d / name)
        assert (r.status_code, r.text) == (500, "template depth exceeded"), (name, r.text)
    # a chain of 16 nested extends renders, 17 do not
    for i in range(17):
        write(d / f"e{i}.html", f"{{% extends 'e{i + 1}.html' %}}")
    write(d / "e17.html", "top{% block b %}{% endblock %}")
    assert render(server, d / "e1.html").text == "top"
    assert render(server, d / "e0.html").text == "template depth exceeded"


# --- output rules -------------------------------------------------------------------------------

def test_escapes_exactly_five_characters(server, tdir):
    v = "& < > \" ' / ` = é"
    assert ok(server, tdir, "{{ v }}", {"v": v}) == "&amp; &lt; &gt; &quot; &#39; / ` = é"
    assert ok(server, tdir, "{{ '\"' }}|{{ \"'\" }}") == "&quot;|&#39;"
    assert ok(server, tdir, "<a href=\"{{ v }}\">", {"v": "\"x\""}) == "<a href=\"&quot;x&quot;\">"


def test_autoescape_expression_escapes_once(server, tdir):
    """`{% autoescape expr %}` (decided at render time) neither double-escapes when true nor
    turns escaping off when false."""
    ctx = {"on": True, "off": False, "v": "<\"'&", "s": "<b>"}
    for flag in ("on", "off", "true", "false"):
        src = f"{{% autoescape {flag} %}}{{{{ v }}}}|{{{{ s|safe }}}}{{% endautoescape %}}"
        assert ok(server, tdir, src, ctx) == "&lt;&quot;&#39;&amp;|<b>", src


def test_quote_spelling_in_concat_and_format(server, tdir):
    """`~` with a safe part and `format` on a safe string escape the other values with the
    device's `&quot;` (MarkupSafe would write `&#34;`)."""
    ctx = {"v": "<\"'&", "s": "<b>"}
    assert ok(server, tdir, "{{ s|safe ~ v }}", ctx) == "<b>&lt;&quot;&#39;&amp;"
    assert ok(server, tdir, "{{ v ~ s ~ 1 }}", ctx) == "&lt;&quot;&#39;&amp;&lt;b&gt;1"
    assert ok(server, tdir, "{{ '<i>%s</i>'|safe|format(v) }}", ctx) == "<i>&lt;&quot;&#39;&amp;</i>"
    assert ok(server, tdir, "{{ '<i>%(a)s</i>'|safe|format(a=v) }}", ctx) == "<i>&lt;&quot;&#39;&amp;</i>"
    assert ok(server, tdir, "{{ '%s-%d'|format(v, 3) }}", ctx) == "&lt;&quot;&#39;&amp;-3"
    assert ok(server, tdir, "{% set t = s|safe ~ v %}{{ t }}", ctx) == "<b>&lt;&quot;&#39;&amp;"


def test_values_use_python_str_and_none_is_empty(server, tdir):
    out = ok(server, tdir, "{{ t }}|{{ f }}|{{ n }}|{{ x }}|{{ i }}|{{ l }}|{{ none }}",
             {"t": True, "f": 1.5, "n": None, "x": "", "i": -3, "l": [1, "a"]})
    assert out == "True|1.5|||-3|[1, &#39;a&#39;]|"


def test_source_kept_verbatim_with_trailing_newline_and_crlf(server, tdir):
    assert ok(server, tdir, "a\n\n{{ x }}\n", {"x": 1}) == "a\n\n1\n"
    path = tdir / "crlf.html"
    path.write_bytes(b"l1\r\n{{ x }}\r\n")
    assert render(server, path, {"x": 2}).content == b"l1\r\n2\r\n"


def test_whitespace_control_strips_newlines(server, tdir):
    assert ok(server, tdir, "a\n  {%- if true -%}\n  b\n  {%- endif %}\n") == "ab\n"
    assert ok(server, tdir, "x {#- c -#} y") == "xy"


def test_literals_in_any_case_and_null(server, tdir):
    out = ok(server, tdir, "{{ TRUE }}{{ False }}[{{ NULL }}][{{ None }}]{% if NONE is none %}n{% endif %}")
    assert out == "TrueFalse[][]n"


def test_dict_views_list_index_and_attributes(server, tdir):
    ctx = {"d": {"b": 2, "a": 1, "items": "real"}, "l": ["x", "y"],
           "o": {"__attrs__": {"name": "obj"}}, "pairs": [{"__tuple__": [1, 2, 3]}]}
    src = ("{% for k in d.keys %}{{ k }}{% endfor %}|{% for v in d.values %}{{ v }}{% endfor %}|"
           "{{ d.items|length }}|{{ l.1 }}|{{ o.name }}|{% for a, b in pairs %}{{ a }}{{ b }}{% endfor %}")
    assert ok(server, tdir, src, ctx) == "baitems|21real|3|y|obj|12"
    assert ok(server, tdir, "{% for k, v in d.items() %}{{ k }}{% endfor %}", {"d": {"a": 1}}) == "a"


def test_two_name_for_needs_two_elements(server, tdir):
    assert fail(server, tdir, "{% for a, b in l %}{% endfor %}", {"l": [[1]]}) == "template runtime error"


def test_iterating_none_is_empty_and_dict_gives_keys(server, tdir):
    assert ok(server, tdir, "{% for x in n %}x{% else %}E{% endfor %}", {"n": None}) == "E"
    assert ok(server, tdir, "{% for x in d %}{{ x }}{% endfor %}", {"d": {"p": 1, "q": 2}}) == "pq"


# --- every filter ------------------------------------------------------------------------------

FILTERS = [
    ("{{ v|escape }}", {"v": "<i>"}, "&lt;i&gt;"),
    ("{{ v|safe|escape }}", {"v": "<i>"}, "&lt;i&gt;"),
    ("{{ v|escape|safe }}", {"v": "<i>"}, "<i>"),
    ("{{ v|default('d') }}|{{ e|default('d') }}|{{ z|default('d') }}", {"v": None, "e": "", "z": 0}, "d|d|0"),
    ("{{ v|default(other) }}", {"v": None, "other": "O"}, "O"),
    ("{{ v|default:other }}", {"v": None, "other": "O"}, "O"),
    ("{{ v|default:word }}", {"v": None}, "word"),
    ("{{ v|default(42) }}", {"v": ""}, "42"),
    ("{{ v|upper }}|{{ v|lower }}", {"v": "MiX"}, "MIX|mix"),
    ("{{ v|upper:x }}", {"v": "a"}, None),
    ("{{ v|capitalize }}", {"v": "éCOLE"}, "École"),
    ("{{ v|title }}", {"v": "o'neil mc-DONALD"}, "O&#39;Neil Mc-Donald"),
    ("[{{ v|trim }}]", {"v": "  a b \n"}, "[a b]"),
    ("{{ l|length }}|{{ d|length }}|{{ s|length }}|{{ n|length }}|{{ z|length }}",
     {"l": [1, 2], "d": {"a": 1}, "s": "abc", "n": 7, "z": None}, "2|1|3|0|0"),
    ("{{ l|join }}", {"l": [1, 2, 3]}, "1, 2, 3"),
    ("{{ l|join:- }}", {"l": [1, 2]}, "1-2"),
    ("{{ l|join(\", \") }}|{{ s|join('-') }}", {"l": ["a"], "s": "str"}, "a|str"),
    ("{{ v|replace:a,b }}", {"v": "banana"}, "bbnbnb"),
    ("{{ v|replace('na','NA') }}", {"v": "banana"}, "baNANA"),
    ("{{ v|replace:'<',( }}", {"v": "<x<"}, "(x("),
    ("{{ v|default:'D'|upper }}", {"v": None}, "D"),
]


@pytest.mark.parametrize("source,context,expected", FILTERS)
def test_filters(server, tdir, source, context, expected):
    if expected is None:  # a filter that takes no argument given one: a render error
        assert fail(server, tdir, source, context) == "template runtime error"
    else:
        assert ok(server, tdir, source, context) == expected


def test_unknown_filter_and_test(server, tdir):
    assert fail(server, tdir, "{{ v|nosuch }}", {"v": 1}) == "unknown template filter"
    assert fail(server, tdir, "{% if v is nosuch %}{% endif %}", {"v": 1}) == "unknown template test"


TESTS_MATRIX = [
    ("defined", {"v": None}, "T"), ("undefined", {"v": 1}, "F"), ("none", {"v": None}, "T"),
    ("true", {"v": True}, "T"), ("false", {"v": False}, "T"), ("true", {"v": 1}, "F"),
    ("string", {"v": "s"}, "T"), ("string", {"v": 1}, "F"), ("number", {"v": 1.5}, "T"),
    ("number", {"v": True}, "F"), ("iterable", {"v": [1]}, "T"), ("iterable", {"v": {"a": 1}}, "T"),
    ("iterable", {"v": "s"}, "T"), ("iterable", {"v": 5}, "F"),
]


@pytest.mark.parametrize("test,context,expected", TESTS_MATRIX)
def test_is_tests(server, tdir, test, context, expected):
    src = f"{{% if v is {test} %}}T{{% else %}}F{{% endif %}}"
    assert ok(server, tdir, src, context) == expected
    negated = f"{{% if v is not {test} %}}T{{% else %}}F{{% endif %}}"
    assert ok(server, tdir, negated, context) == ("F" if expected == "T" else "T")


def test_failed_ordering_comparison_is_false(server, tdir):
    src = ("{% if s < 1 %}A{% else %}a{% endif %}{% if n >= 0 %}B{% else %}b{% endif %}"
           "{% if 2 > 1 %}C{% endif %}{% if 'b' <= 'a' %}D{% else %}d{% endif %}")
    assert ok(server, tdir, src, {"s": "x", "n": None}) == "abCd"
    assert ok(server, tdir, "{% if m > 1 %}M{% else %}m{% endif %}", {}, strict=False) == "m"
    assert fail(server, tdir, "{% if m > 1 %}M{% endif %}", {}) == "undefined template variable"


def test_conditions_precedence_and_parentheses(server, tdir):
    src = "{% if not a or b and c %}1{% endif %}{% if (a or b) and not c %}2{% endif %}{% if x >= 3 %}3{% endif %}"
    assert ok(server, tdir, src, {"a": False, "b": True, "c": False, "x": 3}) == "123"


# --- Jinja superset -----------------------------------------------------------------------------

def test_extends_blocks_macros_work(server, tdir):
    write(tdir / "base.html", "<h>{% block title %}T{% endblock %}</h><b>{% block body %}{% endblock %}</b>\n")
    write(tdir / "macros.html", "{% macro item(x) %}<li>{{ x }}</li>{% endmacro %}")
    src = ("{% extends 'base.html' %}{% import 'macros.html' as m %}"
           "{% block body %}{{ super() }}{{ m.item('<a>') }}{{ 2 * 3 }}{% endblock %}")
    assert ok(server, tdir, src) == "<h>T</h><b><li>&lt;a&gt;</li>6</b>\n"


def test_extends_outside_the_sandbox_is_refused(server, tdir):
    write(tdir / "secret.html", "S")
    sub = tdir / "sub"
    write(sub / "page.html", "{% extends '../secret.html' %}")
    r = render(server, sub / "page.html")
    assert r.status_code == 500 and r.text == "template include error: invalid template path"


def test_str_format_cannot_reach_dunders(server, tdir):
    """str.format/format_map take attribute paths in their format string; they go through
    Jinja's sandboxed formatter, so `_` names stay unreachable there too."""
    secret = "SECRET_X" if "SECRET_X" in os.environ else "PATH"
    value = os.environ[secret]
    leaks = [
        "{{ '{0.__init__.__globals__[os].environ[%s]}'.format(cycler) }}" % secret,
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{{ '{x.__class__}'.format_map({'x': ''}) }}",
        "{% set f = ''.format %}{{ f.__self__ }}{{ '{0.__class__}'.format(1) }}",
        "{{ ('{0.__class__}'|attr('format'))(1) }}",
    ]
    for source in leaks:
        r = tpl(server, tdir, source)
        assert r.status_code == 500, (source, r.text)
        assert value not in r.text and "class" not in r.text, (source, r.text)
        out = ok(server, tdir, source, strict=False)
        assert value not in out and "class" not in out and "mro" not in out, (source, out)
    # ordinary format strings still work (and their output is escaped)
    assert ok(server, tdir, "{{ '{0}-{1}'.format('a', v) }}", {"v": "<b>"}) == "a-&lt;b&gt;"


def test_non_literal_extends_import_from_paths_are_refused(server, tdir):
    """Only a single string literal is a template path, for all four statements: an
    expression (context value, parentheses, conditional) would skip the sandbox check."""
    secret = write(tdir / "secret.html", "SECRET")
    write(tdir / "sub" / "m.html", "{% macro f(x) %}[{{ x }}]{% endmacro %}")
    ctx = {"p": str(secret)}
    for source in ["{% extends p %}", f'{{% extends ("{secret}") %}}',
                   f'{{% extends "m.html" if false else "{secret}" %}}',
                   f'{{% extends "m.html" ~ "" %}}', "{% import p as m %}{{ m }}",
                   f'{{% import ("{secret}") as m %}}', "{% from p import f %}",
                   f'{{% from "m.html" if false else "{secret}" import f %}}']:
        r = tpl(server, tdir / "sub", source, ctx)
        assert r.status_code == 500 and "SECRET" not in r.text, (source, r.text)
        assert r.text == "template parse error at line 1, column 1: invalid include path", (source, r.text)
    # the literal forms, with Jinja's modifiers, still work
    assert ok(server, tdir / "sub", "{% import 'm.html' as m without context %}{{ m.f(1) }}") == "[1]"
    assert ok(server, tdir / "sub", "{% from 'm.html' import f as g, f with context %}{{ g(2) }}{{ f(3) }}") == "[2][3]"


def test_symlink_out_of_the_sandbox_is_refused(server, tdir):
    """The sandbox compares real paths: a link inside the template directory that points
    outside it is refused, for include, extends and import alike."""
    outside = write(tdir / "outside" / "secret.html", "SECRET")
    pages = tdir / "pages"
    write(pages / "inner.html", "IN")
    pages.mkdir(exist_ok=True)
    os.symlink(outside, pages / "link.html")
    os.symlink(tdir / "outside", pages / "linkdir")
    os.symlink(pages / "inner.html", pages / "ok-link.html")  # stays inside: allowed
    for source in ["{% include 'link.html' %}", "{% include 'linkdir/secret.html' %}",
                   "{% extends 'link.html' %}", "{% import 'link.html' as m %}",
                   "{% from 'linkdir/secret.html' import x %}"]:
        r = tpl(server, pages, source)
        assert r.status_code == 500 and "SECRET" not in r.text, (source, r.text)
        assert r.text == "template include error: invalid template path", (source, r.text)
    assert ok(server, pages, "[{% include 'ok-link.html' %}]") == "[IN]"


# --- limits and errors -------------------------------------------------------------------------

def test_loop_limit_counts_all_loops(server, tdir):
    src = "{% for a in l %}{% for b in l %}.{% endfor %}{% endfor %}"
    assert len(ok(server, tdir, src, {"l": list(range(99))})) == 99 * 99
    assert fail(server, tdir, src, {"l": list(range(100))}) == "template loop limit exceeded"


def test_other_error_texts(server, tdir):
    r = render(server, tdir / "nope.html")
    assert r.status_code == 500 and r.text == "template not found"
    deadline = time.monotonic() + 5  # a failed TemplateResponse is logged, as every 500
    while "template_error template not found" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "template_error template not found" in server.logs()
    write(tdir / "inc.html", "{% include 'gone.html' %}")
    assert render(server, tdir / "inc.html").text == "template include error: template not found"
    write(tdir / "badinc.html", "{% include 'broken.html' %}")
    write(tdir / "broken.html", "\n{% if %}")
    assert render(server, tdir / "badinc.html").text == (
        "template include error: template parse error at line 2, column 1: if condition required")
    # The body is the short documented text; the log line also names the file (the included
    # one) and, for a render failure, the cause.
    logs = wait_for_log(server, "/broken.html)")
    assert "template parse error at line 2, column 1: if condition required (in " in logs, logs
    write(tdir / "avatar.html", "{{ user.avatar }}")
    assert render(server, tdir / "avatar.html", {"user": {}}).text == "undefined template variable"
    logs = wait_for_log(server, "avatar.html: 'dict object' has no attribute 'avatar')")
    assert "template_error undefined template variable (in " in logs
    assert "avatar.html: 'dict object' has no attribute 'avatar')" in logs
    big = write(tdir / "big.html", "x" * 131073)
    assert render(server, big).text == "template too large"
    body = fail(server, tdir, "{% for x in l %}" + "{{ x }}" * 2100 + "{% endfor %}")
    assert body.startswith("template parse error at line 1, column ") and body.endswith(": template too complex")
    assert fail(server, tdir, "{{ 1 / z }}", {"z": 0}) == "template runtime error"
    assert fail(server, tdir, "{% elif x %}") == "template parse error at line 1, column 1: invalid elif"
    assert fail(server, tdir, "{% endif %}") == "template parse error at line 1, column 1: unexpected block terminator"
    assert fail(server, tdir, "{% for x %}{% endfor %}") == "template parse error at line 1, column 1: invalid for syntax"
    assert fail(server, tdir, "{% set %}") == "template parse error at line 1, column 1: invalid set syntax"
    assert fail(server, tdir, "{% set 1x = 2 %}") == "template parse error at line 1, column 1: invalid set variable"
    assert fail(server, tdir, "{% set x = %}") == "template parse error at line 1, column 1: set expression required"
    assert fail(server, tdir, "{% if %}{% endif %}") == "template parse error at line 1, column 1: if condition required"
    assert fail(server, tdir, "{% include x %}") == "template parse error at line 1, column 1: invalid include path"
    assert fail(server, tdir, "{% include 'a' ~ x %}") == "template parse error at line 1, column 1: invalid include path"
    assert ok(server, tdir, "[{% include 'none.html' ignore missing %}]{% if(1) %}y{% endif %}") == "[]y"
    assert fail(server, tdir, "\r\n\r{% if x %}") == "template parse error at line 3, column 1: if missing endif"
    assert fail(server, tdir, "{# open") == "template parse error at line 1, column 1: missing #}"
    assert fail(server, tdir, "a {% if x") == "template parse error at line 1, column 3: missing %}"


def test_unreadable_and_invalid_paths(server, tdir):
    path = tdir / "latin1.html"
    path.write_bytes(b"caf\xe9 {{ x }}")
    r = render(server, path, {"x": 1})
    assert (r.status_code, r.text) == (500, "template read failed")
    r = server.client.post("/render", json={"path": str(tdir / "a\x00b.html")})
    assert (r.status_code, r.text) == (500, "invalid template path")
    r = render(server, tdir)  # a directory
    assert (r.status_code, r.text) == (500, "template not found")


def test_jinja_only_syntax_error_keeps_position(server, tdir):
    body = fail(server, tdir, "ok\nx {{ a + }}")
    assert body.startswith("template parse error at line 2, column 3: "), body


def test_debug_mode_adds_near_and_exception_text(server, tdir):
    assert server.client.post("/debug", json={}).json() == {"debug": False}
    assert server.client.post("/debug", json={"enabled": True}).json() == {"debug": True}
    try:
        body = fail(server, tdir, "ok\n  {% if x %} tail")
        assert body == "template parse error at line 2, column 3: if missing endif [near:   {% if x %} tail]"
        long_line = "y" * 100 + "{% bogus %}"
        body = fail(server, tdir, long_line)
        assert body.endswith(f" [near: {long_line[:72]}]")
        assert fail(server, tdir, "{{ 1 / z }}", {"z": 0}).startswith("template runtime error: ")
    finally:
        assert server.client.post("/debug", json={"enabled": False}).json() == {"debug": False}
    assert "[near:" not in fail(server, tdir, "{% if x %}")


def test_render_template_raises_value_error_and_argument_errors(server, tdir):
    path = write(tdir / "u.html", "{{ missing }}")
    r = server.client.post("/render-str", json={"path": str(path)}).json()
    assert r == {"error": "template: undefined template variable", "type": "ValueError"}
    r = server.client.post("/render-str", json={"path": str(path), "strict": False}).json()
    assert r == {"ok": ""}
    r = server.client.post("/render-bad-args", json={"path": str(path)}).json()
    assert r["path_int"].startswith("TypeError")
    assert r["path_empty"].startswith("ValueError")
    assert r["context_list"] == "TypeError: context must be dict"
    assert r["response_context_list"] == "TypeError: context must be dict"


def test_tpl_ctx_alias_status_headers_and_content_type(server, tdir):
    path = write(tdir / "a.txt", "{{ v }}")
    r = server.client.post("/render", json={"path": str(path), "tpl_ctx": {"v": "x"}, "status_code": 201,
                                            "headers": {"X-T": "1"}, "content_type": "text/plain"})
    assert (r.status_code, r.text, r.headers["x-t"], r.headers["content-type"]) == (201, "x", "1", "text/plain")


# --- cache ---------------------------------------------------------------------------------------

def stats(server: Server) -> Dict[str, Any]:
    return server.client.get("/stats").json()


def test_cache_hits_and_invalidation_on_edit(server, tdir):
    path = write(tdir / "c.html", "v1")
    before = stats(server)
    assert render(server, path).text == "v1"
    assert render(server, path).text == "v1"
    mid = stats(server)
    assert mid["compiles"] == before["compiles"] + 1
    assert mid["cache_hits"] == before["cache_hits"] + 1
    assert mid["cache_misses"] == before["cache_misses"] + 1
    assert mid["renders"] == before["renders"] + 2
    entry = next(e for e in mid["entries"] if e["path"] == str(path))
    assert entry["size"] == 2 and entry["hits"] == 1 and entry["bytes"] == 2 and entry["mtime"] > 0
    write(path, "v22")  # size changes
    assert render(server, path).text == "v22"
    st = os.stat(path)
    write(path, "v33")  # same size: only mtime changes
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert render(server, path).text == "v33"
    assert stats(server)["compiles"] == mid["compiles"] + 2
    assert set(mid) >= {"renders", "compiles", "cache_hits", "cache_misses", "cache_evicts", "errors",
                        "cache_bytes", "cache_budget_bytes", "entries", "capacity"}
    assert mid["capacity"] == 256 and mid["cache_budget_bytes"] == 32 * 1024 * 1024


def test_clear_cache_one_or_all_and_errors_counted(server, tdir):
    a, b = write(tdir / "a.html", "a"), write(tdir / "b.html", "b")
    render(server, a), render(server, b)
    server.client.post("/clear", json={"path": str(a)})
    paths = {e["path"] for e in stats(server)["entries"]}
    assert str(a) not in paths and str(b) in paths
    server.client.post("/clear", json={})
    assert stats(server)["entries"] == [] and stats(server)["cache_bytes"] == 0
    errors = stats(server)["errors"]
    render(server, tdir / "missing.html")
    assert stats(server)["errors"] == errors + 1


def test_configure_limits_and_lru_eviction(server, tdir):
    try:
        conf = server.client.post("/configure", json={"cache_entries": 2, "max_loop_iters": 5}).json()
        assert conf["cache_entries"] == 2 and conf["max_loop_iters"] == 5 and conf["max_include_depth"] == 8
        evicts = stats(server)["cache_evicts"]
        for name in "xyz":
            render(server, write(tdir / f"{name}.html", name))
        st = stats(server)
        assert [e["path"] for e in st["entries"]] == [str(tdir / "y.html"), str(tdir / "z.html")]
        assert st["cache_evicts"] == evicts + 1
        assert fail(server, tdir, "{% for x in l %}{% endfor %}", {"l": list(range(6))}) == \
            "template loop limit exceeded"
    finally:
        server.client.post("/configure", json={"cache_entries": 256, "max_loop_iters": 10000})


def test_warmup_compiles_template_files(server, tdir):
    write(tdir / "w" / "a.html", "a")
    write(tdir / "w" / "sub" / "b.j2", "b")
    write(tdir / "w" / "sub" / "c.txt", "c")
    write(tdir / "w" / "bad.tpl", "{% if %}")
    r = server.client.post("/warmup", json={"root": str(tdir / "w")}).json()
    assert r == {"root": str(tdir / "w"), "dirs_seen": 2, "files_seen": 4, "candidates": 3,
                 "compiled": 2, "cached": 0, "errors": 1}
    r = server.client.post("/warmup", json={"root": str(tdir / "w")}).json()
    assert (r["compiled"], r["cached"]) == (0, 2)
    r = server.client.post("/warmup", json={"root": str(tdir / "nodir")}).json()
    assert r["type"] == "ValueError"
    assert server.client.post("/warmup", json={"root": "rel"}).json()["type"] == "ValueError"


# --- streaming -----------------------------------------------------------------------------------

def test_stream_renders_chunked(server, tdir):
    rows = [f"row-{i}" for i in range(5000)]
    path = write(tdir / "s.html", "{% for r in rows %}<td>{{ r }}</td>{% endfor %}\n")
    r = render(server, path, {"rows": rows}, stream=True)
    assert r.status_code == 200 and "content-length" not in r.headers
    assert r.headers.get("transfer-encoding") == "chunked"
    assert r.text == "".join(f"<td>{x}</td>" for x in rows) + "\n"


def test_stream_etag_304_without_rendering(server, tdir):
    path = write(tdir / "e.html", "{{ v }}")
    spec = {"path": str(path), "context": {"v": "body"}, "stream": True, "headers": {"ETag": '"v1"'}}
    r = server.client.post("/render", json=spec, headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == '"v1"'
    r = server.client.post("/render", json=spec, headers={"If-None-Match": '"v0"'})
    assert r.status_code == 200 and r.text == "body"
    # a matching ETag on a template that would fail: no rendering happens
    spec["path"] = str(write(tdir / "e2.html", "{{ missing }}"))
    r = server.client.post("/render", json=spec, headers={"If-None-Match": 'W/"v1"'})
    assert r.status_code == 304


def test_stream_gzip_when_accepted(server, tdir):
    path = write(tdir / "g.html", "{% for i in l %}line {{ i }}\n{% endfor %}")
    spec = {"path": str(path), "context": {"l": list(range(3000))}, "stream": True}
    resp = raw_request(server.port, "/render", "POST", {"Content-Type": "application/json",
                                                        "Accept-Encoding": "gzip"},
                       json.dumps(spec).encode())
    assert resp.status == 200 and resp.complete, resp.summary()
    assert resp.header("content-encoding") == "gzip" and resp.header("vary") == "Accept-Encoding"
    assert gzip.decompress(resp.body).decode() == "".join(f"line {i}\n" for i in range(3000))
    resp = raw_request(server.port, "/render", "POST", {"Content-Type": "application/json"},
                       json.dumps(spec).encode())
    assert resp.header("content-encoding") is None and resp.body.startswith(b"line 0\n")
    # Content-Length set by the app: never compressed
    spec2 = dict(spec, path=str(write(tdir / "g2.html", "abc")), headers={"Content-Length": "3"})
    resp = raw_request(server.port, "/render", "POST", {"Content-Type": "application/json",
                                                        "Accept-Encoding": "gzip"},
                       json.dumps(spec2).encode())
    assert resp.header("content-encoding") is None, resp.summary()
    # app-set Content-Encoding: gzip compresses even without Accept-Encoding
    spec3 = dict(spec, headers={"Content-Encoding": "gzip"})
    resp = raw_request(server.port, "/render", "POST", {"Content-Type": "application/json"},
                       json.dumps(spec3).encode())
    assert gzip.decompress(resp.body).startswith(b"line 0\n")


def test_stream_failure_before_output_is_a_500(server, tdir):
    r = tpl(server, tdir, "{{ missing }}", {}, stream=True)
    assert r.status_code == 500 and r.text == "undefined template variable"
    r = tpl(server, tdir, "{% if %}", {}, stream=True)
    assert r.status_code == 500 and r.text.startswith("template parse error at line 1, column 1")


def test_stream_failure_mid_stream_is_visible_truncation(server, tdir):
    path = write(tdir / "m.html", "{% for r in rows %}{{ r }}{% endfor %}{{ boom }}")
    spec = {"path": str(path), "context": {"rows": ["x" * 100] * 500}, "stream": True}
    resp = raw_request(server.port, "/render", "POST", {"Content-Type": "application/json"},
                       json.dumps(spec).encode())
    assert resp.status == 200 and resp.chunked
    assert not resp.complete, "the chunked body must not be terminated normally"
    assert len(resp.body) >= 16384
    assert "template_stream_error undefined template variable" in server.logs()
    # the server keeps serving
    assert tpl(server, tdir, "ok").text == "ok"


def test_vfs_root_maps_template_paths(serve, tmp_path):
    root = tmp_path / "device"
    write(root / "www" / "page.html", "P{% include 'part.html' %}")
    write(root / "www" / "part.html", "[{{ v }}]")
    srv = serve("apps/templates_app.py", env={"VIPERHTTP_VFS_ROOT": str(root)})
    r = srv.client.post("/render", json={"path": "/www/page.html", "context": {"v": 1}})
    assert r.status_code == 200 and r.text == "P[1]"
    # `/..` is normalised away at the VFS root: this is `<root>/outside.html`, which is missing
    write(root.parent / "outside.html", "OUT")
    r = srv.client.post("/render", json={"path": "/../outside.html"})
    assert (r.status_code, r.text) == (500, "template not found")
    r = srv.client.post("/warmup", json={"root": "/www"}).json()
    assert r["compiled"] == 0 and r["cached"] == 2


def test_example_app_renders_its_pages(serve, tmp_path):
    """examples/templates_lifespan.py, driven as its docstring says."""
    srv = serve("examples/templates_lifespan.py", cwd=tmp_path)  # OTA slots go to tmp_path/.ota
    r = srv.client.get("/users")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Users</title>" in r.text and "<h1>Users</h1>" in r.text
    assert '<li class="first">Ada Lovelace &lt;ada@example.com&gt;</li>' in r.text
    assert "<p>2 users, started " in r.text
    assert "<li>nobody yet</li>" in srv.client.get("/users?n=0").text
    assert srv.client.get("/ota/status").json()["running_partition"]["label"] == "ota_0"
    assert (tmp_path / ".ota" / "state.json").exists()
    assert srv.stop() == 0
    assert "lifespan: closed" in srv.logs()


def test_fastapis_jinja2templates_and_url_for_a_named_mount(tmp_path):
    """FastAPI's templates tutorial: `from fastapi.templating import Jinja2Templates` had no
    ViperHTTP equivalent, and `url_for('static', path=...)` did not name mounts. Starlette's
    class renders plain Jinja2 (autoescaped) with `request` and `url_for` in the context; its
    older `TemplateResponse(name, {"request": ...})` order works too."""
    import viperhttp
    from viperhttp import Request, ViperHTTP
    from viperhttp.responses import HTMLResponse
    from viperhttp.staticfiles import StaticFiles
    from viperhttp.templating import Jinja2Templates
    from viperhttp.testclient import TestClient

    (tmp_path / "templates").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "styles.css").write_text("h1 { color: green; }")
    (tmp_path / "templates" / "item.html").write_text(
        '<link href="{{ url_for(\'static\', path=\'/styles.css\') }}">'
        '<a href="{{ url_for(\'read_item\', id=id) }}">{{ id }}</a>{{ user }}')
    viperhttp.reset()
    try:
        app = ViperHTTP()
        app.mount("/static", StaticFiles(directory=tmp_path / "static"), name="static")
        templates = Jinja2Templates(directory=tmp_path / "templates",
                                    context_processors=[lambda request: {"user": "ada"}])

        @app.get("/items/{id}", response_class=HTMLResponse)
        async def read_item(request: Request, id: str):
            return templates.TemplateResponse(request=request, name="item.html", context={"id": id})

        @app.get("/old/{id}")
        def old(request: Request, id: str):
            return templates.TemplateResponse("item.html", {"request": request, "id": id}, status_code=201)

        @app.get("/cookies")
        def cookies(request: Request):
            # headers as Starlette's responses take them: pairs (a name repeated) or any mapping
            return templates.TemplateResponse(request, "item.html", {"id": "c"},
                                               headers=[("set-cookie", "a=1"), ("set-cookie", "b=2")])

        @app.get("/mapping")
        def mapping(request: Request):
            from types import MappingProxyType

            return templates.TemplateResponse(request, "item.html", {"id": "m"},
                                               headers=MappingProxyType({"x-kind": "mapping"}))

        with TestClient(app) as c:
            r = c.get("/items/foo")
            assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
            assert r.text == ('<link href="http://testserver/static/styles.css">'
                              '<a href="http://testserver/items/foo">foo</a>ada')
            r = c.get("/old/<b>")
            assert r.status_code == 201 and '">&lt;b&gt;</a>' in r.text
            assert c.get("/static/styles.css").text == "h1 { color: green; }"
            r = c.get("/cookies")
            assert r.headers.get_list("set-cookie") == ["a=1", "b=2"] and ">c</a>" in r.text
            assert c.get("/mapping").headers["x-kind"] == "mapping"
        assert app.url_path_for("static", path="css/a b.css") == "/static/css/a%20b.css"
        with pytest.raises(TypeError, match="directory= or env="):
            Jinja2Templates()
    finally:
        viperhttp.reset()

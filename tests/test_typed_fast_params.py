"""The native fast conversion of typed path/query parameters (`_native.FastParams`,
docs/internals/typed-api.md#fast-path) against the Python fast plan it replaces per request.

In-process on purpose: the question is whether two implementations of one table agree, for
thousands of generated raw query strings; tests/test_typed.py checks both against pydantic over
HTTP, and tests/test_bridge_workers.py the typed route end to end.
"""
from __future__ import annotations

import random
from typing import Optional

import pytest

import viperhttp
from viperhttp import _native
from viperhttp.request import MAX_QUERY_PAIRS, Request

KEYS = ["i", "f", "b", "s", "o", "x", ""]
VALUES = ["", "0", "-0", "7", "-12", "01", "-01", "1.5", "-0.25", "1.", ".5", "1.2.3", "-", "1e3", "inf", "nan",
          "123456789012345", "1234567890123456", "0.123456789012345", "0.1234567890123456", "true", "True",
          "false", "yes", "no", "on", "off", "t", "f", "y", "n", "1", "abc", " 1", "1_0"]


@pytest.fixture(scope="module")
def app():
    viperhttp.clear_active_app()
    app = viperhttp.ViperHTTP(docs=False)

    @app.get("/p/{n}/{name}")
    async def route(n: int, name: str, i: Optional[int] = None, f: float = 1.5, b: bool = False, s: str = "d",
                    o: Optional[bool] = None):
        return {}

    @app.get("/q")
    async def q(i: int = 0):
        return {}

    yield app
    viperhttp.clear_active_app()


def typed_plan(app, path):
    return app._routes_by_id[_native.route_match("GET", path)[0]].typed


@pytest.fixture(scope="module")
def plan(app):
    typed = typed_plan(app, "/p/1/x")
    assert typed.native is not None
    return typed


def python_fast(plan, path_params, query):
    """The Python fast plan, source by source: kwargs, or None where one source falls back."""
    request = Request._from_native(1, "GET", "/p", query, b"", b"", None, "http", "1.1")
    request._path_params = dict(path_params)
    kwargs = {}
    for src in plan.sources:
        if not src.fill_fast(request, kwargs):
            return None
    return kwargs


def needs_decoding(query):
    return not query.isascii() or "%" in query or "+" in query


def check(plan, path_params, query):
    native = {}
    ok = plan.native.fill(path_params, query, native)
    expected = python_fast(plan, path_params, query)
    if ok:
        assert expected is not None, (query, native)
        assert native == expected and all(type(native[k]) is type(expected[k]) for k in expected), (query, native,
                                                                                                      expected)
    else:
        assert expected is None or needs_decoding(query), (query, expected)


def test_generated_queries_agree_with_the_python_plan(plan):
    rng = random.Random(11)
    for _ in range(4000):
        pairs = []
        for _ in range(rng.randint(0, 6)):
            key, value = rng.choice(KEYS), rng.choice(VALUES)
            pairs.append(key if rng.random() < 0.1 else f"{key}={value}")
        query = "&".join(pairs) if rng.random() < 0.9 else "&&".join(pairs)
        path = {"n": rng.choice(["3", "-1", "01", "x", 5]), "name": rng.choice(["a", "", "ü"])}
        check(plan, path, query)


@pytest.mark.parametrize("query", [
    "i=1&i=2", "i=&i=2", "=5&i=3", "i", "i=1=2", "b=on&b=off", "s=", "f=1.50", "o=y",
    "s=a%20b", "s=a+b", "s=ü", "i=%31",  # need decoding: the Python plan decides
])
def test_listed_queries_agree_with_the_python_plan(plan, query):
    check(plan, {"n": "3", "name": "x"}, query)


def test_the_pair_limit_is_the_python_one(plan):
    filler = "&".join(f"k{j}=v" for j in range(MAX_QUERY_PAIRS - 1))
    last = filler + "&i=9"  # the limit-th pair is still read
    past = filler + "&x=1&i=9"  # one pair past the limit
    for query in (last, past):
        check(plan, {"n": "3", "name": "x"}, query)
    got = {}
    assert plan.native.fill({"n": "3", "name": "x"}, last, got) and got["i"] == 9
    got = {}
    assert plan.native.fill({"n": "3", "name": "x"}, past, got) and got["i"] is None


def test_a_missing_required_path_value_or_a_foreign_type_declines(plan):
    assert not plan.native.fill({"name": "x"}, "", {})
    assert not plan.native.fill({"n": 3.0, "name": "x"}, "", {})  # a float is not an int
    assert not plan.native.fill({"n": "3", "name": 4}, "", {})  # nor an int a str
    assert not plan.native.fill({"n": "3", "name": "x"}, b"i=1", {})  # bytes: the Python plan decodes
    got = {}
    assert plan.native.fill({"n": 3, "name": "x"}, "", got) and got["n"] == 3


def test_replaced_query_params_win_over_the_raw_string(app):
    typed = typed_plan(app, "/q")
    request = Request._from_native(1, "GET", "/q", "i=1", b"", b"", None, "http", "1.1")
    request.query_params = {"i": "2"}
    kwargs = {}
    typed.fill(request, kwargs)
    assert kwargs == {"i": 2}


def test_a_bad_kind_is_refused_at_construction():
    with pytest.raises(ValueError, match="unknown kind"):
        _native.FastParams([(True, "a", "a", "decimal", None, False)], 64)

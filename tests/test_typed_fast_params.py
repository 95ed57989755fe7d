"""The native fast conversion of typed path/query parameters (`_native.FastParams`,
docs/internals/typed-api.md#fast-path) and the native query-string reader it shares with
`request.query_params` (crates/viperhttp-py/src/query.rs).

In-process on purpose: thousands of generated raw query strings, each filled the way a request
is (`TypedPlan.fill`: the native plan, or source by source with pydantic behind it) and checked
against pydantic's own answer for the same values; tests/test_typed.py checks the server's
answers over HTTP, tests/test_bridge_workers.py the typed route end to end.
"""
from __future__ import annotations

import datetime
import inspect
import random
from typing import Optional

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import viperhttp
from viperhttp import _native
from viperhttp.exceptions import RequestValidationError
from viperhttp.request import MAX_QUERY_PAIRS, Request, parse_query
from viperhttp.route_pipeline import call_route


class Shown(BaseModel):
    n: int

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

    @app.get("/echo/{n}/{name}")
    async def echo(n: int, name: str, i: Optional[int] = None, f: float = 1.5, b: bool = False):
        return {"n": n, "name": name, "i": i, "f": f, "b": b}

    @app.get("/model/{n}", response_model=Shown)
    async def model(n: int, hidden: str = "h"):
        return {"n": n, "hidden": hidden}

    @app.get("/raises/{n}")
    async def raises(n: int):
        raise viperhttp.HTTPException(status_code=409, detail=f"n={n}")

    # Not the native bare path: each has something `call_route` must do.
    @app.get("/sync/{n}")
    def sync_typed(n: int):
        return {"n": n}

    @app.get("/with-request/{n}")
    async def with_request(n: int, request: Request):
        return {"n": n}

    @app.get("/untyped/{n}/{raw}")
    async def untyped(n: int, raw):
        return {"n": n, "raw": raw}

    @app.get("/varkw/{n}")
    async def varkw(n: int, **rest):
        return {"n": n}

    @app.get("/loose/{n}")
    async def loose(n: int, when: datetime.date = datetime.date(2020, 1, 1)):
        return {"n": n}

    yield app
    viperhttp.clear_active_app()


def typed_plan(app, path):
    return app._routes_by_id[_native.route_match("GET", path)[0]].typed


@pytest.fixture(scope="module")
def plan(app):
    typed = typed_plan(app, "/p/1/x")
    assert typed.native is not None
    return typed


PATH = {"n": int, "name": str}
QUERY = {"i": (Optional[int], None), "f": (float, 1.5), "b": (bool, False), "s": (str, "d"), "o": (Optional[bool], None)}
ADAPTERS = {tp: TypeAdapter(tp) for tp in [int, str, Optional[int], float, bool, Optional[bool]]}


def reference(path_params, query):
    """pydantic's answer for every parameter, or None when any value is invalid (a 422)."""
    values = {}
    q = parse_query(query)
    try:
        for name, tp in PATH.items():
            if name not in path_params:
                return None
            values[name] = ADAPTERS[tp].validate_python(path_params[name])
        for name, (tp, default) in QUERY.items():
            values[name] = ADAPTERS[tp].validate_python(q[name]) if name in q else default
    except ValidationError:
        return None
    return values


def request_for(path_params, query):
    request = Request._from_native(1, "GET", "/p", query, b"", b"", None, "http", "1.1")
    request._path_params = dict(path_params)
    return request


def check(plan, path_params, query):
    """Fills as a request would and compares with pydantic; True when the native plan took it."""
    kwargs = {}
    native = plan.native.fill(path_params, query, dict(kwargs))
    expected = reference(path_params, query)
    try:
        plan.fill(request_for(path_params, query), kwargs)
    except RequestValidationError:
        assert expected is None, (query, path_params, expected)
        return native
    assert kwargs.keys() == expected.keys(), (query, kwargs, expected)
    for k, want in expected.items():  # repr: equal values of equal types, nan included
        assert repr(kwargs[k]) == repr(want) and type(kwargs[k]) is type(want), (query, path_params, k, kwargs, want)
    return native


def test_generated_queries_get_pydantic_s_answers(plan):
    rng = random.Random(11)
    taken = 0
    for _ in range(4000):
        pairs = []
        for _ in range(rng.randint(0, 6)):
            key, value = rng.choice(KEYS), rng.choice(VALUES)
            pairs.append(key if rng.random() < 0.1 else f"{key}={value}")
        query = "&".join(pairs) if rng.random() < 0.9 else "&&".join(pairs)
        path = {"n": rng.choice(["3", "-1", "01", "x", 5]), "name": rng.choice(["a", "", "ü"])}
        taken += check(plan, path, query)
    assert taken > 400, taken  # the native plan itself, not only the fallback, was checked


@pytest.mark.parametrize("query", [
    "i=1&i=2", "i=&i=2", "=5&i=3", "i", "i=1=2", "b=on&b=off", "s=", "f=1.50", "o=y",
    "s=a%20b", "s=a+b", "s=ü", "i=%31", "b=%74rue",  # need decoding: through query_params
])
def test_listed_queries_get_pydantic_s_answers(plan, query):
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


def test_a_path_only_plan_ignores_the_query_string():
    plan = _native.FastParams([(False, "n", "n", "int", None, True)], MAX_QUERY_PAIRS)
    got = {}
    assert plan.fill({"n": "3"}, "x=%41+b&ü", got) and got == {"n": 3}  # nothing to decode for it
    assert not plan.fill({"n": "03"}, "", {})


def test_a_bad_kind_is_refused_at_construction():
    with pytest.raises(ValueError, match="unknown kind"):
        _native.FastParams([(True, "a", "a", "decimal", None, False)], 64)


# --- `_handle`'s native bare path (RoutePlan.native_bare, docs/internals/bridge.md#bare-coroutine)


def route_plan(app, path):
    return app._routes_by_id[_native.route_match("GET", path)[0]]


def run_to_end(request, result):
    """What the bridge makes of `_handle`'s result: a bare coroutine stepped to its end, its
    response plan applied; a raised error through the app's handlers; anything else as is."""
    if not inspect.iscoroutine(result):
        return result
    try:
        result.send(None)
    except StopIteration as done:
        value = done.value
    else:  # pragma: no cover - these handlers never suspend
        raise AssertionError("the handler suspended")
    return request._finish(value) if request._finish is not None else value


def through(app, path, query, general):
    route_id, params = _native.route_match("GET", path)
    request = Request._from_native(1, "GET", path, query, b"", b"", None, "http", "1.1", route_id, params)
    if general:  # what `_handle` did before the native bare path: `call_route`, bare
        request._path_params = params
        result = call_route(app._routes_by_id[route_id], request, params, app._exception_handlers, True)
    else:
        result = app._handle(request)
    try:
        return run_to_end(request, result)
    except Exception as exc:  # the bridge's `_on_error`
        return app._handle_error(request, exc)


def test_the_native_bare_path_is_taken_only_where_nothing_else_must_run(app):
    for path in ("/p/1/x", "/q", "/echo/1/x", "/model/1", "/raises/1"):
        assert route_plan(app, path).native_bare is not None, path
    for path in ("/sync/1", "/with-request/1", "/untyped/1/x", "/varkw/1", "/loose/1"):
        assert route_plan(app, path).native_bare is None, path


@pytest.mark.parametrize("path,query,native", [
    ("/echo/7/abc", "", True), ("/echo/7/abc", "i=3&f=2.5&b=true", True), ("/echo/-1/%C3%BC", "b=0&i=-4", True),
    ("/echo/7/abc", "i=x", False),  # the native plan declines, pydantic's 422 follows
    ("/echo/x/abc", "", False),  # the same for a path value
    ("/echo/7/abc", "i=%33", False),  # a value that needs decoding: the Python plan
    ("/model/3", "hidden=z", True),  # the response model drops `hidden`
    ("/raises/5", "", True),  # the handler's HTTPException through the app's handlers
])
def test_the_native_bare_path_answers_as_call_route_does(app, monkeypatch, path, query, native):
    general = through(app, path, query, True)
    general_calls = []

    def counted(*args, **kwargs):
        general_calls.append(args[1])
        return call_route(*args, **kwargs)

    monkeypatch.setattr(viperhttp.app, "call_route", counted)
    fast = through(app, path, query, False)
    assert fast == general
    assert _native.serialize_response(fast) == _native.serialize_response(general)
    assert len(general_calls) == (0 if native else 1)  # the native bare path was (not) taken

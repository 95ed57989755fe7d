"""Query parameters end to end (docs/internals/framework.md): every spec form ok / missing / invalid with the
exact
422 bodies, defaults, undeclared values, request injection; spec errors in-process."""
import pytest

import viperhttp
from viperhttp import Query

APP = "apps/framework_app.py"
FW = "apps/framework_surface_app.py"


def assert_422(response, message):
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.content == ('{"detail":"%s"}' % message).encode()


def test_type_specs_ok_missing_invalid(serve):
    c = serve(APP).client
    assert c.get("/q/int?page=3").json() == {"page": 3, "type": "int"}
    assert c.get("/q/int?page=-12").json() == {"page": -12, "type": "int"}
    assert_422(c.get("/q/int"), "Missing query param: page")
    for bad in ("", "+1", "1.0", "0x1", "1_0", "%201", "abc", "%C2%B2"):
        assert_422(c.get(f"/q/int?page={bad}"), "Invalid query param: page")
    assert c.get("/q/float?x=.5").json() == {"x": 0.5}
    assert c.get("/q/float?x=-2.25").json() == {"x": -2.25}
    assert c.get("/q/float?x=7").json() == {"x": 7.0}
    for bad in ("1.", "1e3", "inf", "nan", ""):
        assert_422(c.get(f"/q/float?x={bad}"), "Invalid query param: x")
    for raw, value in (("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False), ("false", False),
                       ("NO", False), ("off", False)):
        assert c.get(f"/q/bool?flag={raw}").json() == {"flag": value}, raw
    assert_422(c.get("/q/bool?flag=2"), "Invalid query param: flag")
    assert_422(c.get("/q/bool?flag="), "Invalid query param: flag")
    assert_422(c.get("/q/bool"), "Missing query param: flag")
    assert c.get("/q/str?s=").json() == {"s": ""}
    assert c.get("/q/str?s=a+b%20c%zz").json() == {"s": "a b c%zz"}


def test_query_objects_defaults_and_required(serve):
    c = serve(APP).client
    assert c.get("/q/optional").json() == {"page": 1, "name": "anon", "none": None}
    assert c.get("/q/optional?page=9&name=zed&none=4").json() == {"page": 9, "name": "zed", "none": 4}
    assert_422(c.get("/q/optional?page=x"), "Invalid query param: page")
    assert c.get("/q/str-default").json() == {"n": 5, "type": "int"}  # str default goes through the cast
    assert_422(c.get("/q/bad-default"), "Invalid query param: n")
    assert c.get("/q/bad-default?n=2").json() == {"n": 2}
    assert_422(c.get("/q/required?r=1"), "Missing query param: k")
    assert_422(c.get("/q/required?k=1"), "Missing query param: r")
    assert c.get("/q/required?k=1&r=raw").json() == {"k": 1, "r": "raw"}
    # only the first failing entry, in spec order
    assert_422(c.get("/q/order?a=x&b=y"), "Invalid query param: a")
    assert_422(c.get("/q/order?b=y"), "Missing query param: a")


def test_undeclared_values_and_parsing(serve):
    c = serve(APP).client
    # undeclared values reach handlers that accept them; others are dropped silently
    assert c.get("/q/undeclared?a=1&b=two&c=3").json() == {"a": "1", "b": "two"}
    assert c.get("/q/undeclared?a=first&a=second").json() == {"a": "first", "b": ""}
    assert c.get("/q/kwargs?x=1&y=&z&=nokey&x=2").json() == {"x": "1", "y": "", "z": ""}
    r = c.get("/q/request?n=5&x=1&x=2&extra=%E2%9C%93").json()
    assert r == {"n": 5, "query_params": {"n": 5, "x": "1", "extra": "✓"}, "raw": "n=5&x=1&x=2&extra=%E2%9C%93",
                 "all_x": ["1", "2"]}
    # a path parameter wins over a query value and skips its spec entry
    assert c.get("/q/path-wins/7?n=abc").json() == {"n": 7, "type": "int"}
    # `request` is injected unless a query value has that name
    assert c.get("/q/request-shadow").json() == {"is_request": True}
    assert c.get("/q/request-shadow?request=x").json() == {"is_request": False}


def test_query_constructor_and_spec_errors():
    assert Query() == {"__vhttp_query__": True, "default": None, "cast": None, "required": True}
    assert Query(3, int) == {"__vhttp_query__": True, "default": 3, "cast": int, "required": False}
    assert Query(cast=float)["required"] is True
    assert Query(default=None, cast=int).get("cast") is int
    for call, exc, message in (
        (lambda: Query(1, int, 2), TypeError, "Query([default], [cast])"),
        (lambda: Query(cast=list), TypeError, "cast must be type"),
        (lambda: Query("x", cast=list), TypeError, "cast must be type"),
        (lambda: Query(1.5, int), TypeError, "query default incompatible with cast"),
        (lambda: Query([], str), TypeError, "query default incompatible with cast"),
    ):
        with pytest.raises(exc) as info:
            call()
        assert str(info.value) == message
    for ok in (Query("1", int), Query(b"1", int), Query(2, float), Query(0, bool), Query(b"x", str)):
        assert ok["required"] is False

    viperhttp.reset()
    app = viperhttp.ViperHTTP()
    try:
        with pytest.raises(TypeError) as info:
            app.get("/a", query={"page": list})(lambda page: page)
        assert str(info.value) == "invalid query spec (route GET /a, query param 'page')"
        with pytest.raises(TypeError) as info:
            app.get("/b", query={"page": {"default": 1}})(lambda page: page)
        assert str(info.value).startswith("invalid query spec")
        assert app.routes() == []  # nothing was registered
    finally:
        viperhttp.reset()


# query casts over HTTP (apps/framework_surface_app.py) --------------------------------------------


def test_query_cast_without_default_ok_missing_invalid(serve):
    c = serve(FW).client
    assert c.get("/qc?k=-3&f=.5&b=off").json() == {"k": -3, "f": 0.5, "b": False}
    for query, message in (("f=1&b=1", "Missing query param: k"), ("k=x&f=1&b=1", "Invalid query param: k"),
                           ("k=1&b=1", "Missing query param: f"), ("k=1&f=1e3&b=1", "Invalid query param: f"),
                           ("k=1&f=1", "Missing query param: b"), ("k=1&f=1&b=maybe", "Invalid query param: b")):
        r = c.get(f"/qc?{query}")
        assert (r.status_code, r.content) == (422, ('{"detail":"%s"}' % message).encode()), query

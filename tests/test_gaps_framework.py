"""Coverage gaps of the framework-surface issue (issue 5) that the existing suites leave open.

Behaviour over real sockets against the gap apps (tests/apps/gap_framework_app.py,
gap_middleware_app.py, gap_errors_app.py, gap_upload_app.py) and the existing
tests/apps/rr_forms.py; in-process only for registration-time errors and pure constructors
(api.md §2.1 constructor, §3.1 decorator checks, §3.2 metadata, §3.3 pattern errors, §2.2
`dispatch()` return values).
"""
from __future__ import annotations

import hashlib
import random
import time
from typing import Any, List

import pytest

import viperhttp
from viperhttp import Depends, HTTPException, Query, Request, Router

FW = "apps/gap_framework_app.py"
MW = "apps/gap_middleware_app.py"
ERR = "apps/gap_errors_app.py"
UPLOAD = "apps/gap_upload_app.py"
FORMS = "apps/rr_forms.py"
TEXT = "text/plain; charset=utf-8"
INTERNAL = b"Internal Server Error"
B = "----gapboundary"
MP = f"multipart/form-data; boundary={B}"
URLENC = "application/x-www-form-urlencoded"


def multipart(parts) -> bytes:
    """parts: (Content-Disposition params, extra header lines, data)."""
    out = b""
    for params, extra, data in parts:
        out += f"--{B}\r\nContent-Disposition: form-data; {params}\r\n".encode()
        out += b"".join(line.encode() + b"\r\n" for line in extra)
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{B}--\r\n".encode()


def wait_for_log(server, *needles: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    logs = server.logs()
    while not all(n in logs for n in needles) and time.monotonic() < deadline:
        time.sleep(0.05)
        logs = server.logs()
    return logs


@pytest.fixture
def app():
    viperhttp.reset()
    yield viperhttp.ViperHTTP()
    viperhttp.reset()


# =============================================================================================
# §2 the app object (in-process: constructor and registration; state over HTTP below)
# =============================================================================================


def test_constructor_defaults_positional_order_and_type_errors():
    viperhttp.reset()
    try:
        app = viperhttp.ViperHTTP()
        assert app._docs_config() == {
            "title": "ViperHTTP API", "version": "1.0.0", "description": "", "docs": True,
            "openapi_url": "/openapi.json", "docs_url": "/docs", "include_websocket_docs": True,
            "cache_schema": True, "servers": None, "redoc_url": "/redoc"}
        viperhttp.reset()
        app = viperhttp.ViperHTTP("T", "2.0", "D", False, None, "/d", False, False, ["http://a"])
        cfg = app._docs_config()
        assert (cfg["title"], cfg["version"], cfg["description"], cfg["docs"], cfg["openapi_url"],
                cfg["docs_url"], cfg["include_websocket_docs"], cfg["cache_schema"], cfg["servers"]) == \
            ("T", "2.0", "D", False, None, "/d", False, False, ["http://a"])
        app.configure_docs(title="New", redoc_url=None)
        cfg = app._docs_config()
        assert (cfg["title"], cfg["version"], cfg["redoc_url"], cfg["docs_url"]) == ("New", "2.0", None, "/d")
        with pytest.raises(TypeError, match="^title must be str$"):
            app.configure_docs(title=1)
        assert app._docs_config()["title"] == "New"
        viperhttp.reset()
        for kwargs, message in (
            ({"title": 1}, "title must be str"),
            ({"version": 1.0}, "version must be str"),
            ({"description": b"x"}, "description must be str"),
            ({"openapi_url": 5}, "openapi_url must be str or None"),
            ({"docs_url": ["/d"]}, "docs_url must be str or None"),
        ):
            with pytest.raises(TypeError) as info:
                viperhttp.ViperHTTP(**kwargs)
            assert str(info.value) == message
            assert viperhttp.active_app() is None  # a failed constructor leaves no active app
        for kwargs in ({"port": 8080}, {"https": True}, {"tls_cert_pem": "x"}):
            with pytest.raises(TypeError):
                viperhttp.ViperHTTP(**kwargs)
    finally:
        viperhttp.reset()


def test_app_state_is_a_per_app_dict_with_attribute_access(app):
    state = app.state
    assert isinstance(state, dict) and state is app.state and state == {}
    state["a"] = 1
    state.b = 2
    assert app.state.a == 1 and app.state["b"] == 2 and app.state.get("b") == 2
    viperhttp.reset()
    other = viperhttp.ViperHTTP()
    assert other.state == {} and other.state is not state


def test_dispatch_with_request_422_http_exception_and_dep_marker(app):
    seen = {}

    @app.get("/h/{n:int}", query={"q": Query("d", str)})
    def handler(n, q, request):
        seen["request"] = request
        seen["current"] = viperhttp.current_request()
        return {"n": n, "q": q}

    @app.get("/typed", query={"page": int})
    def typed(page):
        return page

    @app.get("/raises")
    def raises():
        raise HTTPException(409, "conflict", headers={"X-C": "1"})

    def dep():
        return 1

    @app.get("/with-deps", deps={"d": Depends(dep)})
    def with_deps(d):
        return d

    request = Request(method="GET", path="/h/5", query="q=a+b")
    assert app.dispatch("GET", "/h/5?q=a+b", request) == {"n": 5, "q": "a b"}
    assert seen["request"] is request and seen["current"] is request
    assert request.path_params == {"n": 5}
    assert viperhttp.current_request() is None  # reset after the call
    r = app.dispatch("GET", "/typed?page=x")
    assert (r["status_code"], r["body"]) == (422, {"detail": "Invalid query param: page"})
    r = app.dispatch("GET", "/typed")
    assert (r["status_code"], r["body"]) == (422, {"detail": "Missing query param: page"})
    r = app.dispatch("GET", "/raises")
    assert (r["status_code"], r["body"], r["headers"]) == (409, {"detail": "conflict"}, {"X-C": "1"})
    marker = app.dispatch("GET", "/with-deps")
    assert marker["__vhttp_dep_call__"] is True and marker["handler"] is with_deps
    assert {"handler", "params", "deps", "request", "background"} <= set(marker)


# =============================================================================================
# §3.1–§3.3 decorators, metadata, patterns (registration-time, in-process)
# =============================================================================================


def test_remaining_decorator_keyword_type_errors(app):
    for kwargs, message in (
        ({"description": 1}, "description must be str"),
        ({"operation_id": 1}, "operation_id must be str"),
        ({"name": 1}, "name must be str"),
        ({"deprecated": "yes"}, "deprecated must be bool"),
        ({"include_in_schema": 1}, "include_in_schema must be bool"),
        ({"tags": 5}, "tags must be str or list of str"),
        ({"tags": ["a", 1]}, "tags must be str or list of str"),
        ({"response_modle": dict}, "unknown keyword 'response_modle' (route GET /a)"),
    ):
        with pytest.raises(TypeError) as info:
            app.get("/a", **kwargs)
        assert str(info.value) == message, kwargs
    router = Router()
    with pytest.raises(TypeError, match=r"^unknown keyword 'status' \(route POST /a\)$"):
        router.post("/a", status=201)
    with pytest.raises(TypeError, match="^path required$"):
        router.put()
    assert app.routes() == []


def test_route_metadata_rows_for_every_keyword_and_router_rows(app):
    def h(**kw):
        return kw

    def dep():
        return 1

    app.put("/full", query={"q": Query(1, int)}, deps={"d": Depends(dep)}, summary="s", description="d",
            tags=("t1", "t2"), responses={"200": {"description": "ok"}}, operation_id="op", name="n",
            request_body={"content": {}}, deprecated=False, include_in_schema=False)(h)
    row = app.routes()[0]
    assert set(row) == {"method", "path", "query", "deps", "docs", "handler"}
    assert (row["method"], row["path"], row["handler"]) == ("PUT", "/full", h)
    assert row["query"] == {"q": Query(1, int)} and list(row["deps"]) == ["d"]
    assert row["docs"] == {"summary": "s", "description": "d", "tags": ["t1", "t2"],
                           "responses": {"200": {"description": "ok"}}, "operation_id": "op", "name": "n",
                           "request_body": {"content": {}}, "deprecated": False, "include_in_schema": False}
    app.patch("/bare")(h)
    assert app.routes()[1] == {"method": "PATCH", "path": "/bare", "handler": h}
    router = Router(prefix="/r", tags="rt", deps={"rd": Depends(dep)})
    router.delete("/x", tags=["own", "rt"], deps={"xd": Depends(dep)})(h)
    app.include_router(router, prefix="/v2", tags=["top"], deps={"top": Depends(dep)})
    row = app.routes()[2]
    assert (row["method"], row["path"]) == ("DELETE", "/v2/r/x")
    assert row["docs"]["tags"] == ["top", "rt", "own"]
    assert sorted(row["deps"]) == ["rd", "top", "xd"]
    app.websocket("/ws", protocols=["chat"])(h)
    assert app.routes()[3]["method"] == "WS" and app.routes()[3]["protocols"] == ["chat"]
    # route(): one row per method, decorator returns the handler unchanged
    assert app.route("/both", methods=["get", "POST"])(h) is h
    assert [(r["method"], r["path"]) for r in app.routes()[4:]] == [("GET", "/both"), ("POST", "/both")]


def test_pattern_registration_errors_and_limits(app):
    ok = [
        "/" + "s" * 255,                                       # static segment at the host limit
        "/p/{" + "n" * 64 + "}",                               # parameter name at the host limit
        "/many/" + "/".join(f"{{p{i}}}" for i in range(16)),  # 16 parameters
        "plain/no-slash",
        "",                                                     # the root
    ]
    for pattern in ok:
        app.get(pattern)(lambda **kw: kw)
    assert app.match("GET", "/") is not None
    assert app.match("GET", "/plain/no-slash") is not None
    bad = [
        ("/" + "s" * 256, "TOO_LARGE"),
        ("/q/{" + "n" * 65 + "}", None),                      # registration error, reason not pinned
        ("/lots/" + "/".join(f"{{p{i}}}" for i in range(17)), None),
        ("/a{b}", "INVALID"),
        ("/pre{x}/y", "INVALID"),
        ("/lit}/y", "INVALID"),
        ("/bad-name/{a-b}", "INVALID"),
        ("/", "CONFLICT"),                                     # "" and "/" are the same root
    ]
    for pattern, reason in bad:
        with pytest.raises(ValueError) as info:
            app.get(pattern)(lambda **kw: kw)
        if reason is None:  # runtime.md §4.7: "route registration ValueError" (api.md §3.1 texts)
            assert str(info.value) in {f"route add failed: {r}" for r in
                                       ("INVALID", "TOO_LARGE", "UNSUPPORTED", "FULL")}, (pattern, str(info.value))
        else:
            assert str(info.value) == f"route add failed: {reason}", (pattern, str(info.value))
    app.get("/c/{a}")(lambda a: a)
    with pytest.raises(ValueError, match="^route add failed: CONFLICT$"):
        app.get("/c/{b}")(lambda b: b)  # another parameter at the same position
    with pytest.raises(ValueError, match="^route add failed: CONFLICT$"):
        app.get("/c/{a:int}")(lambda a: a)  # same name, other type


def test_registration_time_dependency_errors_name_route_and_argument(app):
    def f():
        return 1

    def chain(n):
        return Depends(f, {"inner": chain(n - 1)}) if n > 1 else Depends(f)

    with pytest.raises(ValueError) as info:
        app.get("/deep", deps={"top": chain(9)})(lambda top: top)
    assert str(info.value).startswith("dependency chain too deep (route GET /deep, dependency 'top.")
    with pytest.raises(ValueError) as info:
        app.get("/qc", query={"page": int}, deps={"page": Depends(f)})(lambda page: page)
    assert str(info.value) == "dependency name conflicts with params (route GET /qc, dependency 'page')"
    with pytest.raises(ValueError) as info:
        app.get("/mode", deps={"m": {"__vhttp_dep__": True, "callable": f, "deps": None, "mode": "lazy"}})(
            lambda m: m)
    assert str(info.value) == "mode must be value|yield|async_yield|auto (route GET /mode, dependency 'm')"
    router = Router(prefix="/r", deps={"db": Depends(f)})
    router.get("/x")(lambda db: db)
    with pytest.raises(ValueError) as info:
        app.include_router(router, deps={"db": Depends(f)})  # include deps clash with router deps
    assert str(info.value).startswith("duplicate dependency key")
    assert app.routes() == []


# =============================================================================================
# §3 routing over HTTP
# =============================================================================================


def test_every_method_decorator_over_http(serve):
    c = serve(FW).client
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        r = c.request(method, "/verbs")
        assert (r.status_code, r.json(), r.headers["x-method"]) == (200, {"method": method}, method), method
    r = c.head("/verbs")  # HEAD runs the GET handler (request.method stays HEAD): headers, no body
    assert (r.status_code, r.content, r.headers["x-method"]) == (200, b"", "HEAD")
    assert r.headers["content-length"] == str(len(b'{"method":"HEAD"}'))
    r = c.head("/verbs-head")
    assert (r.status_code, r.headers["x-head"]) == (200, "explicit")
    assert c.get("/verbs-head").status_code == 405
    r = c.request("PATCH", "/api-route")
    assert r.json() == {"via": "api_route", "method": "PATCH"}
    assert c.delete("/api-route").json() == {"via": "api_route", "method": "DELETE"}
    assert c.post("/route-str").json() == {"via": "route", "method": "POST"}
    assert c.get("/no-leading-slash").text == "reachable"


def test_allow_header_order_rules(serve):
    c = serve(FW).client
    r = c.delete("/allow-order")
    assert (r.status_code, r.content, r.headers["content-type"]) == (405, b"Method Not Allowed", TEXT)
    assert r.headers["allow"] == "POST, GET, HEAD, OPTIONS"
    assert c.put("/allow-head").headers["allow"] == "HEAD, GET"
    r = c.head("/post-only")  # no GET route: HEAD is not allowed
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    assert c.options("/post-only").status_code == 405  # OPTIONS only when registered


def test_matching_precedence_without_backtracking(serve):
    c = serve(FW).client
    assert c.get("/m/special").text == "literal"
    assert c.get("/m/special/").text == "literal"
    assert c.get("/m/other/deep/file.txt").json() == {"path": "other/deep/file.txt"}
    # the literal child was taken, so a deeper miss is a 404 — no fall-back to {rest:path}
    r = c.get("/m/special/more")
    assert (r.status_code, r.content) == (404, b"Not Found")
    assert c.get("/n/5/tail").json() == {"int": 5}
    assert c.get("/n/5/other").status_code == 404
    # literal segments outside pchar are percent-encoded at registration; %xx compare
    # case-insensitively
    assert c.get("/gr%C3%BC%C3%9Fe").text == "grüße"
    assert c.get("/gr%c3%bc%c3%9fe").text == "grüße"


def test_query_cast_without_default_ok_missing_invalid(serve):
    c = serve(FW).client
    assert c.get("/qc?k=-3&f=.5&b=off").json() == {"k": -3, "f": 0.5, "b": False}
    for query, message in (("f=1&b=1", "Missing query param: k"), ("k=x&f=1&b=1", "Invalid query param: k"),
                           ("k=1&b=1", "Missing query param: f"), ("k=1&f=1e3&b=1", "Invalid query param: f"),
                           ("k=1&f=1", "Missing query param: b"), ("k=1&f=1&b=maybe", "Invalid query param: b")):
        r = c.get(f"/qc?{query}")
        assert (r.status_code, r.content) == (422, ('{"detail":"%s"}' % message).encode()), query


def test_request_injected_by_annotation(serve):
    c = serve(FW).client
    assert c.get("/annotated?x=1").json() == {"is_request": True, "path": "/annotated", "x": "1"}


def test_app_state_and_match_while_serving(serve):
    c = serve(FW).client
    first = c.get("/state/bump").json()
    assert first == {"boot": "before-run", "counter": 1, "get": 1, "is_dict": True, "same": True}
    assert c.get("/state/bump").json()["counter"] == 2  # state survives run() and requests
    assert c.get("/meta/match", params={"p": "/m/a/b?x=1"}).json() == {"found": "m_path", "params": {"rest": "a/b"}}
    assert c.get("/meta/match", params={"method": "POST", "p": "/m/special"}).json() == {"found": None}


# =============================================================================================
# §9 routers over HTTP
# =============================================================================================


def test_nested_routers_with_include_keywords(serve):
    c = serve(FW).client
    r = c.get("/top/outer/mid/inner/x")
    assert r.status_code == 200, r.text
    assert r.json() == {"inner_dep": "inner_dep", "route_dep": "route_dep", "mid_dep": "mid_dep",
                        "top_dep": "top_dep"}
    # merged deps resolve outermost first: include deps, router deps, route deps
    assert c.get("/log").json() == ["top_dep", "mid_dep", "inner_dep", "route_dep"]
    assert c.put("/top/outer/mid/inner/multi").json() == {
        "method": "PUT", "deps": ["inner_dep", "mid_dep", "top_dep"]}
    assert c.delete("/top/outer/mid/inner/alias").json() == {
        "alias": True, "deps": ["inner_dep", "mid_dep", "top_dep"]}
    for unprefixed in ("/inner/x", "/mid/inner/x", "/outer/mid/inner/x"):
        assert c.get(unprefixed).status_code == 404, unprefixed
    rows = {(r["method"], r["path"]): r for r in c.get("/meta/routes").json()}
    row = rows[("GET", "/top/outer/mid/inner/x")]
    assert row["tags"] == ["top", "outer", "mid", "inner", "route"]
    assert row["deps"] == ["inner_dep", "mid_dep", "route_dep", "top_dep"]


def test_including_a_router_while_serving(serve):
    c = serve(FW).client
    assert c.get("/late/ping").status_code == 404
    assert c.post("/admin/include-late").text == "included"
    r = c.get("/late/ping")
    assert (r.status_code, r.text) == (200, "late-pong")
    assert c.get("/ok").text == "ok"


# =============================================================================================
# §5 dependencies over HTTP
# =============================================================================================


def test_use_cache_generator_one_call_one_teardown(serve):
    c = serve(FW).client
    first = c.get("/dc/cached-gen").json()
    assert first["a"] == first["b"]
    assert c.get("/log").json() == ["cached:enter", "handler", "cached:exit"]
    second = c.get("/dc/cached-gen").json()
    assert second["a"] == second["b"] == first["a"] + 1  # per request, not across requests


def test_all_teardowns_run_and_the_first_teardown_error_wins(serve):
    c = serve(FW).client
    r = c.get("/td/all-fail")
    # reverse order: c (async) fails first, so its error replaces the handler's response
    assert (r.status_code, r.json()) == (409, {"teardown_error": "c"})
    assert c.get("/log").json() == ["a:enter", "b:enter", "c:enter", "handler", "c:exit", "b:exit", "a:exit"]


def test_handler_exception_wins_over_teardown_errors(serve):
    c = serve(FW).client
    r = c.get("/td/handler-wins")
    assert (r.status_code, r.json()) == (418, {"handler_error": "from-handler"})
    assert c.get("/log").json() == ["a:enter", "b:enter", "handler", "b:exit", "a:exit"]


def test_http_exception_from_teardown_replaces_the_response(serve):
    c = serve(FW).client
    r = c.get("/td/http")
    assert (r.status_code, r.content, r.headers["x-teardown"]) == (409, b'{"detail":"teardown says no"}', "1")
    assert c.get("/log").json() == ["h:enter", "handler", "h:exit"]


def test_async_generator_contract_errors(serve):
    server = serve(FW)
    c = server.client
    for path in ("/dg/async-double", "/dg/async-noyield", "/dg/yield-asyncgen"):
        r = c.get(path)
        assert (r.status_code, r.content, r.headers["content-type"]) == (500, INTERNAL, TEXT), path
    assert c.get("/log").json() == ["agen2:enter", "handler", "agen2:again"]
    logs = wait_for_log(server, "dependency async generator must yield exactly once",
                        "dependency async generator did not yield",
                        "dependency mode=yield does not accept async generator")
    for message in ("dependency async generator must yield exactly once", "dependency async generator did not yield",
                    "dependency mode=yield does not accept async generator"):
        assert message in logs, message
    assert c.get("/ok").text == "ok"


def test_teardown_runs_before_background_tasks(serve):
    """api.md §5.5: teardown after the handler, before the response is sent and before
    background tasks (§11: tasks run after the response was handed over)."""
    c = serve(FW).client
    assert c.get("/dg/teardown-before-bg").text == "ok"
    deadline = time.monotonic() + 5
    log: List[Any] = []
    while time.monotonic() < deadline:
        log += c.get("/log").json()
        if "bg" in log:
            break
        time.sleep(0.02)
    assert log == ["dep:enter", "handler", "dep:exit", "bg"]


def test_dependencies_see_current_request(serve):
    assert serve(FW).client.get("/dg/current?a=1").json() == {"path": "/dg/current", "query": "a=1"}


# =============================================================================================
# §8 middleware over HTTP
# =============================================================================================


def test_func_sync_instance_and_equal_priority_middlewares_observed_order(serve):
    c = serve(MW).client
    calls_before = c.get("/instance-calls").json()["calls"]
    assert c.get("/order").text == "ordered"
    assert c.get("/order/log").json() == [
        "func_mw:pre", "eq_first:pre", "eq_second:pre", "instance:pre", "sync_mw:pre", "handler",
        "instance:post", "eq_second:post", "eq_first:post", "func_mw:post"]
    # the registered instance itself ran (it counts every request through the chain)
    assert c.get("/instance-calls").json()["calls"] == calls_before + 3


def test_base_http_middleware_instance_passed_to_add_middleware(serve):
    """docs/framework.md: "Instances passed to add_middleware are used as they are"; the chain
    calls `inst.dispatch` (api.md §8.2). The app registers `add_middleware(BaseInstance())`."""
    r = serve(MW, "base-instance").client.get("/order")
    assert (r.status_code, r.text, r.headers.get("x-base-instance")) == (200, "ordered", "1")


def test_middleware_return_values_are_normalised(serve):
    c = serve(MW).client
    r = c.get("/mw/return-dict")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b'{"from":"middleware"}', "application/json")
    r = c.get("/mw/return-str")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"middleware text", TEXT)
    r = c.get("/mw/return-bytes")
    assert (r.content, r.headers["content-type"]) == (b"\x00mw", "application/octet-stream")


def test_http_exception_raised_by_middleware_default_json_and_outer_sees_it(serve):
    c = serve(MW).client
    r = c.get("/mw/raise-http")
    assert (r.status_code, r.content, r.headers["content-type"]) == (429, b'{"detail":"slow down"}', "application/json")
    assert r.headers["retry-after"] == "3"
    r = c.get("/mw/raise-http-outer-sees")
    assert (r.status_code, r.content, r.headers["x-outer-saw"]) == (451, b'{"detail":"legal"}', "451")


def test_call_next_with_a_replaced_request(serve):
    r = serve(MW).client.get("/mw/replace")
    assert r.json() == {"x_replaced": "yes", "body": "new-body", "swapped": "1", "is_current": True,
                        "is_original": False}


# =============================================================================================
# §10 errors over HTTP
# =============================================================================================


def test_isinstance_fallback_and_reregistration(serve):
    c = serve(ERR).client
    r = c.get("/e/virtual")  # Unrelated's MRO has no handler; Virtual matches by isinstance
    assert (r.status_code, r.json()) == (451, {"via": "isinstance", "exc": "Unrelated"})
    r = c.get("/e/replaced")  # re-registering a type replaces its handler
    assert (r.status_code, r.json()) == (409, {"handler": "second"})


def test_arity_rule_type_error_inside_handler_is_not_retried(serve):
    server = serve(ERR)
    c = server.client
    r = c.get("/e/arity")
    assert (r.status_code, r.content, r.headers["content-type"]) == (500, INTERNAL, TEXT)
    assert c.get("/e/arity-calls").json() == {"arity": 1}  # called once, as (request, exc)
    r = c.get("/e/varargs")
    assert r.json() == {"n_args": 2, "first_is_request": True, "second": "VarArgsError"}
    records = c.get("/e/records").json()
    assert any("raised inside the exception handler" in rec["message"] + rec["traceback"] for rec in records), records


def test_http_exception_non_int_status_and_async_raise(serve):
    c = serve(ERR).client
    r = c.get("/e/non-int-status")
    assert (r.status_code, r.content, r.headers["content-type"]) == (500, b'{"detail":"weird status"}',
                                                                    "application/json")
    r = c.get("/e/async-http")
    assert (r.status_code, r.content) == (404, b'{"detail":"Not Found"}')


def test_tracebacks_only_in_the_log_on_logger_viperhttp(serve):
    server = serve(ERR)
    c = server.client
    for path, secret in (("/e/boom", "gap-secret-4d2c"), ("/e/async-boom", "gap-async-secret-91b0")):
        r = c.get(path)
        assert (r.status_code, r.content, r.headers["content-type"]) == (500, INTERNAL, TEXT), path
        assert secret.encode() not in r.content
        assert "traceback" not in r.text.lower()
    records = c.get("/e/records").json()
    for secret in ("gap-secret-4d2c", "gap-async-secret-91b0"):
        hits = [rec for rec in records if secret in rec["traceback"]]
        assert hits, (secret, records)
        rec = hits[0]
        assert rec["logger"] == "viperhttp" or rec["logger"].startswith("viperhttp."), rec
        assert rec["level"] == "ERROR"
        assert rec["traceback"].startswith("Traceback (most recent call last)")
    # the same traceback reached the process log through the `viperhttp` logger's handler
    logs = wait_for_log(server, "gap-secret-4d2c")
    assert "Traceback (most recent call last)" in logs


def test_exception_handler_catches_everything_including_http_exception(serve):
    c = serve(ERR, "catchall").client
    assert (c.get("/e/boom").status_code, c.get("/e/boom").json()) == (520, {"caught": "RuntimeError"})
    r = c.get("/e/http")
    assert (r.status_code, r.json()) == (520, {"caught": "HTTPException"})
    r = c.get("/e/virtual")  # the MRO pass finds Exception before the isinstance pass
    assert (r.status_code, r.json()) == (520, {"caught": "Unrelated"})
    r = c.get("/e/replaced")  # a more specific class in the MRO still wins
    assert r.status_code == 409


# =============================================================================================
# §6 forms and uploads over HTTP
# =============================================================================================


def test_form_key_and_multipart_name_size_limits_at_and_past_the_boundary(serve):
    c = serve(FORMS).client
    at = b"k" * 65536
    r = c.post("/form", content=at + b"=v", headers={"Content-Type": URLENC})
    assert r.status_code == 200 and list(r.json()["form"]) == [at.decode()]
    r = c.post("/form", content=at + b"k=v", headers={"Content-Type": URLENC})
    assert (r.status_code, r.content) == (413, b'{"detail":"Form field too large"}')
    r = c.post("/form", content=multipart([(f'name="{"n" * 65536}"', [], b"v")]), headers={"Content-Type": MP})
    assert r.status_code == 200 and list(r.json()["form"]) == ["n" * 65536]
    r = c.post("/form", content=multipart([(f'name="{"n" * 65537}"', [], b"v")]), headers={"Content-Type": MP})
    assert (r.status_code, r.content) == (413, b'{"detail":"Form field too large"}')


def _upload_body(total: int, rng: random.Random) -> tuple:
    """A multipart body of exactly `total` bytes: a note field and one file part."""
    head = [('name="note"', [], b"eight"), ('name="file"; filename="blob.bin"', ["Content-Type: application/octet-stream"], b"")]
    overhead = len(multipart(head))
    data = rng.randbytes(total - overhead)
    body = multipart([head[0], (head[1][0], head[1][1], data)])
    assert len(body) == total
    return body, data


def test_upload_at_8_mib_with_max_body_size_raised(serve):
    server = serve(UPLOAD)
    limit = 8 * 1024 * 1024
    rng = random.Random(85)
    body, data = _upload_body(limit, rng)
    r = server.client.post("/upload", content=body, headers={"Content-Type": MP}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": "eight",
                        "body_len": limit, "file_limit": limit}
    raw = rng.randbytes(limit)
    r = server.client.post("/raw", content=raw, timeout=60)
    assert r.json() == {"body_len": limit, "sha256": hashlib.sha256(raw).hexdigest()}
    over, _ = _upload_body(limit + 1, rng)
    r = server.client.post("/upload", content=over, headers={"Content-Type": MP}, timeout=60)
    assert (r.status_code, r.content, r.headers["content-type"]) == (413, b"Payload Too Large", TEXT)
    assert server.client.post("/raw", content=b"ok").json()["body_len"] == 2  # still serving

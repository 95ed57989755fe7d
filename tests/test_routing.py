"""Routing end to end (docs/internals/framework.md#routing): path types, matching order, trailing slash,
404/405/HEAD,
routers; registration errors in-process (they happen at decoration time)."""
import pytest

import viperhttp
from viperhttp import Depends, Query, Router

APP = "apps/framework_app.py"
FW = "apps/framework_surface_app.py"
TEXT = "text/plain; charset=utf-8"


def test_path_param_types(serve):
    c = serve(APP).client
    assert c.get("/items/42").json() == {"id": 42, "type": "int"}
    assert c.get("/items/-7").json() == {"id": -7, "type": "int"}
    assert c.get("/items/123456789012345678901234567890").json()["id"] == 123456789012345678901234567890
    assert c.get("/price/1.5").json() == {"p": 1.5, "type": "float"}
    assert c.get("/price/-0.25").json() == {"p": -0.25, "type": "float"}
    assert c.get("/price/3").json() == {"p": 3.0, "type": "float"}
    for bad in ("/price/.5", "/price/1.", "/price/1e3", "/items/abc", "/items/4x"):
        assert c.get(bad).status_code == 404, bad
    assert c.get("/flag/YES").json() == {"f": True}
    assert c.get("/flag/off").json() == {"f": False}
    assert c.get("/flag/maybe").status_code == 404
    # str values are percent-decoded after matching; `+` stays `+`
    assert c.get("/users/J%C3%B6rg%20S+").json() == {"name": "Jörg S+"}
    assert c.get("/users/bob/files/a/b/c.txt").json() == {"name": "bob", "rest": "a/b/c.txt"}
    assert c.get("/users/bob/files/").status_code == 404  # path needs a non-empty rest
    assert c.get("/café").text == "café"


def test_matching_order_and_trailing_slash(serve):
    c = serve(APP).client
    assert c.get("/items/special").text == "special"  # literal beats {item_id:int}
    assert c.get("/items").text == "items-list"
    assert c.get("/items/").text == "items-list"  # trailing slash ignored, no redirect
    assert c.get("/").text == "root"
    assert c.get("/items/special/").text == "special"
    assert c.get("/items/1?x=/items/special").json()["id"] == 1  # query never affects matching


def test_unknown_path_is_404_text(serve):
    r = serve(APP).client.get("/definitely/not/here")
    assert r.status_code == 404
    assert r.content == b"Not Found"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_method_not_allowed_lists_methods(serve):
    c = serve(APP).client
    r = c.delete("/items")
    assert r.status_code == 405
    assert r.content == b"Method Not Allowed"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert c.post("/items").status_code == 201


def test_head_runs_get_and_explicit_head_wins(serve):
    c = serve(APP).client
    r = c.head("/headed")
    assert r.status_code == 200
    assert r.headers["x-custom"] == "yes"
    assert r.headers["content-length"] == str(len("hello head"))
    assert r.content == b""
    r = c.head("/explicit-head")
    assert r.status_code == 204 and r.headers["x-head"] == "explicit"
    assert c.get("/explicit-head").text == "get body"


def test_route_methods_stacking_none_async_current(serve):
    c = serve(APP).client
    assert c.get("/multi").json() == {"method": "GET"}
    assert c.put("/multi").json() == {"method": "PUT"}
    assert c.post("/multi").status_code == 405
    assert c.get("/stacked-a").text == "/stacked-a"
    assert c.get("/stacked-b").text == "/stacked-b"
    r = c.get("/none")
    assert r.status_code == 200 and r.content == b"" and "content-type" not in r.headers
    assert c.get("/async").json() == {"async": True}
    assert c.get("/current").json() == {"same": True}


def test_routers_prefix_tags_deps_nesting(serve):
    c = serve(APP).client
    assert c.get("/api/info").json() == {"tenant": "acme"}
    assert c.get("/api").json() == {"root": "acme"}
    assert c.get("/api/").json() == {"root": "acme"}
    assert c.get("/api/v1/ping").json() == {"pong": "acme"}
    assert c.get("/v1/ping").status_code == 404
    rows = {(r["method"], r["path"]): r for r in c.get("/meta/routes").json()}
    assert rows[("GET", "/api/info")]["tags"] == ["api", "info"]
    assert rows[("GET", "/api")]["tags"] == ["api"]
    assert rows[("GET", "/api/v1/ping")]["tags"] == ["api", "v1"]
    assert rows[("GET", "/api/v1/ping")]["deps"] == ["tenant"]
    assert rows[("GET", "/items/{item_id:int}")]["tags"] is None


def test_decorator_argument_errors(app):
    def h():
        return "x"

    cases = [
        (lambda: app.get(), TypeError, "path required"),
        (lambda: app.get(5), TypeError, "path must be str"),
        (lambda: app.get("/a", "/b"), TypeError, "too many positional args"),
        # status_code= is a route option since the typed API (docs/internals/typed-api.md)
        (lambda: app.get("/a", bogus=201), TypeError, "unknown keyword"),
        (lambda: app.get("/a", methods=["GET"]), TypeError, "unknown keyword"),
        (lambda: app.get("/a", summary=1), TypeError, "summary must be str"),
        (lambda: app.get("/a", responses=[]), TypeError, "responses must be dict"),
        (lambda: app.get("/a", request_body="x"), TypeError, "request_body must be dict"),
        (lambda: app.get("/a", query=[]), TypeError, "query spec must be dict"),
        (lambda: app.get("/a", deps=[]), TypeError, "deps spec must be dict"),
        (lambda: app.get("/a")(), TypeError, "decorator expects handler"),
        (lambda: app.get("/a")(1), TypeError, "decorator expects handler"),
        (lambda: app.websocket("/ws", protocols="chat"), TypeError, "protocols must be list/tuple"),
        (lambda: app.route("/a", methods=["BREW"]), ValueError, "unsupported method"),
    ]
    for call, exc, message in cases:
        with pytest.raises(exc) as info:
            call()
        assert str(info.value).startswith(message), (message, info.value)
    assert app.get(path="/kw")(h) is h
    assert app.routes()[-1]["path"] == "/kw"


def test_registration_errors_from_the_native_trie(app):
    app.get("/dup")(lambda: 1)
    for pattern, reason in (("/dup", "CONFLICT"), ("/x/{a:nope}", "INVALID"), ("/x//y", "INVALID"),
                            ("/p/{rest:path}/more", "UNSUPPORTED")):
        with pytest.raises(ValueError, match=f"^route add failed: {reason}$"):
            app.get(pattern)(lambda: 1)
    # a failed registration leaves ids aligned: the next route still works
    app.get("/after")(lambda: "after")
    assert app.match("GET", "/after?q=1")[0]() == "after"
    assert [r["path"] for r in app.routes()] == ["/dup", "/after"]


def test_routes_metadata_and_match(app):
    def handler(item_id):
        return item_id

    app.get("/items/{item_id:int}", summary="one item", tags="items", deprecated=True,
            query={"q": str})(handler)
    row = app.routes()[0]
    assert row == {"method": "GET", "path": "/items/{item_id:int}", "query": {"q": str},
                   "docs": {"summary": "one item", "tags": ["items"], "deprecated": True}, "handler": handler}
    assert app.match("GET", "/items/3") == (handler, {"item_id": 3})
    assert app.match("POST", "/items/3") is None
    assert app.match("GET", "/nothing") is None


def test_dispatch_semantics(app):
    app.get("/sync/{n:int}")(lambda n, q="": {"n": n, "q": q})
    app.post("/only-post")(lambda: 1)

    async def coro():
        return "async"

    app.get("/coro")(coro)
    assert app.dispatch("GET", "/sync/4?q=z") == {"n": 4, "q": "z"}
    assert app.dispatch("GET", "/nope") is None
    r = app.dispatch("GET", "/only-post")
    assert r["status_code"] == 405 and r["headers"] == {"Allow": "POST"}
    result = app.dispatch("GET", "/coro")
    assert result.__class__.__name__ == "coroutine"
    result.close()


def test_router_errors(app):
    with pytest.raises(TypeError, match="^Router\\(\\[prefix\\]\\)$"):
        Router("/a", "/b")
    with pytest.raises(TypeError, match="^prefix must be str$"):
        Router(5)
    with pytest.raises(TypeError, match="^router required$"):
        app.include_router(object())
    shared = Router(deps={"db": Depends(lambda: 1)})
    shared.get("/x", deps={"db": Depends(lambda: 2)})(lambda db: db)
    with pytest.raises(ValueError) as info:
        app.include_router(shared)
    assert str(info.value).startswith("duplicate dependency key")
    assert "route GET /x" in str(info.value) and "'db'" in str(info.value)
    twice = Router(prefix="/t")
    twice.get("/")(lambda: 1)
    app.include_router(twice)
    with pytest.raises(ValueError, match="^route add failed: CONFLICT$"):
        app.include_router(twice)
    late = Router()
    app.include_router(late)
    late.get("/late")(lambda: 1)  # routes added after inclusion are not seen
    assert app.match("GET", "/late") is None


def test_single_active_app_rule():
    viperhttp.reset()
    first = viperhttp.ViperHTTP()
    assert viperhttp.active_app() is first
    # a new app replaces one that is not serving (app factories, one app per test module)
    replaced = viperhttp.ViperHTTP()
    assert viperhttp.active_app() is replaced
    viperhttp.reset()
    assert viperhttp.active_app() is None
    second = viperhttp.ViperHTTP()
    for call in (lambda: first.get("/x"), lambda: first.match("GET", "/"),
                 lambda: first.dispatch("GET", "/"), lambda: first._middleware_stack()):
        with pytest.raises(ValueError, match="^app not active$"):
            call()
    with pytest.raises(RuntimeError, match="^app not active$"):
        first.mount("/static", "/tmp")
    assert second.routes() == []
    viperhttp.reset()


# --- route once (docs/internals/ipc.md, "Route once") --------------------------------------------

def test_runtime_match_reaches_the_handler_converted_and_decoded(serve):
    import httpx

    srv = serve("apps/route_once_app.py")
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10) as c:
        r = c.get("/items/42/a%20b%C3%A9")
        assert r.json() == {"carried": True, "item_id": 42, "name": "a bé",
                            "params": {"item_id": 42, "name": "a bé"}}
        r = c.post("/items/7/x")
        assert r.json() == {"carried": True, "method": "POST", "item_id": 7}
        # HEAD takes the GET route natively and in Python alike
        assert c.head("/items/1/x").status_code == 200
        # more parameters than a record carries: Python routes it, same answer
        assert c.get("/five/1/2/3/4/5").json() == {"carried": False, "joined": "12345"}
        assert c.get("/items/x/y").status_code == 404  # not an int: no route, answered natively
        # the carried match and the path parameters are stored without an instance __dict__
        assert c.get("/bare/5").json() == {"carried": True, "item_id": 5, "instance_dict": []}


def test_middleware_that_rewrites_the_path_is_routed_again(serve):
    import httpx

    srv = serve("apps/route_once_app.py", env={"ROUTE_ONCE_MW": "1"})
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10) as c:
        r = c.get("/old/9/z")  # no native match for /old/...: Python routes the rewritten path
        assert r.status_code == 200 and r.json()["item_id"] == 9 and r.json()["carried"] is False, r.text
        r = c.get("/items/3/w")  # untouched path: the runtime's match is used
        assert r.json()["carried"] is True and r.json()["item_id"] == 3
        assert c.get("/nowhere").status_code == 404  # the app's 404 through the middleware

# registration checks, methods, precedence and routers (apps/framework_surface_app.py) -------------


def test_remaining_decorator_keyword_type_errors(app):
    for kwargs, message in (
        ({"description": 1}, "description must be str"),
        ({"operation_id": 1}, "operation_id must be str"),
        ({"name": 1}, "name must be str"),
        ({"deprecated": "yes"}, "deprecated must be bool"),
        ({"include_in_schema": 1}, "include_in_schema must be bool"),
        ({"tags": 5}, "tags must be str or list of str (or str-valued Enum members)"),
        ({"tags": ["a", 1]}, "tags must be str or list of str (or str-valued Enum members)"),
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
        # Over a limit: a route registration ValueError (docs/internals/http.md#limits).
        if reason is None:
            assert str(info.value) in {f"route add failed: {r}" for r in
                                       ("INVALID", "TOO_LARGE", "UNSUPPORTED", "FULL")}, (pattern, str(info.value))
        else:
            assert str(info.value) == f"route add failed: {reason}", (pattern, str(info.value))
    app.get("/c/{a}")(lambda a: a)
    with pytest.raises(ValueError, match="^route add failed: CONFLICT$"):
        app.get("/c/{b}")(lambda b: b)  # another parameter at the same position
    with pytest.raises(ValueError, match="^route add failed: CONFLICT$"):
        app.get("/c/{a:int}")(lambda a: a)  # same name, other type

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


def test_enum_tags_and_cleared_overrides_as_fastapi():
    """FastAPI's tutorial: `tags=[Tags.items]` with `class Tags(str, Enum)` (a TypeError at
    import before), on routes and routers; `app.dependency_overrides = None` clears them."""
    from enum import Enum

    from viperhttp import APIRouter, ViperHTTP
    from viperhttp.testclient import TestClient

    class Tags(str, Enum):
        items = "items"
        users = "users"

    viperhttp.reset()
    app = ViperHTTP()
    users = APIRouter(prefix="/u", tags=[Tags.users])

    @app.get("/items", tags=[Tags.items])
    def items():
        return []

    @users.get("/me")
    def me():
        return {}

    app.include_router(users)
    app.dependency_overrides = None
    try:
        with TestClient(app) as c:
            paths = c.get("/openapi.json").json()["paths"]
        assert paths["/items"]["get"]["tags"] == ["items"] and paths["/u/me"]["get"]["tags"] == ["users"]
        assert app.dependency_overrides == {}
    finally:
        viperhttp.reset()

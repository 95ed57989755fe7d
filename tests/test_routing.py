"""Routing end to end (api.md §3, §9): path types, matching order, trailing slash, 404/405/HEAD,
routers; registration errors in-process (they happen at decoration time)."""
import pytest

import viperhttp
from viperhttp import Depends, Router

APP = "apps/framework_app.py"


@pytest.fixture
def app():
    viperhttp.reset()
    yield viperhttp.ViperHTTP()
    viperhttp.reset()


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
    with pytest.raises(ValueError, match="^only one ViperHTTP instance supported$"):
        viperhttp.ViperHTTP()
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


def test_middleware_that_rewrites_the_path_is_routed_again(serve):
    import httpx

    srv = serve("apps/route_once_app.py", env={"ROUTE_ONCE_MW": "1"})
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10) as c:
        r = c.get("/old/9/z")  # no native match for /old/...: Python routes the rewritten path
        assert r.status_code == 200 and r.json()["item_id"] == 9 and r.json()["carried"] is False, r.text
        r = c.get("/items/3/w")  # untouched path: the runtime's match is used
        assert r.json()["carried"] is True and r.json()["item_id"] == 3
        assert c.get("/nowhere").status_code == 404  # the app's 404 through the middleware

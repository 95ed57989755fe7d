"""Errors end to end (docs/internals/framework.md): default bodies byte for byte, HTTPException forms,
exception-handler
precedence by MRO, failing handlers, 500 + traceback in the log, background tasks dropped on 500."""
import time

import pytest

from viperhttp import HTTPException
from support.logs import wait_for_log

APP = "apps/framework_app.py"
TEXT = "text/plain; charset=utf-8"
ERR = "apps/error_handlers_app.py"
INTERNAL = b"Internal Server Error"


def test_http_exception_responses(serve):
    c = serve(APP).client
    r = c.get("/err/http")
    assert (r.status_code, r.content, r.headers["content-type"]) == (404, b'{"detail":"Not Found"}',
                                                                    "application/json")
    r = c.get("/err/http-detail")
    assert (r.status_code, r.content) == (403, b'{"detail":{"reason":"nope","codes":[1,2]}}')
    r = c.get("/err/http-headers")
    assert (r.status_code, r.content) == (401, b'{"detail":"auth required"}')
    assert r.headers["www-authenticate"] == "Bearer" and r.headers["x-a"] == "1"
    assert c.get("/err/http-teapot").content == b'{"detail":"I\'m a Teapot"}'
    r = c.get("/err/json", headers={"content-type": "application/json"})
    assert (r.status_code, r.content) == (400, b'{"detail":"Invalid JSON"}')


def test_unhandled_exception_is_plain_500_with_logged_traceback(serve):
    server = serve(APP)
    c = server.client
    for path, marker in (("/err/boom", "kaboom-sync"), ("/err/async-boom", "kaboom-async"),
                         ("/err/other", "unhandled custom")):
        r = c.get(path)
        assert r.status_code == 500
        assert r.content == b"Internal Server Error"
        assert r.headers["content-type"] == TEXT
        assert marker.encode() not in r.content
        assert c.get("/items/1").json() == {"id": 1, "type": "int"}  # the next request is fine
    time.sleep(0.2)
    logs = server.logs()
    assert "Traceback (most recent call last)" in logs
    for marker in ("RuntimeError: kaboom-sync", "ValueError: kaboom-async", "handler_error"):
        assert marker in logs, marker


def test_unencodable_result_is_500(serve):
    c = serve(APP).client
    r = c.get("/err/unencodable")
    assert (r.status_code, r.content) == (500, b"Internal Server Error")
    assert c.get("/").text == "root"


def test_exception_handler_precedence_by_mro(serve):
    c = serve(APP).client
    r = c.get("/err/app")
    assert r.status_code == 418
    assert r.json() == {"handler": "app", "exc": "AppError", "path": "/err/app"}
    r = c.get("/err/child")  # one-argument async handler
    assert (r.status_code, r.json()) == (409, {"handler": "child", "exc": "ChildError"})
    r = c.get("/err/grandchild")  # most specific registered class of the MRO wins
    assert (r.status_code, r.json()) == (409, {"handler": "child", "exc": "GrandChildError"})
    r = c.get("/err/dep")  # exceptions from dependencies reach the handlers too
    assert (r.status_code, r.json()) == (409, {"handler": "child", "exc": "ChildError"})
    r = c.get("/wrapped-async")  # a sync functools.wraps wrapper around async def: same handling
    assert (r.status_code, r.json()) == (409, {"handler": "child", "exc": "ChildError"})
    r = c.get("/err/broken-handler")  # a failing exception handler is a plain 500
    assert (r.status_code, r.content) == (500, b"Internal Server Error")


def test_background_tasks_dropped_on_unhandled_500(serve):
    c = serve(APP).client
    assert c.post("/bg/boom").status_code == 500
    time.sleep(0.2)
    assert c.get("/bg/seen").json() == []


def test_http_exception_object():
    exc = HTTPException(404)
    assert (exc.status_code, exc.detail, exc.headers, exc.args) == (404, "Not Found", None, (404, "Not Found"))
    exc = HTTPException(status_code=400, detail={"a": 1}, headers={"X": "y"})
    assert exc.args == (400, {"a": 1}) and exc.headers == {"X": "y"}
    assert HTTPException(599).detail == "Internal Server Error"
    with pytest.raises(TypeError):
        HTTPException(400, "x", headers="X: y")


# exception handler lookup, arity and logging (apps/error_handlers_app.py) -------------------------


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


def test_status_code_handlers(serve):
    """`@app.exception_handler(404)` (Starlette's status handlers): the app's answer for requests no
    route takes and for HTTPExceptions of that status; the status handler before a class handler."""
    srv = serve("apps/status_handlers_app.py")
    c = srv.client
    r = c.get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"missing": "/nowhere", "detail": "Not Found"})
    assert c.get("/item/0").json() == {"missing": "/item/0", "detail": "no item 0"}
    r = c.post("/item/5")
    assert (r.status_code, r.json(), r.headers["allow"]) == (405, {"allow": "GET, HEAD"}, "GET, HEAD")
    assert c.get("/item/1").json() == {"any": "taken"}  # no 409 handler: the class handler
    assert c.get("/item/5").json() == {"n": 5}
    # 500 is Starlette's server-error key: unhandled exceptions, not HTTPException(500)
    r = c.get("/item/2")
    assert (r.status_code, r.json()) == (500, {"error": "RuntimeError"})
    # The app's error page changes the answer, not the log (uvicorn logs what Starlette's
    # server-error handler answered): the traceback is still there.
    logs = wait_for_log(srv, "handler_error RuntimeError('bug') in GET /item/2", "Traceback (most recent call last)")
    assert "handler_error RuntimeError('bug') in GET /item/2" in logs and "Traceback (most recent call last)" in logs
    assert c.get("/item/3").json() == {"any": "explicit"}
    import viperhttp

    viperhttp.reset()
    try:
        app = viperhttp.ViperHTTP()
        with pytest.raises(ValueError, match="status code must be 100..999"):
            app.add_exception_handler(99, lambda exc: None)
        with pytest.raises(TypeError, match="exception class or a status code"):
            app.add_exception_handler("404", lambda exc: None)
    finally:
        viperhttp.reset()



def test_fastapi_default_handlers_beside_a_catch_all():
    """The original's rule: a handler for `Exception` also gets `HTTPException`s. FastAPI's
    `http_exception_handler` / `request_validation_exception_handler`
    (`viperhttp.exception_handlers`), registered for their classes, keep the default answers."""
    import viperhttp
    from viperhttp import HTTPException, JSONResponse, ViperHTTP
    from viperhttp.exception_handlers import http_exception_handler, request_validation_exception_handler
    from viperhttp.exceptions import RequestValidationError
    from viperhttp.testclient import TestClient

    viperhttp.reset()
    app = ViperHTTP(exception_handlers={HTTPException: http_exception_handler,
                                        RequestValidationError: request_validation_exception_handler})

    @app.exception_handler(Exception)
    async def catch_all(request, exc):
        return JSONResponse(status_code=500, content={"error": type(exc).__name__})

    @app.get("/items/{n}")
    def item(n: int):
        if n == 0:
            raise HTTPException(404, "no item", headers={"X-Why": "zero"})
        if n == 1:
            raise KeyError("bug")
        return {"n": n}

    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/items/0")
            assert (r.status_code, r.json(), r.headers["x-why"]) == (404, {"detail": "no item"}, "zero")
            r = c.get("/items/x")
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "n"]
            assert c.get("/items/1").json() == {"error": "KeyError"}
            assert c.get("/items/2").json() == {"n": 2}
    finally:
        viperhttp.reset()


def test_a_handler_for_http_exception_leaves_validation_errors_alone_as_in_fastapi():
    """FastAPI's "override the HTTPException handler" (`@app.exception_handler(HTTPException)`)
    does not see `RequestValidationError`, which is no `HTTPException` there, nor does a handler
    for the status 422: the 422 keeps FastAPI's `{"detail": [...]}`. It is an `HTTPException`
    here (its default answer is one), and both handlers took it, turning every invalid request
    into the app's HTTP-error body. A handler for it (or `Exception`) still gets it."""
    import viperhttp
    from viperhttp import HTTPException, JSONResponse, ViperHTTP
    from viperhttp.exceptions import RequestValidationError
    from viperhttp.testclient import TestClient

    def make(extra):
        viperhttp.reset()
        app = ViperHTTP()

        @app.exception_handler(HTTPException)
        async def http_error(request, exc):
            return JSONResponse(status_code=exc.status_code, content={"error": exc.detail})

        @app.exception_handler(422)
        async def status_422(request, exc):
            return JSONResponse(status_code=422, content={"status handler": exc.detail})

        if extra is not None:
            app.add_exception_handler(extra, lambda request, exc: JSONResponse(
                status_code=400, content={"validation": [e["loc"] for e in exc.errors()]}))

        @app.get("/items/{n}")
        def item(n: int):
            if n == 0:
                raise HTTPException(404, "no item")
            if n == 1:
                raise HTTPException(422, "explicit")
            return {"n": n}

        return app

    try:
        with TestClient(make(None)) as c:
            assert c.get("/items/0").json() == {"error": "no item"}
            assert c.get("/items/1").json() == {"status handler": "explicit"}
            r = c.get("/items/x")
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "n"], r.text
        for extra in (RequestValidationError, Exception):
            with TestClient(make(extra)) as c:
                r = c.get("/items/x")
                assert (r.status_code, r.json()) == (400, {"validation": [["path", "n"]]}), (extra, r.text)
                assert c.get("/items/0").json() == {"error": "no item"}
    finally:
        viperhttp.reset()

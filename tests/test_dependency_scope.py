"""FastAPI's `Depends(dep, scope="function" | "request")` (docs/guide/dependencies.md, "Scope"):
the values and the registration check as FastAPI 0.165 has them, and when each scope's `yield`
dependencies are torn down, over a real socket (the TestClient's server). The expected orders
are FastAPI's own, taken by running the same apps under FastAPI."""
import json
from collections.abc import AsyncIterable, Iterable
from typing import Annotated

import pytest

import viperhttp
from viperhttp import Depends, HTTPException, ViperHTTP
from viperhttp.exceptions import DependencyScopeError
from viperhttp.security import Security
from viperhttp.testclient import TestClient

log: list = []


def fdep():
    log.append("f-open")
    yield "f"
    log.append("f-close")


def rdep():
    log.append("r-open")
    yield "r"
    log.append("r-close")


def test_scope_values():
    assert Depends(fdep, scope="function").scope == "function"
    assert Depends(fdep, scope="request").scope == "request"
    assert Depends(fdep).scope is None
    assert "scope='function'" in repr(Depends(fdep, scope="function"))
    with pytest.raises(ValueError, match="scope"):
        Depends(fdep, scope="functon")  # FastAPI would take it as "request", silently
    with pytest.raises(TypeError):
        Security(fdep, scope="function")  # FastAPI's Security() has no `scope` either


def test_a_request_scoped_yield_dependency_cannot_depend_on_a_function_scoped_one():
    """FastAPI's DependencyScopeError, at registration, with its message: for a `yield`
    dependency of scope "request", declared or by default; not for a plain function, nor for
    a function-scoped one depending on a request-scoped one."""
    def default_gen(f: Annotated[str, Depends(fdep, scope="function")]):
        yield f

    def request_gen(f: Annotated[str, Depends(fdep, scope="function")]):
        yield f

    def plain(f: Annotated[str, Depends(fdep, scope="function")]):
        return f

    def function_gen(r: Annotated[str, Depends(rdep)]):
        yield r

    viperhttp.reset()
    app = ViperHTTP()
    try:
        with pytest.raises(DependencyScopeError) as err:
            @app.get("/a")
            def a(v: Annotated[str, Depends(default_gen)]):
                return v
        assert str(err.value).startswith('The dependency "default_gen" has a scope of "request", it cannot '
                                         'depend on dependencies with scope "function". (route GET /a')
        assert isinstance(err.value, RuntimeError)  # FastAPIError's base
        with pytest.raises(DependencyScopeError):
            @app.get("/b")
            def b(v: Annotated[str, Depends(request_gen, scope="request")]):
                return v

        @app.get("/c")
        def c(v: Annotated[str, Depends(plain, scope="request")]):
            return v

        @app.get("/d")
        def d(v: Annotated[str, Depends(function_gen, scope="function")]):
            return v
    finally:
        viperhttp.reset()


def test_when_each_scope_is_torn_down():
    """A streaming path operation: "function" when the function has returned its generator,
    before the first item; "request" (the default) when the stream has ended. A response of
    one body: "function" first, then "request", both before it is sent (ViperHTTP's rule for
    every `yield` dependency). An HTTPException from a function-scoped teardown is the
    response, thrown into the request-scoped ones. Overrides keep the declared scope; the
    cache keeps one value per scope."""
    def bad_f():
        log.append("bf-open")
        yield "f"
        raise HTTPException(409, "teardown")

    def gen():
        log.append("g-call")
        yield 1
        log.append("g-close")

    def repl():
        log.append("repl-open")
        yield "x"
        log.append("repl-close")

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/s")
    async def s(a: Annotated[str, Depends(fdep, scope="function")],
                b: Annotated[str, Depends(rdep)]) -> AsyncIterable[int]:
        log.append("handler-start")
        yield 1
        log.append("after-1")
        yield 2

    @app.get("/sync-s")
    def sync_s(a: Annotated[str, Depends(fdep, scope="function")]) -> Iterable[str]:
        log.append("handler-start")
        yield a

    @app.get("/plain")
    def plain(f: Annotated[str, Depends(fdep, scope="function")], r: Annotated[str, Depends(rdep)]):
        log.append("handler")
        return "ok"

    @app.get("/bad")
    async def bad(r: Annotated[str, Depends(rdep)],
                  f: Annotated[str, Depends(bad_f, scope="function")]) -> AsyncIterable[int]:
        log.append("gen")
        yield 1

    @app.get("/cache")
    def cache(a: Annotated[int, Depends(gen, scope="function", use_cache=True)],
              b: Annotated[int, Depends(gen, use_cache=True)],
              c: Annotated[int, Depends(gen, scope="request", use_cache=True)]):
        return "ok"

    @app.get("/ov")
    async def ov(f: Annotated[str, Depends(fdep, scope="function")]) -> AsyncIterable[str]:
        log.append("gen")
        yield f

    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            def get(path):
                log.clear()
                return c.get(path)

            r = get("/s")
            assert [json.loads(line) for line in r.text.splitlines()] == [1, 2]
            assert log == ["f-open", "r-open", "f-close", "handler-start", "after-1", "r-close"]
            assert get("/sync-s").text == '"f"\n'
            assert log == ["f-open", "f-close", "handler-start"]
            assert get("/plain").status_code == 200
            assert log == ["f-open", "r-open", "handler", "f-close", "r-close"]
            r = get("/bad")
            assert (r.status_code, r.json()) == (409, {"detail": "teardown"})
            assert log == ["r-open", "bf-open"]  # the 409 thrown in at r's bare `yield`
            assert get("/cache").status_code == 200
            assert log == ["g-call", "g-call", "g-close", "g-close"]
            app.dependency_overrides[fdep] = repl
            assert get("/ov").text == '"x"\n'
            assert log == ["repl-open", "repl-close", "gen"]
    finally:
        viperhttp.reset()

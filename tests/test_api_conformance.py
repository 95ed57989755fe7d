"""Small docs/internals/framework.md / docs/internals/architecture.md conformance points: constructor aliases
(docs/internals/requests-responses.md#responses, docs/internals/framework.md), the lazy session-middleware
re-exports (docs/internals/cors-hosts-ratelimit.md), `serialize_response` of an empty byte body
(docs/internals/bridge.md#decisions-on-serialisation with the docs/internals/bridge.md decision) and request
injection into every matching parameter (docs/internals/framework.md).

Constructor and serialisation checks are in-process; injection and the aliased responses are
checked on the wire (tests/apps/api_conformance_app.py).
"""
from __future__ import annotations

import sys
import types

import pytest

import viperhttp
import viperhttp.middleware as mw
import viperhttp_bridge
from viperhttp.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse,
                                 Response, StreamingResponse, normalize, serialize_response)
from viperhttp_responses import EventSourceResponse, RedirectResponse

APP = "apps/api_conformance_app.py"
TEXT = "text/plain; charset=utf-8"
SSE = "text/event-stream; charset=utf-8"


# --- 1. `content=` / `media_type=` on every constructor (docs/internals/requests-responses.md#responses, docs


def test_redirect_response_accepts_content_and_media_type():
    r = RedirectResponse("/x", media_type="text/html")
    assert (r["status_code"], r["body"], r["content_type"]) == (307, "", "text/html; charset=utf-8")
    assert r["headers"] == {"Location": "/x"}
    r = RedirectResponse("/x", 301, [("X-A", "1")], content="<a href=/x>x</a>")
    assert (r["status_code"], r["body"], r["content_type"]) == (301, "<a href=/x>x</a>", TEXT)
    assert r["headers"] == [("X-A", "1"), ("Location", "/x")]
    assert viperhttp.RedirectResponse is RedirectResponse
    # The original's checks still come first and still apply.
    with pytest.raises(ValueError, match="url must be a non-empty string"):
        RedirectResponse("", content="x")
    with pytest.raises(TypeError):
        RedirectResponse("/x", body="x")  # not a keyword of RedirectResponse: unknown → TypeError


def test_event_source_response_accepts_content_and_media_type():
    r = EventSourceResponse(iter([]), media_type="text/event-stream")
    assert r["content_type"] == "text/event-stream; charset=utf-8" and r["chunked"] is True
    assert r["headers"] == {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    r = EventSourceResponse(content=iter([{"event": "e", "data": "d"}, "x"]), retry=5)
    assert r["content_type"] == SSE
    assert list(r["stream"]) == ["retry: 5\n\n", "event: e\ndata: d\n\n", "data: x\n\n"]
    with pytest.raises(TypeError, match="give either stream= or content=, not both"):
        EventSourceResponse(iter([]), content=iter([]))
    with pytest.raises(TypeError):
        EventSourceResponse()  # the stream is still required
    with pytest.raises(TypeError, match="stream must be an iterable"):
        EventSourceResponse(content=5)


def test_every_constructor_takes_the_aliases_and_refuses_both_spellings(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("hi")
    built = {
        "Response": Response(content="c", media_type="t/a"),
        "JSONResponse": JSONResponse(content=[1], media_type="t/a"),
        "HTMLResponse": HTMLResponse(content="c", media_type="t/a"),
        "PlainTextResponse": PlainTextResponse(content="c", media_type="t/a"),
        "StreamingResponse": StreamingResponse(content=[b"c"], media_type="t/a"),
        "RedirectResponse": RedirectResponse("/x", content="c", media_type="t/a"),
        "EventSourceResponse": EventSourceResponse(content=[], media_type="t/a"),
    }
    for name, resp in built.items():
        assert resp["content_type"] == "t/a", name
    # FileResponse: `media_type=` works; `content=` stays refused — the body is the file
    # (documented in docs/internals/requests-responses.md).
    r = FileResponse(str(target), media_type="t/a")
    assert (r["status_code"], r["content_type"]) == (200, "t/a")
    with pytest.raises(TypeError):
        FileResponse(str(target), content=b"x")
    both = [
        lambda: Response(body="a", content="b"),
        lambda: Response(content_type="a/b", media_type="c/d"),
        lambda: HTMLResponse("a", content="b"),
        lambda: StreamingResponse([b"a"], content=[b"b"]),
        lambda: StreamingResponse([b"a"], content_type="a/b", media_type="c/d"),
        lambda: FileResponse(str(target), content_type="a/b", media_type="c/d"),
        lambda: EventSourceResponse([], content=[]),
    ]
    for make in both:
        with pytest.raises(TypeError, match="not both"):
            make()


def test_aliased_redirect_and_event_source_on_the_wire(serve):
    c = serve(APP).client
    r = c.get("/alias/redirect")
    assert (r.status_code, r.headers["location"]) == (302, "/target")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<a href=/target>moved</a>"
    r = c.get("/alias/sse")
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.content == b"event: a\ndata: 1\n\ndata: two\n\n"


# --- 2. lazy SessionMiddleware / CSRFMiddleware (docs/internals/cors-hosts-ratelimit.md) --------------------


@pytest.mark.parametrize("name", ["SessionMiddleware", "CSRFMiddleware"])
def test_session_middlewares_are_the_viperhttp_session_classes(name):
    import viperhttp_session

    assert getattr(mw, name) is getattr(viperhttp_session, name)
    namespace: dict = {}
    exec(f"from viperhttp.middleware import {name}", namespace)
    assert namespace[name] is getattr(viperhttp_session, name)


@pytest.mark.parametrize("name", ["SessionMiddleware", "CSRFMiddleware"])
def test_session_middlewares_missing_extension_gives_a_clear_error(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "viperhttp_session", None)  # as if not installed
    message = f"{name} needs viperhttp_session, which is not installed"
    with pytest.raises(AttributeError) as info:
        getattr(mw, name)
    assert str(info.value) == message
    assert info.value.name == name
    assert not hasattr(mw, name)  # feature detection keeps working
    assert getattr(mw, name, None) is None
    with pytest.raises(ImportError):  # CPython turns it into "cannot import name ..."
        exec(f"from viperhttp.middleware import {name}", {})
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchMiddleware'"):
        mw.NoSuchMiddleware  # other names: the plain message


def test_session_middlewares_are_reexported_once_the_module_exists(monkeypatch):
    fake = types.ModuleType("viperhttp_session")

    class SessionMiddleware:
        pass

    class CSRFMiddleware:
        pass

    fake.SessionMiddleware, fake.CSRFMiddleware = SessionMiddleware, CSRFMiddleware
    monkeypatch.setitem(sys.modules, "viperhttp_session", fake)
    assert mw.SessionMiddleware is SessionMiddleware
    assert mw.CSRFMiddleware is CSRFMiddleware
    from viperhttp.middleware import SessionMiddleware as imported

    assert imported is SessionMiddleware


def test_session_module_broken_import_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "viperhttp_session.py").write_text("import viperhttp_no_such_dependency_xyz\n")
    monkeypatch.delitem(sys.modules, "viperhttp_session", raising=False)  # restored afterwards
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError) as info:
            mw.SessionMiddleware
        assert info.value.name == "viperhttp_no_such_dependency_xyz"
    finally:
        sys.modules.pop("viperhttp_session", None)


# --- 3. serialize_response of an empty byte body (docs/internals/bridge.md#decisions-on-serialisation) ------


@pytest.mark.parametrize("value", [b"", bytearray()], ids=["bytes", "bytearray"])
def test_serialize_response_empty_bytes_has_no_default_content_type(value):
    expected = {"__vhttp_response__": True, "status_code": 200, "body": b"", "headers": None,
                "content_type": None}
    assert viperhttp_bridge.serialize_response(value) == expected
    assert serialize_response(value) == expected
    assert serialize_response(Response(body=value)) == expected
    assert normalize(value)["content_type"] is None
    # Unchanged: non-empty bytes, an empty str and an explicit type.
    assert serialize_response(b"x")["content_type"] == "application/octet-stream"
    assert serialize_response("")["content_type"] == TEXT
    assert serialize_response(Response(body=value, content_type="a/b"))["content_type"] == "a/b"


# --- 4. request injection into every matching parameter (docs/internals/framework.md) -----------------------


def test_every_request_parameter_receives_the_request(serve):
    c = serve(APP).client
    assert c.get("/inject/sync").json() == {"req": "Request", "request": "Request", "same": True}
    # A query value with the name wins for that parameter only.
    assert c.get("/inject/sync?request=q").json() == {"req": "Request", "request": "'q'", "same": False}
    assert c.get("/inject/async").json() == {"request": "Request", "other": "Request", "same": True}
    assert c.get("/inject/path/p").json() == {"request": "'p'", "req": "Request"}
    assert c.get("/inject/dep").json() == {
        "dep": {"r": "Request", "request": "Request", "same": True},
        "req": "Request", "request": "Request"}
    assert c.get("/inject/bg").json() == {"same": True, "type": "BackgroundTasks"}


def test_route_plans_record_every_injected_parameter_in_signature_order():
    """Which parameters receive the request is decided once, at registration."""

    viperhttp.reset()
    try:
        app = viperhttp.ViperHTTP()

        @app.get("/one")
        def one(request):
            return "x"

        @app.get("/two")
        def two(request, req: viperhttp.Request):
            return "x"

        plans = {p.path: p for p in app._routes_by_id if p is not None}
    finally:
        viperhttp.reset()
    assert plans["/one"].request_args == ("request",)
    assert plans["/two"].request_args == ("request", "req")

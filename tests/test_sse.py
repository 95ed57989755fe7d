"""Server-Sent Events end to end (docs/internals/websocket.md, "Server-Sent Events"): event bytes on the
wire, reconnection with `Last-Event-ID`, keep-alive comments, and a client disconnect closing
the generator (its `finally` runs). Real server (tests/apps/ws_app.py), real sockets."""
from __future__ import annotations

import time

import httpx
import pytest

APP = "apps/ws_app.py"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app(serve):
    return serve(APP)


def test_event_bytes_on_the_wire(app):
    r = app.client.get("/sse/events")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content == (
        b"retry: 3000\n\n"
        b"event: greet\nid: 1\ndata: hello\ndata: world\n\n"
        b':c1\n:c2\ndata: {"a":1}\n\n'
        b"retry: 1500\ndata:\n\n"          # id 0 is falsy: omitted; None data: one empty line
        b"data: bytes\n\n"                  # retry "x" is not an int: ignored
        b'data: ["x",1]\n\n'
        b"data: plain\n\n"
    )


def _events(body: bytes):
    out = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        out.append(fields)
    return out


def test_reconnection_resumes_after_last_event_id(app):
    first = _events(app.client.get("/sse/resume").content)
    assert [(e["id"], e["data"]) for e in first] == [("1", "n1"), ("2", "n2"), ("3", "n3")]
    # A browser reconnects with the last id it saw; the app reads it from the request.
    again = _events(app.client.get("/sse/resume", headers={"Last-Event-ID": first[-1]["id"]}).content)
    assert [(e["id"], e["data"]) for e in again] == [("4", "n4"), ("5", "n5"), ("6", "n6")]


def test_ping_comments_while_the_source_is_silent(app):
    r = app.client.get("/sse/ping")
    assert r.content.startswith(b"data: first\n\n")
    assert r.content.endswith(b"data: second\n\n")
    assert r.content.count(b":ping\n\n") >= 2


def test_client_disconnect_closes_the_generator(app):
    with httpx.Client(base_url=app.base, timeout=10) as c:
        with c.stream("GET", "/sse/forever") as r:
            seen = []
            for line in r.iter_lines():
                if line.startswith("data: "):
                    seen.append(int(line[6:]))
                if len(seen) == 3:
                    break
    assert seen == [1, 2, 3]
    deadline = time.monotonic() + 5
    closed = 0
    while time.monotonic() < deadline:
        closed = app.client.get("/state").json()["sse_closed"]
        if closed:
            break
        time.sleep(0.05)
    assert closed == 1, "the generator's finally must run once the client is gone"


@pytest.mark.parametrize("path", ["/sse/forever", "/sse/forever_sync"])
def test_a_stop_ends_event_streams_at_once_and_cleanly(app, path):
    """SIGTERM while an endless event stream is open: the stream ends at once with the body's
    last chunk (an EventSource simply reconnects elsewhere), instead of the stop waiting out
    its 10 s grace period and cutting the stream. Also for a sync source of a blocking route,
    whose item in progress (a 0.5 s sleep in a pool thread) is let finish."""
    import signal
    import threading

    lines = []
    errors = []

    def listen():
        try:
            with httpx.Client(base_url=app.base, timeout=15) as c:
                with c.stream("GET", path) as r:
                    for line in r.iter_lines():  # raises if the body is cut
                        lines.append(line)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=listen)
    t.start()
    deadline = time.monotonic() + 5
    while sum(ln.startswith("data: ") for ln in lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    t_sig = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=15) == 0, app.logs()
    took = time.monotonic() - t_sig
    t.join(10)
    assert took < 3.0, f"the stop waited {took:.1f}s for an event stream"
    assert not errors, errors  # a clean end of the body, not a cut


def test_event_source_headers_take_any_mapping_as_every_response():
    """`EventSourceResponse(headers=...)` had a check of its own that refused a mapping which is
    not a dict (Starlette's responses take any mapping, as the other responses here do); it now
    goes through the one header check, its SSE headers added unless given."""
    from types import MappingProxyType

    import viperhttp
    from viperhttp import ViperHTTP
    from viperhttp.sse import EventSourceResponse
    from viperhttp.testclient import TestClient

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/events")
    def events():
        return EventSourceResponse(iter(["one"]), headers=MappingProxyType({"X-Feed": "1", "cache-control": "no-store"}))

    try:
        with TestClient(app) as client:
            r = client.get("/events")
    finally:
        viperhttp.reset()
    assert r.status_code == 200 and r.text == "data: one\n\n"
    assert (r.headers["x-feed"], r.headers["cache-control"], r.headers["x-accel-buffering"]) == ("1", "no-store", "no")

"""The original bridge's manual loop (tests/apps/manual_loop_app.py): an app that polls
`viperhttp.poll_request()` itself (the dict shape of docs/internals/ipc.md), calls
`app.dispatch(method, path, request)`, sends with `viperhttp.send_response()` and
`viperhttp_bridge.serialize_response()`, and exits 0 on SIGTERM. The IPC checks the body type in
`send_response`: a body that is not str/bytes/bytearray/None raises `ResponseError` (a
`ValueError`, crates/viperhttp-py/src/errors.rs).
"""
from __future__ import annotations

MANUAL = "apps/manual_loop_app.py"
TEXT = "text/plain; charset=utf-8"
# ResponseError: the declared class (a ValueError subclass, as
# docs/internals/bridge.md#decisions-on-serialisation has it).
BODY_ERROR = "send_response: ResponseError: response body must be str/bytes/bytearray/None"


def test_poll_request_dict_shape_and_request_object(serve):
    """docs/internals/ipc.md: HTTP → {"request_id": int, "method", "path" (raw URI incl. query),
    "request": Request} (+ "type": "http", host decision); the Request carries method, path
    without query, query, headers and body."""
    server = serve(MANUAL)
    r = server.client.post("/mb/poll-shape?a=b+c&x=%41", content=b"payload", headers={"X-Test": "yes"})
    assert r.status_code == 200, r.text
    shape = r.json()
    assert shape["type"] == "http"
    assert shape["request_id_is_int"] is True
    assert shape["method"] == "POST"
    assert shape["path"] == "/mb/poll-shape?a=b+c&x=%41"
    assert {"request_id", "method", "path", "request"} <= set(shape["keys"]), shape["keys"]
    assert shape["request_is_Request"] is True
    assert shape["request"] == {"method": "POST", "path": "/mb/poll-shape", "query": "a=b+c&x=%41",
                                "query_params": {"a": "b c", "x": "A"}, "x_test": "yes", "body": "payload"}

def test_dispatch_with_request_from_the_manual_loop(serve):
    c = serve(MANUAL).client
    r = c.get("/mb/echo/7?q=hello+w%C3%B6rld&extra=1")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"n": 7, "q": "hello wörld", "current_is_request": True, "path": "/mb/echo/7",
                        "query": "q=hello+w%C3%B6rld&extra=1", "path_params": {"n": 7},
                        "request_id_matches": True}
    # the optional query default
    assert c.get("/mb/echo/-3").json()["q"] == ""

def test_dispatch_422_and_http_exception_are_response_dicts(serve):
    c = serve(MANUAL).client
    r = c.get("/mb/q?page=x")
    assert (r.status_code, r.content, r.headers["content-type"]) == \
        (422, b'{"detail":"Invalid query param: page"}', "application/json")
    r = c.get("/mb/q")
    assert (r.status_code, r.content) == (422, b'{"detail":"Missing query param: page"}')
    assert c.get("/mb/q?page=4").json() == {"page": 4}
    r = c.get("/mb/http-exc")
    assert (r.status_code, r.content, r.headers["x-why"]) == (403, b'{"detail":"nope"}', "because")

def test_dispatch_async_handler_returns_a_coroutine_the_loop_awaits(serve):
    r = serve(MANUAL).client.get("/mb/async")
    assert r.json() == {"async": True, "current_path": "/mb/async"}

WIRE = {
    "dict": ('{"a":1,"u":"é"}'.encode(), "application/json"),
    "list": (b'[1,"x",null]', "application/json"),
    "str": ("héllo".encode(), TEXT),
    "bytes": (b"\x00raw", "application/octet-stream"),
    "bytearray": (b"ba", "application/octet-stream"),
    "int": (b"42", TEXT),
    "float": (b"1.5", TEXT),
    "tuple": (b"(1, 2)", TEXT),
}

def test_serialize_response_on_the_wire_through_the_manual_loop(serve):
    c = serve(MANUAL).client
    for kind, (body, ctype) in WIRE.items():
        r = c.get(f"/mb/ser/{kind}")
        assert r.status_code == 200, kind
        assert r.content == body, kind
        assert r.headers.get("content-type") == ctype, kind
    # None: serialize_response gives body b"" with content_type None (checked in-process below);
    # an empty byte body gets no default type (docs/internals/bridge.md, "Decisions on serialisation"), so
    # the manual pipeline sends no Content-Type either, as the bridge does
    # (docs/internals/requests-responses.md#return-values).
    r = c.get("/mb/ser/none")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    assert "content-type" not in r.headers

def test_body_reaching_the_ipc_must_be_str_bytes_bytearray_or_none(serve):
    """docs/internals/bridge.md#decisions-on-serialisation: `send_response` refuses any other body with a
    clear ValueError."""
    c = serve(MANUAL).client
    for kind, body in (("str", b"text"), ("bytes", b"\x01bytes"), ("bytearray", b"ba"), ("none", b"")):
        r = c.get(f"/mb/raw-body/{kind}")
        assert (r.status_code, r.content) == (200, body), kind
    for kind in ("int", "float", "dict", "list", "object", "tuple"):
        r = c.get(f"/mb/raw-body/{kind}")
        assert r.status_code == 500, kind
        assert r.text == BODY_ERROR, kind
    assert c.get("/mb/ser/str").text == "héllo"  # the loop keeps serving

def test_manual_loop_exits_0_on_sigterm(serve):
    server = serve(MANUAL)
    assert server.client.get("/mb/ser/int").text == "42"
    assert server.stop() == 0, server.logs()

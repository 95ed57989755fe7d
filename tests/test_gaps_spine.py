"""Coverage gaps of the spine issue (issue 3) that tests/test_spine.py leaves open.

Behaviour is checked over real sockets; only pure helpers (`viperhttp_bridge.serialize_response`)
and module-level state (`current_request()` outside a request) are checked in-process.

- The original bridge's manual loop (tests/apps/gap_manual_bridge.py): `viperhttp.poll_request()`
  dict shape (runtime.md §2.5), `app.dispatch(method, path, request)` (api.md §2.2),
  `viperhttp.current_request()`, `viperhttp_bridge.serialize_response()` on the wire, and the
  IPC's body-type check in `send_response` (runtime.md §3.7: a body that is not
  str/bytes/bytearray/None → `ValueError("response body must be str/bytes/bytearray/None")`).
- `app.run(port=..., wifi=False)` and `viperhttp_bridge.run(app, port=..., wifi=True)` (the
  combinations test_spine.py does not start), per-request `current_request()` under
  concurrency, pipelining with a slow async request first, pipelined bodies.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import pytest

import viperhttp
import viperhttp_bridge
from viperhttp import JSONResponse, Response, StreamingResponse

MANUAL = "apps/gap_manual_bridge.py"
GAP = "apps/gap_spine_app.py"
TEXT = "text/plain; charset=utf-8"
# ResponseError: the declared class (a ValueError subclass, as runtime.md §3.7 has it).
BODY_ERROR = "send_response: ResponseError: response body must be str/bytes/bytearray/None"


# --- a minimal HTTP/1.1 reader for raw sockets -----------------------------------------------


class Conn:
    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"peer closed; unparsed {self.buf[:200]!r}")
        self.buf += chunk

    def read(self) -> Tuple[int, Dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def close(self) -> None:
        self.sock.close()


def req(method: str, path: str, body: Optional[bytes] = None, headers: str = "") -> bytes:
    out = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}"
    if body is not None:
        out += f"Content-Length: {len(body)}\r\n"
    return out.encode("latin-1") + b"\r\n" + (body or b"")


def wait_for_log(server, needle: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    logs = server.logs()
    while needle not in logs and time.monotonic() < deadline:
        time.sleep(0.05)
        logs = server.logs()
    return logs


# --- viperhttp.poll_request() --------------------------------------------------------------


def test_poll_request_dict_shape_and_request_object(serve):
    """runtime.md §2.5: HTTP → {"request_id": int, "method", "path" (raw URI incl. query),
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


# --- app.dispatch(method, path, request) + current_request() -------------------------------


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


# --- viperhttp_bridge.serialize_response() -------------------------------------------------


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
    # the manual pipeline sends no Content-Type either, as the bridge does (api.md §7.2).
    r = c.get("/mb/ser/none")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    assert "content-type" not in r.headers


def test_body_reaching_the_ipc_must_be_str_bytes_bytearray_or_none(serve):
    """runtime.md §3.7: `send_response` refuses any other body with a clear ValueError."""
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


class Thing:
    def __str__(self) -> str:
        return "a thing"


@pytest.mark.parametrize("value,body,ctype", [
    ({"b": [1, 2.5, None, True], "u": "ż"}, '{"b":[1,2.5,null,true],"u":"ż"}'.encode(), "application/json"),
    ([{"k": []}, "x"], b'[{"k":[]},"x"]', "application/json"),
    ("grüß", "grüß".encode(), TEXT),
    ("", b"", TEXT),
    (b"\x00\xff", b"\x00\xff", "application/octet-stream"),
    (bytearray(b"\x01"), b"\x01", "application/octet-stream"),
    (None, b"", None),
    (7, b"7", TEXT),
    (2.5, b"2.5", TEXT),
    (True, b"True", TEXT),
    ((1, "a"), b"(1, 'a')", TEXT),
    (Thing(), b"a thing", TEXT),
])
def test_bridge_serialize_response_table(value, body, ctype):
    """viperhttp_bridge.serialize_response (runtime.md §3.7, api.md §7.2): body always bytes."""
    out = viperhttp_bridge.serialize_response(value)
    assert out == {"__vhttp_response__": True, "status_code": 200, "body": body, "headers": None,
                   "content_type": ctype}
    assert type(out["body"]) is bytes


def test_bridge_serialize_response_dicts_streams_and_errors():
    data = {"z": 1, "a": [1, {"n": None}], "s": "é✓", "f": 0.1, "big": 2 ** 70}
    out = viperhttp_bridge.serialize_response(data)
    assert out["body"] == json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    out = viperhttp_bridge.serialize_response(Response(201, {"k": "v"}, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]))
    assert (out["status_code"], out["body"], out["content_type"]) == (201, b'{"k":"v"}', "application/json")
    assert out["headers"] == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    out = viperhttp_bridge.serialize_response(JSONResponse(body=[1]))
    assert (out["body"], out["content_type"]) == (b"[1]", "application/json")
    out = viperhttp_bridge.serialize_response(Response(body="x", content_type="text/x"))
    assert (out["body"], out["content_type"]) == (b"x", "text/x")
    stream = StreamingResponse([b"x"])
    assert viperhttp_bridge.serialize_response(stream) is stream
    with pytest.raises(ValueError):
        viperhttp_bridge.serialize_response({"x": float("nan")})
    with pytest.raises(TypeError):
        viperhttp_bridge.serialize_response({"x": object()})


def test_current_request_is_none_outside_a_request():
    assert viperhttp.current_request() is None
    marker = object()
    assert viperhttp.set_current_request(marker) is None
    try:
        assert viperhttp.current_request() is marker
    finally:
        assert viperhttp.set_current_request(None) is marker
    assert viperhttp.current_request() is None


# --- entry points: the combinations test_spine.py does not start -----------------------------


def _wifi_lines(logs: str) -> List[str]:
    return [ln for ln in logs.splitlines() if "wifi" in ln.lower()]


def test_app_run_with_wifi_false_serves_without_wifi_line_and_exits_0(serve):
    server = serve(GAP, "app-run-nowifi")
    assert server.client.get("/ok").text == "ok"
    assert server.stop() == 0, server.logs()
    assert _wifi_lines(server.logs()) == [], server.logs()


def test_bridge_run_with_wifi_true_logs_host_network(serve):
    server = serve(GAP, "bridge-wifi")
    assert server.client.get("/ok").text == "ok"
    logs = wait_for_log(server, "wifi")
    lines = _wifi_lines(logs)
    assert len(lines) == 1 and "network" in lines[0].lower(), logs
    assert server.stop() == 0, server.logs()


def test_active_app_and_current_request_inside_a_handler(serve):
    assert serve(GAP).client.get("/outside").json() == {"active_is_app": True, "current_path": "/outside"}


def test_reset_refused_while_serving(serve):
    """api.md §1.2 (decision): reset() while a server is running → RuntimeError."""
    c = serve(GAP).client
    r = c.get("/reset-while-running").json()
    assert r["raised"] == "RuntimeError", r
    assert c.get("/ok").text == "ok"  # routes survived


# --- per-request context and ordering ----------------------------------------------------------


def test_current_request_isolated_across_awaits_under_concurrency(serve):
    server = serve(GAP)
    run = uuid.uuid4().hex[:6]

    def one(i: int) -> dict:
        marker = f"{run}-{i}"
        r = server.client.get(f"/ctx/{marker}", headers={"X-Marker": marker})
        return {"i": i, "status": r.status_code, **r.json()}

    # 12 at a time: within the default bridge capacity (4 workers + queue 16), so no 503s.
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(96)))
    bad = [r for r in results if r["status"] != 200 or not r["all_own"]
           or r["marker"] != f"{run}-{r['i']}" or r["path"] != f"/ctx/{run}-{r['i']}"]
    assert not bad, bad[:5]


def test_pipelined_slow_async_then_fast_sync_answered_in_order(serve):
    server = serve(GAP)
    conn = Conn(server.connect())
    try:
        conn.sock.sendall(req("GET", "/slow/one") + req("GET", "/fast/two") + req("GET", "/slow/three")
                          + req("GET", "/fast/four"))
        bodies = [conn.read()[2] for _ in range(4)]
    finally:
        conn.close()
    assert bodies == [b"slow=one", b"fast=two", b"slow=three", b"fast=four"]


def test_pipelined_post_bodies_answered_in_order(serve):
    server = serve(GAP)
    bodies = [b"", b"x", bytes(range(256)) * 64, b"", b"last"]
    conn = Conn(server.connect())
    try:
        conn.sock.sendall(b"".join(req("POST", "/echo-body", b) for b in bodies))
        got = [conn.read() for _ in bodies]
    finally:
        conn.close()
    assert [g[0] for g in got] == [200] * len(bodies)
    assert [g[2] for g in got] == bodies

"""The spine, end to end over real sockets (docs/internals/bridge.md#one-request, docs/internals/http.md;
docs/internals/framework.md#routing, docs/internals/requests-responses.md#return-values).

Every test starts an app script as a subprocess (`serve`) and talks to it with httpx
(`server.client`) or, for wire-level checks, with raw sockets (`server.connect()`), reading
responses with the small HTTP/1.1 reader below so that exact bytes, framing and ordering on
one connection can be checked.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import pytest

from conftest import raw_request
from support.http1 import RawConn, RawResponse, build_request as req
from support.logs import wait_for_log

APP = "apps/spine_app.py"
GAP = "apps/context_app.py"
HELLO = "examples/hello.py"
TEXT = "text/plain; charset=utf-8"
MAX_BODY = 1048576  # default max_body_size (docs/internals/http.md#limits)


@pytest.fixture
def serve(serve):
    """conftest's `serve`, minus one harness leak: its `start()` opens the server log file and
    drops the handle without closing it, which `filterwarnings = error` turns into a failing
    ResourceWarning in every test. Only that call is shielded; the tests themselves keep the
    strict filter."""
    def start(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            return serve(*args, **kwargs)
    return start










def get(path: str, *, method: str = "GET", headers: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode("latin-1")




# --- 1. the hello example --------------------------------------------------------------------


def test_hello_example_json(serve):
    r = serve(HELLO).client.get("/hello")
    assert r.status_code == 200
    assert r.content == b'{"msg":"ok"}'
    assert r.headers["content-type"] == "application/json"


def test_hello_example_plain(serve):
    r = serve(HELLO).client.get("/plain")
    assert r.status_code == 200
    assert r.content == b"hello"
    assert r.headers["content-type"] == TEXT


# --- 2. path parameters ----------------------------------------------------------------------


def test_path_param_str(serve):
    assert serve(APP).client.get("/p/str/abc").json() == {"value": "abc", "type": "str"}


def test_path_param_str_is_percent_decoded(serve):
    # UTF-8 percent-decoding after matching; `+` stays `+` (docs/internals/framework.md#routing)
    r = serve(APP).client.get("/p/str/J%C3%B6rg%20S+")
    assert r.json() == {"value": "Jörg S+", "type": "str"}


def test_path_param_int_positive_and_negative(serve):
    c = serve(APP).client
    assert c.get("/p/int/42").json() == {"value": 42, "type": "int"}
    assert c.get("/p/int/-7").json() == {"value": -7, "type": "int"}


def test_path_param_float(serve):
    c = serve(APP).client
    assert c.get("/p/float/1.5").json() == {"value": 1.5, "type": "float"}
    assert c.get("/p/float/-0.25").json() == {"value": -0.25, "type": "float"}
    assert c.get("/p/float/3").json() == {"value": 3.0, "type": "float"}


def test_path_param_bool(serve):
    c = serve(APP).client
    assert c.get("/p/bool/true").json() == {"value": True, "type": "bool"}
    assert c.get("/p/bool/OFF").json() == {"value": False, "type": "bool"}


def test_path_param_path_takes_the_rest(serve):
    r = serve(APP).client.get("/p/path/a/b/c.txt")
    assert r.json() == {"value": "a/b/c.txt", "type": "str"}


def test_path_param_bad_int_is_native_404_not_422(serve):
    c = serve(APP).client
    for path in ("/items/abc", "/items/4x", "/p/int/1.5"):
        r = c.get(path)
        assert r.status_code == 404, path
        assert r.content == b"Not Found", path
        assert r.headers["content-type"] == TEXT, path


# --- 3. typed query parameters ---------------------------------------------------------------


def test_query_required_int_ok(serve):
    assert serve(APP).client.get("/q/page?page=3").json() == {"value": 3, "type": "int"}


def test_query_required_missing_is_422(serve):
    r = serve(APP).client.get("/q/page")
    assert r.status_code == 422
    assert r.content == b'{"detail":"Missing query param: page"}'
    assert r.headers["content-type"] == "application/json"


def test_query_invalid_is_422(serve):
    r = serve(APP).client.get("/q/page?page=abc")
    assert r.status_code == 422
    assert r.content == b'{"detail":"Invalid query param: page"}'
    assert r.headers["content-type"] == "application/json"


def test_query_spec_defaults(serve):
    r = serve(APP).client.get("/q/defaults")
    assert r.json() == {
        "limit": {"value": 10, "type": "int"},
        "name": {"value": "anon", "type": "str"},
        "ratio": {"value": 0.5, "type": "float"},
        "tag": {"value": None, "type": "NoneType"},
    }


def test_query_spec_values_are_cast(serve):
    r = serve(APP).client.get("/q/defaults?limit=-5&name=bob&ratio=2.25&tag=t")
    assert r.json() == {
        "limit": {"value": -5, "type": "int"},
        "name": {"value": "bob", "type": "str"},
        "ratio": {"value": 2.25, "type": "float"},
        "tag": {"value": "t", "type": "str"},
    }


def test_query_spec_optional_with_bad_value_is_422(serve):
    r = serve(APP).client.get("/q/defaults?limit=x")
    assert r.status_code == 422
    assert r.content == b'{"detail":"Invalid query param: limit"}'


def test_query_cast_without_default_is_required(serve):
    c = serve(APP).client
    r = c.get("/q/required-cast")
    assert r.status_code == 422
    assert r.content == b'{"detail":"Missing query param: flag"}'
    assert c.get("/q/required-cast?flag=yes").json() == {"value": True, "type": "bool"}


def test_undeclared_query_params_reach_handler_as_strings(serve):
    r = serve(APP).client.get("/q/extra?page=2&color=red&n=5")
    assert r.json() == {
        "page": {"value": 2, "type": "int"},
        "color": {"value": "red", "type": "str"},
        "n": {"value": "5", "type": "str"},
    }


def test_query_percent_decoding_and_raw_query(serve):
    r = serve(APP).client.get("/q/raw?q=a%20b+c")
    assert r.json() == {"q": "a b c", "raw": "q=a%20b+c", "params": {"q": "a b c"}}


# --- 4. request bodies -----------------------------------------------------------------------


def test_post_empty_body_echo(serve):
    r = serve(APP).client.post("/body", content=b"")
    assert r.status_code == 200
    assert r.content == b""


def test_post_one_byte_echo(serve):
    r = serve(APP).client.post("/body", content=b"Z")
    assert r.status_code == 200
    assert r.content == b"Z"
    assert r.headers["content-type"] == "application/octet-stream"


def test_post_exactly_max_body_echo(serve):
    body = bytes(range(256)) * (MAX_BODY // 256)
    assert len(body) == MAX_BODY
    r = serve(APP).client.post("/body", content=body)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(MAX_BODY)
    assert r.content == body


def test_post_one_byte_over_max_body_is_413(serve):
    # 413 is answered from the declared length, before the body is read (docs/internals/http.md)
    with RawConn(serve(APP).connect()) as conn:
        resp = conn.request(
            f"POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    assert resp.head_bytes.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert resp.body == b"Payload Too Large"
    assert resp.header("content-type") == TEXT


# --- 5. request headers ----------------------------------------------------------------------


def test_request_headers_case_insensitive(serve):
    r = serve(APP).client.get("/headers", headers={"X-Test": "value-1"})
    assert r.json() == {"lower": "value-1", "upper": "value-1", "get": "value-1",
                        "contains": True, "is_dict": True}


# --- 6. 404, 405, HEAD -----------------------------------------------------------------------


def test_unknown_path_is_404(serve):
    r = serve(APP).client.get("/no/such/path")
    assert r.status_code == 404
    assert r.content == b"Not Found"
    assert r.headers["content-type"] == TEXT


def test_wrong_method_is_405_with_allow(serve):
    r = serve(APP).client.post("/ok")
    assert r.status_code == 405
    assert r.content == b"Method Not Allowed"
    assert r.headers["content-type"] == TEXT
    assert r.headers["allow"] == "GET, HEAD"


def test_head_on_get_route_sends_headers_without_body(serve):
    server = serve(APP)
    get_resp = server.client.get("/head-target")
    assert get_resp.status_code == 200
    with RawConn(server.connect()) as conn:
        # HEAD and a following GET in one write: whatever follows the HEAD response head must
        # be the start of the GET's response, not body bytes.
        conn.send(get("/head-target", method="HEAD") + get("/echo/after-head"))
        head = conn.read_response(head_request=True)
        assert head.status == 200
        assert head.header("content-type") == "application/json"
        assert head.header("content-length") == str(len(get_resp.content))
        assert conn.peek(9) == b"HTTP/1.1 ", "HEAD response carried body bytes"
        nxt = conn.read_response()
        assert nxt.status == 200
        assert nxt.body == b"marker=after-head"


# --- 7. keep-alive ---------------------------------------------------------------------------


def test_keepalive_200_requests_on_one_connection(serve):
    server = serve(APP)
    with RawConn(server.connect()) as conn:
        local_port = conn.sock.getsockname()[1]
        for i in range(200):
            path = "/client" if i % 20 == 0 else f"/echo/ka-{i}"
            resp = conn.request(get(path))
            assert resp.status == 200, i
            assert (resp.header("connection") or "").lower() == "keep-alive", (i, resp.headers)
            if path == "/client":
                # the server sees the very same TCP connection (same client port) every time
                assert json.loads(resp.body)["port"] == local_port, i
            else:
                assert resp.body == f"marker=ka-{i}".encode(), i
                assert resp.header("x-marker") == f"ka-{i}", i


# --- 8. pipelining ---------------------------------------------------------------------------


def test_pipelined_requests_answered_in_order(serve):
    markers = [f"pipe-{i}-{uuid.uuid4().hex[:6]}" for i in range(10)]
    with RawConn(serve(APP).connect()) as conn:
        conn.send(b"".join(get(f"/echo/{m}") for m in markers))  # one write, ten requests
        for m in markers:
            resp = conn.read_response()
            assert resp.status == 200, m
            assert resp.body == f"marker={m}".encode()
            assert resp.header("x-marker") == m


# --- 9. cross-talk ---------------------------------------------------------------------------


def test_no_cross_talk_under_concurrency(serve):
    server = serve(APP)
    n_conns, per_conn = 200, 10
    barrier = threading.Barrier(n_conns, timeout=20)
    run_id = uuid.uuid4().hex[:8]

    def worker(c: int) -> Tuple[int, List[str]]:
        done, errors = 0, []
        with RawConn(server.connect(), timeout=15) as conn:
            barrier.wait()  # all 200 connections are open before any request is sent
            for i in range(per_conn):
                marker = f"{run_id}-c{c}-r{i}"
                resp = conn.request(get(f"/echo/{marker}"))
                done += 1
                if resp.status != 200 or resp.body != f"marker={marker}".encode() \
                        or resp.header("x-marker") != marker:
                    errors.append(f"{marker}: got {resp.status} {resp.header('x-marker')!r} {resp.body!r}")
        return done, errors

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=n_conns) as pool:
        results = list(pool.map(worker, range(n_conns)))
    elapsed = time.monotonic() - started
    errors = [e for _, errs in results for e in errs]
    assert sum(done for done, _ in results) == n_conns * per_conn
    assert not errors, f"{len(errors)} mismatched responses, first: {errors[:5]}"
    assert elapsed < 20, f"2000 requests took {elapsed:.1f}s"


# --- 10. handler errors ----------------------------------------------------------------------


def test_raising_handler_is_500_with_logged_traceback(serve):
    server = serve(APP)
    r = server.client.get("/boom")
    assert r.status_code == 500
    assert r.content == b"Internal Server Error"
    assert r.headers["content-type"] == TEXT
    logs = wait_for_log(server, "Traceback", "spine-boom-7f3a")
    assert "Traceback" in logs
    assert "spine-boom-7f3a" in logs
    assert "RuntimeError" in logs


def test_server_serves_after_a_500(serve):
    c = serve(APP).client
    assert c.get("/boom").status_code == 500
    r = c.get("/ok")
    assert r.status_code == 200
    assert r.content == b"ok"


# --- 11. malformed HTTP ----------------------------------------------------------------------


def _assert_400_and_closed(server, data: bytes) -> None:
    with RawConn(server.connect()) as conn:
        resp = conn.request(data)
        assert resp.status == 400, resp
        assert resp.body == b"Bad Request"
        assert resp.header("content-type") == TEXT
        assert (resp.header("connection") or "").lower() == "close"
        assert conn.closed_by_peer(), "connection left open after a parse error"


def test_header_line_without_colon_is_400_and_close(serve):
    _assert_400_and_closed(serve(APP), b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")


def test_garbage_request_is_400_and_close(serve):
    _assert_400_and_closed(serve(APP), b"\x00\x01\x02 hello\r\n\r\n")


def test_server_serves_after_malformed_requests(serve):
    server = serve(APP)
    for bad in (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"\x00\x01\x02 hello\r\n\r\n"):
        with server.connect() as s:
            raw_request(s, bad, expect_close=True)  # the 400 itself is checked above
    with RawConn(server.connect()) as conn:
        resp = conn.request(get("/ok"))
    assert resp.status == 200
    assert resp.body == b"ok"


# --- 12. return-value normalisation ----------------------------------------------------------


def _fetch(server, path: str) -> RawResponse:
    with RawConn(server.connect()) as conn:
        return conn.request(get(path))


def test_return_dict_is_compact_json(serve):
    resp = _fetch(serve(APP), "/r/dict")
    assert resp.status == 200
    assert resp.body == b'{"a":1,"b":[1,2],"c":{"d":null,"e":true}}'
    assert resp.header("content-type") == "application/json"


def test_return_list_is_compact_json(serve):
    resp = _fetch(serve(APP), "/r/list")
    assert resp.body == b'[1,"two",3.5,null,false]'
    assert resp.header("content-type") == "application/json"


def test_return_str_is_text_plain(serve):
    resp = _fetch(serve(APP), "/r/str")
    assert resp.body == b"plain text"
    assert resp.header("content-type") == TEXT


def test_return_bytes_is_octet_stream(serve):
    server = serve(APP)
    resp = _fetch(server, "/r/bytes")
    assert resp.body == b"\x00\x01raw\xff"
    assert resp.header("content-type") == "application/octet-stream"
    resp = _fetch(server, "/r/bytearray")
    assert resp.body == b"ba"
    assert resp.header("content-type") == "application/octet-stream"


def test_return_none_is_empty_200_without_content_type(serve):
    resp = _fetch(serve(APP), "/r/none")
    assert resp.status == 200
    assert resp.body == b""
    assert resp.header("content-length") == "0"
    assert resp.header("content-type") is None, resp.headers


def test_return_int_is_text(serve):
    resp = _fetch(serve(APP), "/r/int")
    assert resp.status == 200
    assert resp.body == b"42"
    assert resp.header("content-type") == TEXT


def test_non_ascii_json_stays_utf8(serve):
    resp = _fetch(serve(APP), "/r/unicode")
    assert resp.body == '{"name":"Jörg","city":"Zürich","emoji":"✓"}'.encode("utf-8")
    assert b"\\u" not in resp.body
    assert resp.header("content-type") == "application/json"


def test_non_ascii_str_is_utf8_text(serve):
    resp = _fetch(serve(APP), "/r/unicode-str")
    assert resp.body == "grüße ✓".encode("utf-8")
    assert resp.header("content-length") == str(len("grüße ✓".encode("utf-8")))


def test_async_handler_result_is_normalised(serve):
    resp = _fetch(serve(APP), "/r/async")
    assert resp.body == b'{"async":true}'
    assert resp.header("content-type") == "application/json"


# --- 13. wifi=True ---------------------------------------------------------------------------


def test_wifi_true_logs_host_network_and_serves(serve):
    server = serve(APP, "app-run-wifi")
    r = server.client.get("/ok")
    assert r.status_code == 200
    assert r.content == b"ok"
    logs = wait_for_log(server, "wifi")
    wifi_lines = [ln for ln in logs.splitlines() if "wifi" in ln.lower() and "host" in ln.lower()]
    assert wifi_lines, f"no wifi/host-network line in logs:\n{logs}"
    assert "network" in wifi_lines[0].lower()


# --- 14. entry points and SIGTERM ------------------------------------------------------------


def test_app_run_serves_and_exits_0_on_sigterm(serve):
    server = serve(APP, "app-run")
    r = server.client.get("/r/dict")
    assert r.status_code == 200
    assert r.json() == {"a": 1, "b": [1, 2], "c": {"d": None, "e": True}}
    assert server.stop() == 0, server.logs()


def test_bridge_run_serves_and_exits_0_on_sigterm(serve):
    server = serve(APP, "bridge")
    r = server.client.get("/ok")
    assert r.status_code == 200
    assert r.content == b"ok"
    assert server.stop() == 0, server.logs()


def test_hello_example_exits_0_on_sigterm(serve):
    server = serve(HELLO)
    assert server.client.get("/hello").status_code == 200
    assert server.stop() == 0, server.logs()


# entry points without Wi-Fi lines, pipelining order (apps/context_app.py) -------------------


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

def test_pipelined_slow_async_then_fast_sync_answered_in_order(serve):
    server = serve(GAP)
    with RawConn(server.connect()) as conn:
        conn.send(req("GET", "/slow/one") + req("GET", "/fast/two") + req("GET", "/slow/three")
                  + req("GET", "/fast/four"))
        bodies = [conn.read_response().body for _ in range(4)]
    assert bodies == [b"slow=one", b"fast=two", b"slow=three", b"fast=four"]

def test_pipelined_post_bodies_answered_in_order(serve):
    server = serve(GAP)
    bodies = [b"", b"x", bytes(range(256)) * 64, b"", b"last"]
    with RawConn(server.connect()) as conn:
        conn.send(b"".join(req("POST", "/echo-body", b) for b in bodies))
        got = [conn.read_response() for _ in bodies]
    assert [g.status for g in got] == [200] * len(bodies)
    assert [g.body for g in got] == bodies

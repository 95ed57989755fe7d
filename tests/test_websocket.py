"""WebSockets end to end (docs/internals/websocket.md): the `websockets` client for well-formed traffic,
hand-built frames (tests/support/ws_raw.py) for protocol violations, all against a real
server (tests/apps/ws_app.py) over real sockets."""
from __future__ import annotations

import asyncio
import json
import resource
import struct
import threading
import time

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from support.ws_raw import KEY, frame, handshake_bytes, open_ws, raw_handshake

APP = "apps/ws_app.py"
pytestmark = pytest.mark.timeout(120)


def uri(server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def run(coro):
    return asyncio.run(coro)


def state(server) -> dict:
    return server.client.get("/state").json()


def wait_for(pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    return pred()


@pytest.fixture
def app(serve):
    return serve(APP)


# --- messages ------------------------------------------------------------------------------

def test_echo_text_binary_and_one_mib(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/echo"), max_size=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "echo:hi"
            await ws.send("żółw ✓")
            assert await ws.recv() == "echo:żółw ✓"
            await ws.send(b"\x00\xffbin")
            assert await ws.recv() == b"\x00\xffbin"
            big = bytes(range(256)) * 4096  # 1 MiB
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("")
            assert await ws.recv() == "echo:"
    run(go())


def test_fragmented_input_is_reassembled_with_a_ping_between(app):
    ws = open_ws("127.0.0.1", app.port, "/ws/echo")
    ws.send(frame(1, b"hel", fin=False) + frame(9, b"p1") + frame(0, b"l", fin=False)
            + frame(0, "ó!".encode(), fin=True))
    assert ws.recv_frame() == (True, 10, b"p1")  # the ping is answered natively, at once
    assert ws.recv_frame() == (True, 1, "echo:helló!".encode())
    # A multi-byte character split across fragments is still valid UTF-8.
    raw = "ż".encode()
    ws.send(frame(1, raw[:1], fin=False) + frame(0, raw[1:]))
    assert ws.recv_frame() == (True, 1, "echo:ż".encode())
    ws.send(frame(2, b"a", fin=False) + frame(0, b"b", fin=False) + frame(0, b"c"))
    assert ws.recv_frame() == (True, 2, b"abc")
    ws.send(frame(8, struct.pack("!H", 1000)))
    assert ws.recv_close() == (1000, b"")
    ws.close()


def test_ping_pong_and_unsolicited_pong(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/echo")) as ws:
            latency = await asyncio.wait_for(await ws.ping(b"abc"), 5)
            assert latency >= 0
            await ws.pong(b"unsolicited")  # ignored
            await ws.send("still")
            assert await ws.recv() == "echo:still"
    run(go())


def test_json_helpers_current_request_and_iter_text(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/json")) as ws:
            await ws.send("a")
            assert json.loads(await ws.recv()) == {"got": "a", "path": "/ws/json"}
        async with websockets.connect(uri(app, "/ws/rjson")) as ws:
            await ws.send('{"k": [1, 2]}')
            assert json.loads(await ws.recv()) == {"echo": {"k": [1, 2]}}
    run(go())
    log = wait_for(lambda: [e for e in state(app)["log"] if e[0] in ("'json-end'", "'rjson-after-close'")]
                   if len([e for e in state(app)["log"] if e[0] in ("'json-end'", "'rjson-after-close'")]) == 2 else None)
    assert sorted(e[0] for e in log) == ["'json-end'", "'rjson-after-close'"]
    assert ["'rjson-after-close'", "None"] in log


def test_an_annotated_socket_raises_on_close_as_fastapi(app):
    """FastAPI's chat tutorial: `websocket: WebSocket` makes receive_text() raise
    WebSocketDisconnect when the client leaves, so the loop never sees a None message
    (the device framework's unannotated `ws` still gets None: test_receive_json_and_iter_text)."""
    import websockets

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/ws/chat/7") as ws:
            await ws.send("hello")
            assert await ws.recv() == "Client #7 says: hello"

    run(go())
    log = wait_for(lambda: [e for e in state(app)["log"] if e[0] in ("'chat'", "'chat-left'")]
                   if any(e[0] == "'chat-left'" for e in state(app)["log"]) else None)
    assert log == [["'chat'", "'hello'"], ["'chat-left'", "7"]], log
    assert "ws_handler_error" not in app.logs()


def test_request_view_path_params_query_and_client_protocols(app):
    # The route accepts no subprotocol, which a client library offering some would refuse:
    # read the message with a raw client instead.
    ws = open_ws("127.0.0.1", app.port, "/ws/items/5?q=abc", extra="Sec-WebSocket-Protocol: a, b\r\n")
    _fin, op, payload = ws.recv_frame()
    assert op == 1
    assert json.loads(payload) == {"item_id": 5, "q": "abc", "method": "WS", "path": "/ws/items/5",
                                   "query": "q=abc", "protocols": ["a", "b"]}
    assert ws.recv_close()[0] == 1000
    ws.close()


def test_subprotocol_is_echoed(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/proto"), subprotocols=["chat", "other"]) as ws:
            assert ws.subprotocol == "chat"
            assert await ws.recv() == "hi"
    run(go())
    # Not offered by the client: echoed all the same, with a warning in the log.
    status, head, _ = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/proto"))
    assert status == 101 and b"sec-websocket-protocol: chat" in head.lower()
    assert wait_for(lambda: "was not offered by the client" in app.logs())


def test_server_fragmented_send_and_ping(app):
    ws = open_ws("127.0.0.1", app.port, "/ws/frag")
    assert ws.recv_frame() == (False, 1, b"ab")
    assert ws.recv_frame() == (False, 0, b"cd")
    assert ws.recv_frame() == (True, 0, b"ef")
    assert ws.recv_frame() == (False, 2, b"\x01")
    assert ws.recv_frame() == (True, 0, b"\x02")
    assert ws.recv_frame() == (True, 9, b"pingdata")
    assert ws.recv_close()[0] == 1000
    ws.close()


def test_send_before_accept_raises_runtime_error(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/send-before-accept")) as ws:
            assert await ws.recv() == "error:WebSocket is not accepted"
    run(go())


# --- framing violations (raw frames) -------------------------------------------------------

@pytest.mark.parametrize("data, code", [
    (frame(1, b"\xff\xfe"), 1007),                                   # invalid UTF-8
    (frame(1, b"\xc3", fin=False) + frame(0, b"\x28"), 1007),        # invalid across fragments
    (frame(1, b"hi", mask=False), 1002),                             # unmasked client frame
    (frame(9, b"x" * 126), 1002),                                    # 126-byte ping
    (frame(9, b"x", fin=False), 1002),                               # fragmented ping
    (frame(1, b"hi", rsv=4), 1002),                                  # RSV1 without an extension
    (frame(1, b"hi", rsv=1), 1002),                                  # RSV3
    (frame(3, b"hi"), 1002),                                         # reserved data opcode
    (frame(11, b""), 1002),                                          # reserved control opcode
    (frame(0, b"stray"), 1002),                                      # continuation, no message
    (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),              # new message mid-message
    (frame(8, b"\x03"), 1002),                                       # 1-byte close payload
])
def test_protocol_violations_close_with_the_right_code(app, data, code):
    ws = open_ws("127.0.0.1", app.port, "/ws/echo")
    ws.send(data)
    assert ws.recv_close()[0] == code
    ws.close()
    assert wait_for(lambda: ["'echo-close'", str(code)] in state(app)["log"])


def test_control_frame_at_125_bytes_is_fine(app):
    ws = open_ws("127.0.0.1", app.port, "/ws/echo")
    ws.send(frame(9, b"y" * 125))
    assert ws.recv_frame() == (True, 10, b"y" * 125)
    ws.close()


def test_message_size_limit_at_and_past_the_boundary(serve):
    server = serve(APP, env={"WS_MAX": "65536"})
    ws = open_ws("127.0.0.1", server.port, "/ws/echo")
    ws.send(frame(2, b"a" * 65536))
    assert ws.recv_frame() == (True, 2, b"a" * 65536)
    # Fragments summing to exactly the limit pass too.
    ws.send(frame(2, b"b" * 65000, fin=False) + frame(0, b"b" * 536))
    assert ws.recv_frame() == (True, 2, b"b" * 65536)
    ws.send(frame(2, b"c" * 65537))
    assert ws.recv_close()[0] == 1009
    ws.close()
    ws = open_ws("127.0.0.1", server.port, "/ws/echo")
    ws.send(frame(2, b"d" * 65000, fin=False) + frame(0, b"d" * 537))
    assert ws.recv_close()[0] == 1009
    ws.close()
    stats = state(server)["stats"]
    assert stats["ws_protocol_closed"] >= 2


def test_a_client_still_sending_an_oversized_message_reads_the_1009(serve):
    """The runtime closes 1009 while the client still sends 32 MiB: the rest is read and
    dropped, so the client finishes sending and reads the close frame (closing with the bytes
    unread answered them with a RST: the sender failed, and Chromium reported 1006)."""
    import threading

    server = serve(APP, env={"WS_MAX": "65536"})
    ws = open_ws("127.0.0.1", server.port, "/ws/echo")
    big = frame(2, b"e" * (32 * 1024 * 1024))  # more than the socket buffers take
    sent: list = []

    def send():
        try:
            ws.send(big)
            sent.append("all")
        except OSError as exc:
            sent.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(15)
    assert sent == ["all"], sent
    assert ws.recv_close()[0] == 1009
    ws.close()


def test_chromium_sees_1009_for_a_message_over_the_limit(serve):
    from support.chromium import CHROMIUM, Browser

    if CHROMIUM is None:
        pytest.skip("chromium not installed")
    server = serve(APP, env={"WS_MAX": "16"})
    browser = Browser()
    try:
        browser.navigate(f"http://127.0.0.1:{server.port}/state")
        time.sleep(0.5)
        codes = browser.evaluate("""(async () => {
            const codes = [];
            for (const n of [17, 5000, 200000]) {
                codes.push(await new Promise((resolve) => {
                    const ws = new WebSocket(`ws://127.0.0.1:%d/ws/echo`);
                    ws.onopen = () => ws.send('x'.repeat(n));
                    ws.onclose = (e) => resolve([n, e.code, e.wasClean]);
                }));
            }
            return codes;
        })()""" % server.port)
    finally:
        browser.close()
    assert codes == [[17, 1009, True], [5000, 1009, True], [200000, 1009, True]], codes


def test_disconnect_mid_message_reports_1006(app):
    ws = open_ws("127.0.0.1", app.port, "/ws/echo")
    ws.send(frame(1, b"part", fin=False))
    time.sleep(0.1)
    ws.close()
    assert wait_for(lambda: ["'echo-close'", "1006"] in state(app)["log"])


# --- handshakes ----------------------------------------------------------------------------

@pytest.mark.parametrize("req, status, body, header", [
    (handshake_bytes("/ws/echo", key=None), 400, b"Missing Sec-WebSocket-Key", None),
    (handshake_bytes("/ws/echo", key=""), 400, b"Missing Sec-WebSocket-Key", None),
    (handshake_bytes("/ws/echo", version="12"), 426, b"Upgrade Required", b"Sec-WebSocket-Version: 13"),
    (handshake_bytes("/ws/echo", version=None), 426, b"Upgrade Required", b"Sec-WebSocket-Version: 13"),
    (handshake_bytes("/ws/echo", key="k" * 65), 400, b"Bad Request", None),
    # RFC 6455 §4.1 / §4.2.1: the key is the base64 of 16 bytes, sent once.
    (handshake_bytes("/ws/echo", key="abc"), 400, b"Bad Request", None),
    (handshake_bytes("/ws/echo", key="A" * 28), 400, b"Bad Request", None),
    (handshake_bytes("/ws/echo", key="k" * 64), 400, b"Bad Request", None),
    (handshake_bytes("/ws/echo", extra="Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"), 400, b"Bad Request", None),
    (handshake_bytes("/ws/nope"), 404, b"Not Found", None),
    (handshake_bytes("/state"), 404, b"Not Found", None),  # an HTTP route is no WS route
])
def test_bad_handshakes(app, req, status, body, header):
    got, head, got_body = raw_handshake("127.0.0.1", app.port, req)
    assert got == status
    assert got_body == body
    assert b"Connection: close" in head
    assert b"Content-Type: text/plain; charset=utf-8" in head
    if header:
        assert header.lower() in head.lower()


def test_any_16_byte_key_is_accepted(app):
    for key in ("AAAAAAAAAAAAAAAAAAAAAA==", "/+/+/+/+/+/+/+/+/+/+/w=="):
        status, head, _ = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/proto", key=key))
        assert status == 101, key


def test_accept_header_is_rfc6455(app):
    status, head, _ = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/proto"))
    assert status == 101
    import base64
    import hashlib
    expected = base64.b64encode(hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert b"sec-websocket-accept: " + expected.lower() in head.lower()
    assert b"Upgrade: websocket" in head


@pytest.mark.parametrize("path, status, body", [
    ("/ws/reject", 401, b'{"detail":"go away"}'),
    ("/ws/raise-early", 500, b"Internal Server Error"),
    ("/ws/no-accept", 403, b"Forbidden"),
    ("/ws/close-before-accept", 403, b"Forbidden"),
    ("/ws/items/notanint", 404, b"Not Found"),
    # An HTTPException from a dependency refuses with its status (was a logged 500).
    ("/ws/guarded", 401, b'{"detail":"Not authenticated"}'),
])
def test_route_decides_rejection(app, path, status, body):
    got, head, got_body = raw_handshake("127.0.0.1", app.port, handshake_bytes(path))
    assert (got, got_body) == (status, body)
    if path in ("/ws/reject", "/ws/guarded"):
        assert b"Content-Type: application/json" in head
    # the refusal's own headers go out (a 401's WWW-Authenticate tells the client how to log in)
    if path == "/ws/reject":
        assert b"\r\nx-reason: no token\r\n" in head.lower()
    if path == "/ws/guarded":
        assert b"\r\nwww-authenticate: Bearer\r\n" in head.lower().replace(b"bearer", b"Bearer")


def test_a_refusal_with_an_unsendable_header_is_a_500_at_once(app):
    """The refusal's headers go through the response rules; one they refuse (an int value)
    makes the answer a plain 500 at once (it left the handshake unanswered: a 504 after 2 s)."""
    t0 = time.monotonic()
    status, _head, body = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/bad-refusal"))
    assert (status, body) == (500, b"Internal Server Error")
    assert time.monotonic() - t0 < 1.5
    assert "ws_dispatch_error" in app.logs()


def test_websocket_exception_closes_with_its_code(app):
    """Starlette's WebSocketException: from a dependency before accept() the handshake is
    refused (403, as Starlette's close before accept); after it, the close carries its code and
    reason. Not a handler error."""
    import asyncio

    import websockets

    status, _head, _body = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/ws-exception"))
    assert status == 403

    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/ws/ws-exception?token=t1") as ws:
            assert await ws.recv() == "token t1"
            await ws.send("go")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert asyncio.run(main()) == (4001, "bye now")
    assert "ws_handler_error" not in app.logs()


def test_an_http_exception_after_accept_closes_1008_and_a_passing_dependency_serves(app):
    import asyncio

    import websockets

    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/ws/guarded?token=ok") as ws:
            assert await ws.recv() == "hello ada"
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/ws/refuse-after-accept") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(main()) == 1008
    assert "ws_handler_error" not in app.logs()


def test_handshake_timeout_is_504(app):
    t0 = time.monotonic()
    status, _, body = raw_handshake("127.0.0.1", app.port, handshake_bytes("/ws/never"))
    assert (status, body) == (504, b"Gateway Timeout")
    assert time.monotonic() - t0 >= 0.35  # ws_handshake_timeout_ms=400 in the app


def test_trusted_host_and_rate_limit_apply_before_the_upgrade(serve):
    server = serve(APP, env={"TRUSTED": "good.example"})
    status, _, body = raw_handshake("127.0.0.1", server.port, handshake_bytes("/ws/proto", host="bad.example"))
    assert (status, body) == (400, b"Invalid Host")
    status, _, _ = raw_handshake("127.0.0.1", server.port, handshake_bytes("/ws/proto", host="good.example"))
    assert status == 101
    limited = serve(APP, env={"RATE": "2"})
    codes = [raw_handshake("127.0.0.1", limited.port, handshake_bytes("/ws/proto"))[0] for _ in range(4)]
    assert codes[:2] == [101, 101]
    assert 429 in codes[2:]


# --- close codes ---------------------------------------------------------------------------

def test_server_close_code_and_reason(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/closecode")) as ws:
            await ws.send("4001 bye now")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            return info.value.rcvd
    rcvd = run(go())
    assert (rcvd.code, rcvd.reason) == (4001, "bye now")


def test_close_reason_is_cut_to_123_bytes(app):
    ws = open_ws("127.0.0.1", app.port, "/ws/closecode")
    ws.send(frame(1, ("4000 " + "é" * 100).encode()))
    code, reason = ws.recv_close()
    assert code == 4000 and len(reason) <= 123
    assert reason.decode() == "é" * 61  # 122 bytes: no character cut in half
    ws.close()


def test_client_close_codes_reach_the_app(app):
    async def go(code):
        async with websockets.connect(uri(app, "/ws/client-close")) as ws:
            await ws.close(code=code, reason="x")
            return ws.close_code
    assert run(go(4002)) == 4002  # the echo carries the client's code
    ws = open_ws("127.0.0.1", app.port, "/ws/client-close")
    ws.send(frame(8, b""))  # empty close frame → the app sees 1000
    assert ws.recv_frame()[1] == 8
    ws.close()

    def logged():
        return [e for e in state(app)["log"] if e[0] == "'client-close'"]
    entries = wait_for(lambda: len(logged()) == 2 and logged())
    codes = sorted(json.loads(e[1].replace("'", '"'))["code"] for e in entries)
    assert codes == [1000, 4002]
    for e in entries:
        # The close dict once; asked again, WebSocketDisconnect with the same code.
        code = json.loads(e[1].replace("'", '"'))["code"]
        assert json.loads(e[2].replace("'", '"')) == {"raised": code}


def test_a_loop_that_ignores_the_close_ends_and_the_server_keeps_serving(app):
    # FastAPI's echo example: receive_text() gives None once, then raises WebSocketDisconnect,
    # which ends the handler quietly (no ws_handler_error); other requests are served meanwhile.
    async def go():
        async with websockets.connect(uri(app, "/ws/fastapi-echo")) as ws:
            await ws.send("hi")
            return await ws.recv()
    assert run(go()) == "Message text was: hi"
    for _ in range(3):
        assert app.client.get("/state", timeout=3).status_code == 200
    assert wait_for(lambda: "ws_handler_error" not in app.logs() and app.client.get("/state").status_code == 200)
    assert "ws_handler_error" not in app.logs()


def test_invalid_typed_parameters_refuse_the_handshake_with_403(app):
    async def go(path):
        async with websockets.connect(uri(app, path)) as ws:
            return json.loads(await ws.recv())
    assert run(go("/ws/typed/3?n=4")) == {"item_id": 3, "n": 4}
    for path in ("/ws/typed/x", "/ws/typed/3?n=abc"):
        with pytest.raises(InvalidStatus) as refused:
            run(go(path))
        assert refused.value.response.status_code == 403  # FastAPI: close 1008 before accept
    assert "ws_rejected" in app.logs() and "ws_handler_error" not in app.logs()


def test_handler_return_closes_1000_and_raise_closes_1011(app):
    async def go(path, send):
        async with websockets.connect(uri(app, path)) as ws:
            if send:
                await ws.send("x")
            got = []
            try:
                while True:
                    got.append(await ws.recv())
            except ConnectionClosed as exc:
                return got, exc.rcvd.code, exc.rcvd.reason
    assert run(go("/ws/returns", False)) == (["bye"], 1000, "")
    assert run(go("/ws/raise", True)) == ([], 1011, "Handler error")
    assert wait_for(lambda: "ws_handler_error" in app.logs() and "boom in handler" in app.logs())
    assert "in WS /ws/raise" in app.logs()  # the line names the route's path


def test_shutdown_sends_1001(serve):
    server = serve(APP)

    async def go():
        async with websockets.connect(uri(server, "/ws/echo")) as ws:
            await ws.send("x")
            await ws.recv()
            threading.Thread(target=server.stop).start()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            return info.value.rcvd.code
    assert run(go()) == 1001
    assert server.proc.wait(timeout=15) == 0
    assert "'echo-close', 1001" not in server.logs()  # sanity: state lives in the process


# --- keep-alive ----------------------------------------------------------------------------

def test_server_pings_and_pong_timeout_closes_1002(serve):
    server = serve(APP, env={"WS_PING_MS": "150", "WS_PONG_MS": "250"})
    ws = open_ws("127.0.0.1", server.port, "/ws/echo")
    t0 = time.monotonic()
    assert ws.recv_frame() == (True, 9, b"")  # empty keep-alive ping; never answered
    assert ws.recv_close()[0] == 1002
    assert time.monotonic() - t0 >= 0.2
    ws.close()
    assert wait_for(lambda: ["'echo-close'", "1002"] in state(server)["log"])

    async def polite():  # the websockets client answers pings: stays open
        async with websockets.connect(uri(server, "/ws/echo")) as c:
            await asyncio.sleep(1.0)
            await c.send("alive")
            return await c.recv()
    assert run(polite()) == "echo:alive"


# --- backpressure --------------------------------------------------------------------------

def _rss(server) -> int:
    return server.client.get("/rss").json()["rss_kib"]


def test_slow_reader_throttles_send_with_bounded_memory(app):
    n, size = 600, 64 * 1024  # 37.5 MiB offered to a client that does not read
    before = _rss(app)
    ws = open_ws("127.0.0.1", app.port, "/ws/slow")
    ws.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
    ws.send(frame(1, f"{n} {size}".encode()))
    time.sleep(1.5)
    stalled = state(app)["sent"]
    time.sleep(0.5)
    assert state(app)["sent"] == stalled, "send_* must wait while the client does not read"
    assert stalled < n // 2
    grown = _rss(app) - before
    assert grown < 48 * 1024, f"server grew {grown} KiB for a stalled client"
    got = 0
    while got < n:
        _fin, op, payload = ws.recv_frame()
        assert op == 2 and len(payload) == size
        got += 1
    assert wait_for(lambda: state(app)["slow_done"])
    ws.close()


def test_inbound_queue_bound_stops_reading(serve):
    server = serve(APP, env={"WS_QUEUE": "8"})
    ws = open_ws("127.0.0.1", server.port, "/ws/hold")
    total = 200
    msg = frame(2, b"m" * 16384)
    sender = threading.Thread(target=lambda: [ws.send(msg) for _ in range(total)], daemon=True)
    sender.start()
    time.sleep(1.0)
    stats = state(server)["stats"]
    assert stats["ws_messages_in"] == 8, stats["ws_messages_in"]  # exactly ws_queue_size
    assert server.client.get("/hold/release", params={"expect": total}).status_code == 200
    sender.join(10)
    fin, op, payload = ws.recv_frame()
    assert (op, payload) == (1, str(total).encode())
    ws.close()
    assert state(server)["stats"]["ws_messages_in"] == total


# --- rooms ---------------------------------------------------------------------------------

def test_room_protocol_pinned(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/room")) as ws:
            assert json.loads(await ws.recv()) == {"event": "connected"}
            await ws.send("join:alpha")
            assert json.loads(await ws.recv()) == {"event": "joined", "room": "alpha"}
            await ws.send("say:hello")
            assert json.loads(await ws.recv()) == {"event": "message", "room": "alpha", "text": "hello"}
            await ws.send("stats")
            stats = json.loads(await ws.recv())
            assert stats["event"] == "stats"
            assert stats["data"]["connections"] >= 1 and stats["data"]["rooms"]["alpha"] >= 1
    run(go())


def test_thousand_connections_broadcast_reaches_exactly_its_room(app):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))
    rooms, per_room = 10, 100

    async def go():
        conns = []
        for i in range(rooms * per_room):
            ws = await websockets.connect(uri(app, "/ws/room"), open_timeout=30, ping_interval=None)
            assert json.loads(await ws.recv()) == {"event": "connected"}
            conns.append((f"r{i % rooms}", ws))
        await asyncio.gather(*(ws.send(f"join:{room}") for room, ws in conns))
        for _room, ws in conns:
            assert json.loads(await ws.recv())["event"] == "joined"
        stats = app.client.get("/state").json()["manager"]
        assert stats["connections"] == rooms * per_room
        assert stats["rooms"] == {f"r{i}": per_room for i in range(rooms)}
        speaker = next(ws for room, ws in conns if room == "r3")
        await speaker.send("say:hello r3")
        received = {}

        async def drain(room, ws):
            try:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 1.5))
                    received.setdefault(room, []).append(msg)
            except asyncio.TimeoutError:
                pass
        await asyncio.gather(*(drain(room, ws) for room, ws in conns))
        await asyncio.gather(*(ws.close() for _room, ws in conns))
        return received
    received = run(go())
    assert list(received) == ["r3"]
    assert len(received["r3"]) == per_room
    assert all(m == {"event": "message", "room": "r3", "text": "hello r3"} for m in received["r3"])
    assert wait_for(lambda: state(app)["manager"] == {"connections": 0, "rooms": {}}, 10)
    stats = state(app)["stats"]
    assert stats["ws_handoffs"] >= rooms * per_room
    assert wait_for(lambda: state(app)["stats"]["ws_tasks_active"] == 0, 10)


def test_a_member_that_stops_reading_does_not_stall_a_broadcast(app):
    """Three listeners, one of which stops reading: 100 broadcasts of 256 KiB. The two readers get
    every message; the stalled member is waited for `send_timeout` (1 s) once, then dropped, and
    no broadcast waits longer (before: every broadcast stalled behind it until send_timeout_ms)."""
    async def go():
        conns = [await websockets.connect(uri(app, "/ws/listen"), max_size=None, max_queue=None,
                                          ping_interval=None) for _ in range(3)]
        # connect() registers a member right after its accept: wait until all three are in
        assert wait_for(lambda: state(app)["listeners"] == 3, 5)
        stalled = conns[0]
        stalled.transport.pause_reading()
        counts = [0, 0]

        async def read(i, ws):
            async for _msg in ws:
                counts[i] += 1

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(conns[1:])]
        took = []
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(100):
                r = await client.post(app.url("/broadcast/262144"))
                assert r.status_code == 200, r.text
                took.append(r.json())
        await asyncio.sleep(0.5)
        for task in readers:
            task.cancel()
        for ws in conns:
            ws.transport.abort()
        return counts, took
    counts, took = run(go())
    assert counts == [100, 100]
    assert max(t["took"] for t in took) < 2.5, took
    assert took[-1]["connections"] == 2  # the stalled member was dropped


@pytest.mark.parametrize("bad", ["x", -1, 0, True])
def test_connection_manager_send_timeout_is_checked(bad):
    from viperhttp import ConnectionManager

    with pytest.raises(ValueError, match="send_timeout must be"):
        ConnectionManager(send_timeout=bad)
    assert ConnectionManager(send_timeout=None).send_timeout is None


@pytest.mark.parametrize("name, value, error", [
    ("ws_queue_size", 0, "ValueError: ws_queue_size out of range"),
    ("ws_queue_size", 65536, "ValueError: ws_queue_size out of range"),
    ("ws_max_message_size", 0, "ValueError: ws_max_message_size out of range"),
    ("ws_pong_timeout_ms", 0, "ValueError: ws_pong_timeout_ms out of range"),
    ("ws_handshake_timeout_ms", 0, "ValueError: ws_handshake_timeout_ms out of range"),
    ("ws_ping_interval_ms", -1, "ValueError: ws_ping_interval_ms out of range"),
    ("ws_queue_size", "8", "TypeError"),
])
def test_bad_ws_settings_are_refused_before_binding(name, value, error):
    import subprocess
    import sys
    script = ("import viperhttp, viperhttp_bridge\n"
              "app = viperhttp.ViperHTTP()\n"
              f"viperhttp_bridge.run(app, port=0, host='127.0.0.1', wifi=False, {name}={value!r})\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert error in proc.stderr, proc.stderr


# --- examples/websocket_chat.py -------------------------------------------------------------

def test_example_websocket_chat(serve):
    server = serve("examples/websocket_chat.py")

    async def go():
        async with websockets.connect(uri(server, "/chat/lobby")) as a, \
                websockets.connect(uri(server, "/chat/lobby")) as b, \
                websockets.connect(uri(server, "/chat/other")) as c:
            assert json.loads(await a.recv())["event"] == "joined"
            assert json.loads(await b.recv()) == {"event": "joined", "members": 2}
            assert json.loads(await c.recv()) == {"event": "joined", "members": 1}
            assert server.client.get("/rooms").json() == {"connections": 3, "rooms": {"lobby": 2, "other": 1}}
            await a.send("hello")
            for ws in (a, b):
                assert json.loads(await ws.recv()) == {"room": "lobby", "text": "hello"}
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv(), 0.3)
    run(go())
    assert wait_for(lambda: server.client.get("/rooms").json() == {"connections": 0, "rooms": {}})
    r = server.client.get("/clock", params={"count": "2"}, headers={"Last-Event-ID": "41"})
    assert r.content == (b"retry: 2000\n\n"
                         b'event: tick\nid: 42\ndata: {"n":42}\n\n'
                         b'event: tick\nid: 43\ndata: {"n":43}\n\n')
    assert server.stop() == 0


# --- low-level functions (tests/apps/ws_manual_bridge.py) -----------------------------------

def test_low_level_functions_and_poll_request_dicts(serve):
    server = serve("apps/ws_manual_bridge.py")

    async def go():
        async with websockets.connect(uri(server, "/low?x=1"), subprotocols=["p1"]) as ws:
            assert ws.subprotocol == "p1"
            await ws.send(b"\x00bin")
            binary = json.loads(await ws.recv())
            await ws.send("txt")
            text = json.loads(await ws.recv())
            await ws.send("close")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            return binary, text, info.value.rcvd
    binary, text, rcvd = run(go())
    conn_id = binary["msg"]["conn_id"]
    assert binary["msg"] == {"type": "ws_msg", "conn_id": conn_id, "opcode": 2, "final": True,
                             "data": "\x00bin"}
    assert text["msg"]["opcode"] == 1 and text["msg"]["data"] == "txt"
    assert binary["connect"] == {"type": "ws_connect", "conn_id": conn_id, "path": "/low?x=1",
                                 "request": {"method": "WS", "path": "/low", "query": "x=1"}}
    assert (rcvd.code, rcvd.reason) == (4005, "done")
    status, head, body = raw_handshake("127.0.0.1", server.port, handshake_bytes("/low-reject"))
    assert (status, body) == (418, b"teapot")
    assert server.stop() == 0


def test_bad_calls_raise_typed_errors(app):
    async def go():
        async with websockets.connect(uri(app, "/ws/errors")) as ws:
            return json.loads(await ws.recv())
    assert run(go()) == [
        "ValueError: opcode must be 0, 1, 2, 9 or 10 (close goes through close())",
        "ValueError: opcode must be 0, 1, 2, 9 or 10 (close goes through close())",
        "TypeError: data must be str/bytes",
        "ValueError: ping/pong payload must be <= 125 bytes and final",
        "ok",  # accept() on an accepted socket is a no-op, whatever the argument
        "ValueError: invalid close code",
        "TypeError: data must be str/bytes",
        "TypeError: body must be str/bytes",
        "ValueError: invalid close code",
    ]


def test_keepalive_waits_while_reading_is_paused_for_the_app(serve):
    # Queue of 1, pings every 100 ms with 100 ms to answer: while the app takes nothing the
    # runtime cannot read the client's pongs, so it must not count them as missing.
    server = serve(APP, env={"WS_QUEUE": "1", "WS_PING_MS": "100", "WS_PONG_MS": "100"})

    async def go():
        async with websockets.connect(uri(server, "/ws/hold")) as ws:
            for _ in range(5):
                await ws.send(b"m")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.client.get, "/hold/release", params={"expect": 5})
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "5"

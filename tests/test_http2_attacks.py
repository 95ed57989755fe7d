"""HTTP/2 attacks are bounded (docs/internals/tls-http2.md, "Attacks"): rapid reset, CONTINUATION
floods, SETTINGS and PING floods, HPACK bombs and slow readers. After each, the server answers
a fresh request at once."""
from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from support.h2raw import close_raw_h2_connections  # noqa: F401 (autouse fixture)
from support import h2raw
from support.h2raw import RawH2

APP = "apps/tls_app.py"


def start(serve, **kw):
    return serve(APP, env={"TLS_KW": json.dumps({"http2": True, **kw})})


def fresh_request_is_quick(port: int) -> None:
    t0 = time.monotonic()
    with httpx.Client(http1=False, http2=True, timeout=5) as c:
        assert c.get(f"http://127.0.0.1:{port}/hello").status_code == 200
    assert time.monotonic() - t0 < 3


def stats(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=10).json()["server"]


def hits(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/hits", timeout=10).json()["count"]


def send_until_closed(c: RawH2, chunks, limit_bytes: int) -> int:
    """Send chunks until the server stops reading/closes or `limit_bytes` went out."""
    sent = 0
    c.sock.settimeout(5)
    try:
        for chunk in chunks:
            c.sock.sendall(chunk)
            sent += len(chunk)
            if sent >= limit_bytes:
                break
    except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError, OSError):
        pass
    return sent


def test_rapid_reset_does_not_run_a_handler_per_cancelled_stream(serve):
    srv = start(serve)
    c = RawH2(srv.port)
    n = 500
    batch = b""
    for i in range(n):
        sid = 1 + 2 * i
        batch += c.headers_frame(sid, h2raw.request_headers("/hit")) + h2raw.rst_stream(sid, h2raw.CANCEL)
    send_until_closed(c, [batch[i:i + 16384] for i in range(0, len(batch), 16384)], len(batch))
    c.wait_goaway_or_close(timeout=3)
    fresh_request_is_quick(srv.port)
    time.sleep(0.3)  # anything that did reach Python has run by now
    ran = hits(srv.port)
    assert ran <= n // 20, f"{ran} of {n} reset streams ran the handler"
    goaway = c.goaway()
    if goaway is not None:  # h2's own limit on streams reset before they were accepted
        assert goaway.error_code in (h2raw.ENHANCE_YOUR_CALM, h2raw.NO_ERROR)


def test_continuation_flood_is_cut_off(serve):
    srv = start(serve)
    c = RawH2(srv.port)
    c.send(c.headers_frame(1, h2raw.request_headers("/hello"), end_headers=False))
    # Literal header field without indexing, new name: 0x00, len, name, len, value.
    field = b"\x00\x05x-big" + b"\x7f" + _varint(256 - 127) + b"v" * 256
    payload = field * 60
    cont = h2raw.frame(h2raw.CONTINUATION, 0, 1, payload)
    sent = send_until_closed(c, (cont for _ in range(10_000)), 64 * 1024 * 1024)
    assert sent < 64 * 1024 * 1024, "the server kept reading an endless header block"
    goaway = c.wait_goaway_or_close(timeout=5)
    assert goaway is not None or c.closed
    assert 1 not in c.streams or c.streams[1].status != 200
    fresh_request_is_quick(srv.port)


def test_continuation_guard_frame_on_another_stream_is_a_protocol_error(serve):
    srv = start(serve)
    before = stats(srv.port)
    c = RawH2(srv.port)
    c.send(c.headers_frame(1, h2raw.request_headers("/hello"), end_headers=False))
    c.send(h2raw.frame(h2raw.DATA, 0, 3, b"x"))
    goaway = c.wait_goaway_or_close(timeout=5)
    assert goaway is not None and goaway.error_code == h2raw.PROTOCOL_ERROR
    time.sleep(0.2)
    after = stats(srv.port)
    assert after["http2_goaway_sent"] > before["http2_goaway_sent"]
    assert after["http2_err_protocol"] > before["http2_err_protocol"]
    fresh_request_is_quick(srv.port)


@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_settings_and_ping_floods_are_bounded(serve, kind):
    srv = start(serve)
    c = RawH2(srv.port)
    one = (h2raw.settings((h2raw.S_INITIAL_WINDOW_SIZE, 65535)) if kind == "settings"
           else h2raw.ping(b"floodpin"))
    burst = one * 4096
    # The client never reads: the server must not queue answers without bound. It either
    # stops reading (TCP backpressure) or ends the connection.
    t0 = time.monotonic()
    sent = send_until_closed(c, (burst for _ in range(2000)), 512 * 1024 * 1024)
    assert sent < 512 * 1024 * 1024 or time.monotonic() - t0 < 60
    c.sock.settimeout(0.5)
    fresh_request_is_quick(srv.port)
    c.close()
    fresh_request_is_quick(srv.port)


def test_hpack_bomb_is_refused(serve):
    srv = start(serve)
    c = RawH2(srv.port)
    # Stream 1: insert one 4 KiB header into the dynamic table (literal with incremental
    # indexing, new name).
    big = b"b" * 4000
    name = b"x-bomb"
    insert = b"\x40" + bytes([len(name)]) + name + b"\x7f" + _varint(len(big) - 127) + big
    base = c.encoder.encode(h2raw.request_headers("/hello"))
    c.send(h2raw.frame(h2raw.HEADERS, h2raw.END_STREAM | h2raw.END_HEADERS, 1, base + insert))
    # Stream 3: reference that entry (index 62 → one byte 0xbe) 4000 times: ~16 MB decoded.
    pseudo = b"".join(b"\x00" + bytes([len(k)]) + k + bytes([len(v)]) + v for k, v in
                      ((b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/hello"), (b":authority", b"x")))
    bomb = pseudo + b"\xbe" * 4000
    c.send(h2raw.frame(h2raw.HEADERS, h2raw.END_STREAM | h2raw.END_HEADERS, 3, bomb))
    c.until(lambda c: c.stream_done(3) or c.goaway() is not None or c.closed, timeout=5)
    st = c.streams.get(3)
    refused = (c.goaway() is not None or c.closed or (st is not None and (st.reset is not None or st.status == 431)))
    assert refused, st
    fresh_request_is_quick(srv.port)


def _varint(n: int) -> bytes:
    out = b""
    while n >= 128:
        out += bytes([(n % 128) + 128])
        n //= 128
    return out + bytes([n])


@pytest.mark.parametrize("path", ["/stream?n=200&size=1000", "/big?n=500000"])
def test_slow_reader_holding_the_window_at_zero_is_closed(serve, path):
    srv = start(serve, send_timeout_ms=800)
    before = stats(srv.port)["http2_stall_closed"]
    c = RawH2(srv.port, client_settings=[(h2raw.S_INITIAL_WINDOW_SIZE, 0)])
    c.request(1, path)
    t0 = time.monotonic()
    assert c.until(lambda c: c.closed, timeout=15), "a reader that never opens its window kept the connection"
    assert time.monotonic() - t0 < 10
    assert not c.stream_done(1) or c.streams[1].reset is not None
    assert stats(srv.port)["http2_stall_closed"] == before + 1
    fresh_request_is_quick(srv.port)


def test_slow_reader_not_reading_the_socket_is_closed(serve):
    srv = start(serve, send_timeout_ms=800)
    c = RawH2(srv.port, client_settings=[(h2raw.S_INITIAL_WINDOW_SIZE, 2**31 - 1)])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(h2raw.window_update(0, 2**31 - 1 - 65535))
    c.request(1, "/stream?n=2000&size=4096")  # 8 MB the client never reads
    time.sleep(4)
    # Reading now: the server gave up — the stream never completes.
    c.until(lambda c: c.closed, timeout=20)
    assert c.closed and not (c.stream_done(1) and c.streams[1].reset is None)
    fresh_request_is_quick(srv.port)

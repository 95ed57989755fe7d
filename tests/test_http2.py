"""HTTP/2 (docs/internals/tls-http2.md) over TLS (ALPN `h2`) and in cleartext (prior knowledge):
every route kind answers as over HTTP/1.1, concurrent and interleaved streams, request
bodies across DATA frames, flow control and backpressure, stream reset, limits, GOAWAY on
shutdown, the idle timeout, and `http2=False` refusing a preface."""
from __future__ import annotations

import gzip
import json
import signal
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from support.h2raw import close_raw_h2_connections  # noqa: F401 (autouse fixture)
from support import h2raw
from support.h2raw import RawH2
from support.tls_certs import make_cert

APP = "apps/tls_app.py"
TRANSPORTS = ["h2c", "tls"]


class H2Server:
    """A started tls_app with HTTP/2 on, and clients for it."""

    def __init__(self, serve, tmp_path: Path, transport: str, **kw) -> None:
        self.transport = transport
        self.cert = make_cert()
        static = tmp_path / "static"
        static.mkdir(exist_ok=True)
        (static / "a.txt").write_text("0123456789" * 100)  # 1000 bytes
        (static / "big.txt").write_text("hello static gzip\n" * 400)
        run_kw = {"http2": True, **kw}
        if transport == "tls":
            cert, key = self.cert.write(tmp_path)
            run_kw.update(https=True, tls_cert_path=str(cert), tls_key_path=str(key))
        self.srv = serve(APP, env={"TLS_KW": json.dumps(run_kw), "STATIC_DIR": str(static)})
        self.port = self.srv.port
        self.scheme = "https" if transport == "tls" else "http"
        self.base = f"{self.scheme}://localhost:{self.port}"

    def h2_client(self) -> httpx.Client:
        verify = self.cert.client_context() if self.transport == "tls" else True
        # Cleartext: prior knowledge (no HTTP/1.1 allowed); TLS: ALPN.
        return httpx.Client(http1=False, http2=True, verify=verify, timeout=10, base_url=self.base)

    def h1_client(self) -> httpx.Client:
        verify = self.cert.client_context() if self.transport == "tls" else True
        return httpx.Client(verify=verify, timeout=10, base_url=self.base)

    def raw(self, **kw) -> RawH2:
        tls = self.cert.client_context(["h2"]) if self.transport == "tls" else None
        return RawH2(self.port, tls=tls, **kw)

    def stats(self) -> dict:
        with self.h1_client() as c:
            return c.get("/stats").json()["server"]

    def h2lib(self, settings: "dict | None" = None):
        """A socket and an `h2` library connection (preface and SETTINGS sent)."""
        raw = self.raw(preface=False)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        if settings:
            conn.update_settings(settings)
        raw.send(conn.data_to_send())
        return raw, conn


@pytest.fixture(params=TRANSPORTS)
def h2srv(request, serve, tmp_path):
    return H2Server(serve, tmp_path, request.param)


def req(path, method="GET", **kw):
    return (method, path, kw)


PARITY = [
    req("/hello"), req("/text"), req("/items/5"), req("/items/abc"), req("/boom"), req("/teapot"),
    req("/nope"), req("/hello", "POST"), req("/hello", "HEAD"),
    req("/echo", "POST", content=b"payload bytes"),
    req("/stream?n=4&size=1000"), req("/astream"),
    req("/static/a.txt"), req("/static/a.txt", headers={"range": "bytes=10-19"}),
    req("/static/big.txt", headers={"accept-encoding": "gzip"}),
    req("/static/missing.txt"),
    req("/hello", headers={"origin": "https://app.example"}),
    req("/hello", headers={"origin": "https://evil.example"}),
    req("/hello", "OPTIONS", headers={"origin": "https://app.example", "access-control-request-method": "GET"}),
    req("/hello", "OPTIONS", headers={"origin": "https://evil.example", "access-control-request-method": "GET"}),
]
COMPARED = ["content-type", "content-encoding", "etag", "last-modified", "content-range", "accept-ranges",
            "allow", "access-control-allow-origin", "access-control-allow-methods", "vary", "cache-control"]


def test_every_route_kind_answers_the_same_over_http2_as_over_http11(h2srv):
    with h2srv.h1_client() as h1, h2srv.h2_client() as h2c:
        for method, path, kw in PARITY:
            a = h1.request(method, path, **kw)
            b = h2c.request(method, path, **kw)
            assert a.http_version == "HTTP/1.1" and b.http_version == "HTTP/2", path
            assert (b.status_code, b.content) == (a.status_code, a.content), (method, path, kw)
            for name in COMPARED:
                assert b.headers.get(name) == a.headers.get(name), (method, path, name)
            assert "connection" not in b.headers  # not an HTTP/2 field
        # The gzip and conditional paths were really taken.
        gz = h2c.get("/static/big.txt", headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip"
        etag = h2c.get("/static/a.txt").headers["etag"]
        assert h2c.get("/static/a.txt", headers={"if-none-match": etag}).status_code == 304
        assert h2c.get("/static/a.txt", headers={"range": "bytes=10-19"}).status_code == 206
        info = h2c.get("/info").json()
        assert info["http_version"] == "2" and info["scheme"] == h2srv.scheme
        assert info["host"] == f"localhost:{h2srv.port}"  # :authority becomes Host for the app
    s = h2srv.stats()
    assert s["http2_enabled"] is True and s["http2_preface_seen"] >= 1


def test_interleaved_concurrent_streams_all_finish(h2srv):
    c = h2srv.raw()
    # Three GETs back to back, one slow: the fast ones are not held behind it.
    c.request(1, "/slow?ms=400")
    c.request(3, "/hello")
    c.request(5, "/items/7")
    assert c.until(lambda c: all(c.stream_done(s) for s in (1, 3, 5)))
    order = [f.stream for f in c.frames if f.type == h2raw.HEADERS]
    assert order.index(3) < order.index(1) and order.index(5) < order.index(1)
    assert [c.streams[s].status for s in (1, 3, 5)] == [200, 200, 200]
    assert json.loads(c.streams[5].data)["item_id"] in (7, "7")
    c.close()


def test_post_body_split_across_data_frames_with_another_stream_between(h2srv):
    c = h2srv.raw()
    c.send(c.headers_frame(1, h2raw.request_headers("/echo", "POST", scheme=c.scheme), end_stream=False))
    c.send(h2raw.frame(h2raw.DATA, 0, 1, b"hel"))
    c.request(3, "/hello")
    assert c.until(lambda c: c.stream_done(3))
    c.send(h2raw.frame(h2raw.DATA, h2raw.END_STREAM, 1, b"lo"))
    assert c.until(lambda c: c.stream_done(1))
    assert c.streams[1].status == 200 and c.streams[1].data == b"hello"
    assert c.streams[3].status == 200
    c.close()


def test_tiny_client_window_limits_data_until_window_update(h2srv):
    c = h2srv.raw(client_settings=[(h2raw.S_INITIAL_WINDOW_SIZE, 64)])
    c.request(1, "/stream?n=5&size=100")  # 500 bytes, streamed
    # Only the window's worth arrives; then nothing more.
    c.until(lambda c: len(c.streams.get(1, h2raw.Stream()).data) >= 64, timeout=5)
    time.sleep(0.5)
    c.until(lambda c: False, timeout=0.3)
    assert len(c.streams[1].data) == 64 and not c.streams[1].ended
    c.send(h2raw.window_update(0, 1000) + h2raw.window_update(1, 1000))
    assert c.until(lambda c: c.stream_done(1))
    assert c.streams[1].data == b"".join(str(i).encode() * 100 for i in range(5))
    c.close()


def test_window_update_resumes_a_large_full_response(h2srv):
    raw, conn = h2srv.h2lib({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", raw.scheme), (":path", "/big?n=300000"),
                            (":authority", "localhost")], end_stream=True)
    raw.send(conn.data_to_send())
    body, ended, deadline = b"", False, time.monotonic() + 20
    while not ended and time.monotonic() < deadline:
        raw.sock.settimeout(5)
        data = raw.sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
        raw.send(conn.data_to_send())
    assert ended and body == b"x" * 300000
    raw.close()


def test_stream_reset_leaves_the_connection_usable(h2srv):
    c = h2srv.raw()
    c.request(1, "/slow?ms=3000")
    time.sleep(0.2)
    c.send(h2raw.rst_stream(1, h2raw.CANCEL))
    c.request(3, "/hello")
    assert c.until(lambda c: c.stream_done(3), timeout=5)
    assert c.streams[3].status == 200
    assert not c.stream_done(1) or c.streams[1].status is None  # no answer for the reset stream
    c.close()


def test_streams_past_max_streams_are_refused(serve, tmp_path):
    srv = H2Server(serve, tmp_path, "h2c", http2_max_streams=2)
    c = srv.raw()
    assert c.until(lambda c: any(f.type == h2raw.SETTINGS for f in c.frames))
    server_settings = next(f for f in c.frames if f.type == h2raw.SETTINGS).payload
    pairs = {int.from_bytes(server_settings[i:i + 2], "big"): int.from_bytes(server_settings[i + 2:i + 6], "big")
             for i in range(0, len(server_settings), 6)}
    assert pairs.get(h2raw.S_MAX_CONCURRENT_STREAMS) == 2
    for sid in (1, 3, 5):
        c.request(sid, "/slow?ms=800")
    assert c.until(lambda c: all(c.stream_done(s) for s in (1, 3, 5)))
    assert c.streams[5].reset == h2raw.REFUSED_STREAM
    assert c.streams[1].status == 200 and c.streams[3].status == 200
    c.close()


def test_goaway_on_shutdown_after_in_flight_streams_finish(h2srv):
    c = h2srv.raw()
    c.request(1, "/slow?ms=1200")
    time.sleep(0.3)
    h2srv.srv.proc.send_signal(signal.SIGTERM)
    assert c.until(lambda c: c.goaway() is not None, timeout=5)
    assert c.goaway().error_code == h2raw.NO_ERROR
    assert c.until(lambda c: c.stream_done(1), timeout=10)
    assert c.streams[1].status == 200 and json.loads(c.streams[1].data) == {"slept": 1200}
    c.until(lambda c: c.closed, timeout=10)
    assert c.closed
    assert h2srv.srv.proc.wait(timeout=15) == 0


@pytest.mark.parametrize("pinging", [False, True])
def test_idle_connection_gets_goaway_and_closes(serve, tmp_path, pinging):
    """Idle means no stream since the last one ended: a client that pings every 100 ms gets
    its GOAWAY all the same (pings used to keep the connection open forever)."""
    srv = H2Server(serve, tmp_path, "h2c", http2_idle_timeout_ms=400)
    c = srv.raw()
    c.request(1, "/hello")
    assert c.until(lambda c: c.stream_done(1))
    t0 = time.monotonic()
    while pinging and c.goaway() is None and not c.closed and time.monotonic() - t0 < 8:
        c.send(h2raw.ping())
        c.read_frame(0.1)
    assert c.until(lambda c: c.closed, timeout=10)
    assert 0.3 < time.monotonic() - t0 < 8
    assert c.goaway() is not None and c.goaway().error_code == h2raw.NO_ERROR


def test_connections_without_a_stream_give_their_slot_back_near_max_connections(serve, tmp_path):
    """Near `max_connections` (as HTTP/1.1 keep-alive is dropped there) an HTTP/2 connection
    with no stream in progress gets GOAWAY at once: preface-only connections held every slot
    and a new client waited for the idle timeout."""
    srv = H2Server(serve, tmp_path, "h2c", max_connections=20, http2_idle_timeout_ms=60000)
    held = [srv.raw() for _ in range(20)]
    for c in held:
        assert c.until(lambda c: c.goaway() is not None or c.closed, timeout=5), "no GOAWAY"
    with srv.h1_client() as client:
        assert client.get("/hello", timeout=5).status_code == 200


def test_limits_apply_per_stream_at_and_past_the_boundary(serve, tmp_path):
    srv = H2Server(serve, tmp_path, "h2c", max_uri_len=64, max_headers=10, max_body_size=1000)
    with srv.h2_client() as c:
        at = "/items/1?" + "a" * (64 - len("/items/1?"))
        assert len(at) == 64
        assert c.get(at).status_code == 200
        assert c.get(at + "a").status_code == 414
        # httpx adds accept, accept-encoding, user-agent (3 fields).
        assert c.get("/hello", headers={f"x-h{i}": "v" for i in range(7)}).status_code == 200
        assert c.get("/hello", headers={f"x-h{i}": "v" for i in range(8)}).status_code == 431
        assert c.post("/echo", content=b"a" * 1000).content == b"a" * 1000
        assert c.post("/echo", content=b"a" * 1001).status_code == 413
        # The connection survives each refusal.
        assert c.get("/hello").status_code == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_answer_given_without_reading_the_body_arrives_whole(serve, tmp_path, transport):
    """A 413 (declared length past the limit) and a 404 for a POST whose body the client is
    still sending: the answer's DATA arrives before any reset. Dropping the unread body made
    h2 reset the stream (NO_ERROR) with the DATA still queued: the client got the head alone
    (httpx: LocalProtocolError, curl: exit 92). The body is drained instead
    (docs/internals/tls-http2.md)."""
    srv = H2Server(serve, tmp_path, transport, max_body_size=1000)
    big = b"x" * 3_000_000
    with srv.h2_client() as c:
        for _ in range(2):
            r = c.post("/echo", content=big)
            assert (r.status_code, r.content) == (413, b"Payload Too Large")
            r = c.post("/nope", content=big)
            assert (r.status_code, r.content) == (404, b"Not Found")
        assert c.get("/hello").status_code == 200  # the connection is still usable


def test_204_and_304_carry_no_content_even_when_the_app_gave_some(h2srv):
    """HEADERS with END_STREAM, no DATA, no `content-length` (RFC 9110 §15.3.5, §15.3.6,
    §15.4.5), as hyper's HTTP/1.1 writer does; curl and nghttp2 refuse a 204 with content as
    malformed. A 205 likewise, over HTTP/1.1 too."""
    raw = h2srv.raw()
    raw.request(1, "/gone", "DELETE")
    raw.request(3, "/unchanged")
    raw.request(5, "/form-reset", "POST")
    assert raw.until(lambda c: c.stream_done(1) and c.stream_done(3) and c.stream_done(5))
    for sid, status in ((1, 204), (3, 304), (5, 205)):
        st = raw.streams[sid]
        assert st.status == status and st.ended and st.reset is None
        assert st.data == b"" and "content-length" not in dict(st.headers)
    assert not [f for f in raw.frames if f.type == h2raw.DATA and f.stream in (1, 3, 5)]
    with h2srv.h1_client() as c:  # the same answers over HTTP/1.1
        r = c.delete("/gone")
        assert (r.status_code, r.content, r.headers.get("content-length")) == (204, b"", None)
        r = c.post("/form-reset")  # hyper drops 204/304 content itself, not 205's
        assert (r.status_code, r.content) == (205, b"") and r.headers.get("content-length") in (None, "0")


def test_asterisk_options_host_headers_and_padded_values(h2srv):
    """`OPTIONS *` answers as over HTTP/1.1; a second `host`, or one that differs from
    `:authority`, is 400 (over HTTP/1.1 two Hosts are; the trusted-host check read only the
    first of the joined value); response values lose surrounding spaces (RFC 9113 §8.2.1:
    nghttp2 peers refuse them)."""
    raw = h2srv.raw()
    auth = f"localhost:{h2srv.port}"
    raw.send(raw.headers_frame(1, h2raw.request_headers("*", "OPTIONS", auth, scheme=raw.scheme)))
    raw.send(raw.headers_frame(3, h2raw.request_headers("/hello", "GET", auth, scheme=raw.scheme,
                                                        extra=[("host", auth), ("host", "evil.example")])))
    raw.send(raw.headers_frame(5, h2raw.request_headers("/hello", "GET", auth, scheme=raw.scheme,
                                                        extra=[("host", "evil.example")])))
    raw.send(raw.headers_frame(7, h2raw.request_headers("/hello", "GET", auth, scheme=raw.scheme,
                                                        extra=[("host", auth.upper())])))
    raw.send(raw.headers_frame(9, h2raw.request_headers("/padded", "GET", auth, scheme=raw.scheme)))
    assert raw.until(lambda c: all(c.stream_done(s) for s in (1, 3, 5, 7, 9)))
    opts = raw.streams[1]
    assert opts.status == 204 and "GET" in dict(opts.headers)["allow"]
    assert raw.streams[3].status == 400 and raw.streams[5].status == 400
    assert raw.streams[7].status == 200  # the same authority in another case
    assert dict(raw.streams[9].headers)["x-sp"] == "padded"


def test_http2_off_answers_a_preface_with_http_1_1_required(serve, tmp_path):
    srv = serve(APP)
    c = RawH2(srv.port)
    assert c.until(lambda c: c.goaway() is not None or c.closed, timeout=5)
    kinds = [f.type for f in c.frames]
    assert kinds[:2] == [h2raw.SETTINGS, h2raw.GOAWAY]
    settings = c.frames[0].payload
    assert settings == bytes([0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0])  # HEADER_TABLE_SIZE=0, ENABLE_PUSH=0
    assert c.goaway().error_code == h2raw.HTTP_1_1_REQUIRED
    assert c.until(lambda c: c.closed, timeout=5)
    # HTTP/1.1 is still served on the same port, and the refusal was counted.
    s = httpx.get(f"http://127.0.0.1:{srv.port}/stats", timeout=10).json()["server"]
    assert s["http2_err_http11_required"] == 1 and s["http2_enabled"] is False


def test_gzip_body_over_http2_decodes(h2srv):
    with h2srv.h2_client() as c:
        r = c.get("/static/big.txt", headers={"accept-encoding": "gzip"})
        assert r.text == "hello static gzip\n" * 400  # httpx decoded it
        raw = c.build_request("GET", "/static/big.txt", headers={"accept-encoding": "gzip"})
        resp = c.send(raw, stream=True)
        data = b"".join(resp.iter_raw())
        resp.close()
        assert gzip.decompress(data) == ("hello static gzip\n" * 400).encode()


def _upgrade(port: int, settings_value: "str | None" = None, path: str = "/info"):
    """Send an h2c upgrade request; returns (socket, h2 connection, HTTP/1.1 answer head)."""
    import socket as socketlib

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    header = conn.initiate_upgrade_connection()
    value = settings_value if settings_value is not None else header.decode()
    sock = socketlib.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  f"Upgrade: h2c\r\nHTTP2-Settings: {value}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, conn, head


def test_h2c_upgrade_answers_the_request_on_stream_1_and_serves_stream_3(serve, tmp_path):
    srv = H2Server(serve, tmp_path, "h2c")
    sock, conn, head = _upgrade(srv.port)
    try:
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"upgrade: h2c" in head.lower() and b"connection: upgrade" in head.lower()
        rest = head.split(b"\r\n\r\n", 1)[1]
        sock.sendall(conn.data_to_send())  # preface + SETTINGS
        conn.send_headers(3, [(":method", "GET"), (":scheme", "http"), (":path", "/hello"),
                              (":authority", "localhost")], end_stream=True)
        sock.sendall(conn.data_to_send())
        bodies, status, ended = {1: b"", 3: b""}, {}, set()
        events = conn.receive_data(rest) if rest else []
        deadline = time.monotonic() + 10
        while ended != {1, 3} and time.monotonic() < deadline:
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    status[ev.stream_id] = dict(ev.headers)[":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
            sock.sendall(conn.data_to_send())
            if ended == {1, 3}:
                break
            data = sock.recv(65536)
            if not data:
                break
            events = conn.receive_data(data)
        assert status == {1: "200", 3: "200"}
        assert json.loads(bodies[1])["http_version"] == "2"  # the upgrading request, answered over HTTP/2
        assert json.loads(bodies[3]) == {"message": "Hello, World!"}
    finally:
        sock.close()


@pytest.mark.parametrize("value", ["!!!notbase64", "AAMAAA", "A" * 516])
def test_h2c_upgrade_with_malformed_settings_is_400(serve, tmp_path, value):
    srv = H2Server(serve, tmp_path, "h2c")
    sock, _, head = _upgrade(srv.port, value)
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 ")


def test_h2c_upgrade_settings_at_the_length_limit_are_accepted(serve, tmp_path):
    srv = H2Server(serve, tmp_path, "h2c")
    value = "AAMAAABk" * 64  # 512 characters, 64 entries
    sock, _, head = _upgrade(srv.port, value)
    sock.close()
    assert head.startswith(b"HTTP/1.1 101 ")


def test_h2c_upgrade_is_ignored_when_http2_is_off(serve, tmp_path):
    srv = serve(APP)
    sock, _, head = _upgrade(srv.port)
    sock.close()
    assert head.startswith(b"HTTP/1.1 200 ")

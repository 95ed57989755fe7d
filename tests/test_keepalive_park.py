"""Parked keep-alive connections (docs/internals/http.md, "Parked connections"): an HTTP/1.1
connection idle between requests for longer than the park delay (50 ms) gives its hyper state
back and waits for the socket with no buffer. Every test waits past that delay, checks through
the `connections_parked` gauge that the connection really was parked, and then checks what the
client sees: the next requests served (whole, pipelined, split), the keep-alive timeout,
eviction at max_connections, the server's stop, WebSocket upgrades, HTTPS.
"""
from __future__ import annotations

import json
import signal
import socket
import ssl
import time

import httpx

from support.fds import raise_fd_limit
from support.http1 import RawConn
from support.tls_certs import make_cert
from support.ws_raw import RawWs, frame, handshake_bytes, open_ws, read_head

APP = "apps/native_app.py"
HELLO = b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n"
PARK_WAIT = 0.3  # well past the 50 ms park delay


def start(serve, **run):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps({"run": run})})


def stats(server) -> dict:
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET /__stats HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    return json.loads(resp.body)


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def parked(server, n: int) -> bool:
    """Wait until exactly `n` connections are parked (the stats connection itself never is:
    it closes right after its one request)."""
    return wait_until(lambda: stats(server)["connections_parked"] == n)


def hello(conn: RawConn) -> None:
    resp = conn.request(HELLO)
    assert resp.status == 200 and resp.body == b"hello from python"
    assert resp.header("connection") == "keep-alive"


def test_a_parked_connection_serves_its_next_requests_again_and_again(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        for _ in range(4):
            hello(conn)
            time.sleep(PARK_WAIT)
            assert parked(server, 1)
        hello(conn)
        # Back-to-back requests keep it busy: it is parked again only once idle.
        for _ in range(20):
            hello(conn)
    assert parked(server, 0)


def test_pipelined_requests_in_one_write_after_a_park(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        hello(conn)
        time.sleep(PARK_WAIT)
        assert parked(server, 1)
        conn.send(HELLO + b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nabcde"
                  + HELLO)
        first, echoed, last = (conn.read_response() for _ in range(3))
        assert first.status == 200 and first.body == b"hello from python"
        assert echoed.status == 200 and echoed.body == b"abcde"
        assert last.status == 200 and last.body == b"hello from python"
        assert last.header("connection") == "keep-alive"


def test_a_head_split_across_the_park_boundary(serve):
    server = start(serve, header_timeout_ms=5000)
    with RawConn(server.connect()) as conn:
        hello(conn)
        time.sleep(PARK_WAIT)
        assert parked(server, 1)
        conn.send(HELLO[:9])  # "GET /py/h": unparks; a partial head is never parked
        time.sleep(PARK_WAIT)
        assert parked(server, 0)
        conn.send(HELLO[9:])
        hello_resp = conn.read_response()
        assert hello_resp.status == 200 and hello_resp.body == b"hello from python"
        # The body of a request split across the park arrives whole too.
        time.sleep(PARK_WAIT)
        assert parked(server, 1)
        conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\n\r\nabc")
        time.sleep(PARK_WAIT)
        conn.send(b"def")
        assert conn.read_response().body == b"abcdef"


def test_a_broken_head_after_a_park_is_refused_as_before(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        hello(conn)
        time.sleep(PARK_WAIT)
        assert parked(server, 1)
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n")
        assert resp.status == 400 and resp.header("connection") == "close"
        assert conn.closed_by_peer()


def test_keepalive_timeout_still_closes_a_parked_connection(serve):
    server = start(serve, keepalive_timeout_ms=800)
    with RawConn(server.connect()) as conn:
        hello(conn)
        t0 = time.monotonic()
        assert parked(server, 1)
        assert conn.closed_by_peer(timeout=5)
        elapsed = time.monotonic() - t0
        # Silent close at keepalive_timeout_ms (counted from the end of the response).
        assert 0.6 <= elapsed <= 2.5, elapsed
    after = stats(server)
    assert after["connections_parked"] == 0
    assert after["idle_evicted"] == 0


def test_eviction_at_max_connections_closes_parked_connections(serve):
    server = start(serve, max_connections=8, keepalive_timeout_ms=30000)
    kept = []
    for _ in range(7):  # 7 of 8: below the 90 % keep-alive cut-off
        conn = RawConn(server.connect())
        hello(conn)
        kept.append(conn)
    busy = RawConn(server.connect())
    try:
        busy.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nab")
        time.sleep(1.2)  # parked after 50 ms, and idle longer than MIN_IDLE_MS (1 s)
        with RawConn(server.connect()) as fresh:
            assert fresh.request(HELLO).status == 200
        assert kept[0].closed_by_peer(timeout=2)  # the oldest parked one made room
        busy.send(b"c")
        assert busy.read_response().body == b"abc"  # the busy one was never touched
        still_open = [c for c in kept if not c.closed_by_peer(timeout=0.05)]
        after = stats(server)
        assert after["idle_evicted"] == len(kept) - len(still_open) >= 1
        # Evicted connections left the gauge; the others are still parked and still serve.
        assert after["connections_parked"] == len(still_open)
        for conn in still_open:
            hello(conn)
    finally:
        busy.close()
        for c in kept:
            c.close()


def test_server_stop_closes_parked_connections_at_once(serve):
    server = start(serve)
    conns = [RawConn(server.connect()) for _ in range(5)]
    try:
        for conn in conns:
            hello(conn)
        assert parked(server, 5)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for conn in conns:
            assert conn.closed_by_peer(timeout=3)
        assert time.monotonic() - t0 < 1.0
        assert server.proc.wait(timeout=10) == 0
    finally:
        for c in conns:
            c.close()


def ws_echo(ws: RawWs, text: str) -> None:
    ws.send(frame(0x1, text.encode()))
    fin, op, payload = ws.recv_frame()
    assert (fin, op, payload) == (True, 0x1, b"echo:" + text.encode())


def ws_stats(server) -> dict:
    return server.client.get("/state").json()["stats"]


def test_websocket_upgrade_on_a_parked_connection_and_on_a_fresh_one(serve):
    server = serve("apps/ws_app.py")
    sock = server.connect()
    try:
        sock.sendall(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200")
        length = int([v for n, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])
                      if n.strip().lower() == b"content-length"][0])
        while len(rest) < length:
            rest += sock.recv(65536)
        time.sleep(PARK_WAIT)
        assert wait_until(lambda: ws_stats(server)["connections_parked"] == 1)
        sock.sendall(handshake_bytes("/ws/echo"))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = RawWs(sock, rest)
        for text in ("after park", "again"):
            ws_echo(ws, text)
        assert ws_stats(server)["connections_parked"] == 0
        ws.send(frame(0x8, b"\x03\xe8"))
        assert ws.recv_close()[0] == 1000
    finally:
        sock.close()
    fresh = open_ws("127.0.0.1", server.port, "/ws/echo")
    try:
        ws_echo(fresh, "fresh")
        time.sleep(PARK_WAIT)  # an upgraded connection is never parked
        ws_echo(fresh, "still there")
        assert ws_stats(server)["connections_parked"] == 0
    finally:
        fresh.close()


def test_websocket_bytes_sent_with_the_handshake_after_a_park(serve):
    server = serve("apps/ws_app.py")
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert resp.status == 200
        time.sleep(PARK_WAIT)
        assert wait_until(lambda: ws_stats(server)["connections_parked"] == 1)
        # The first frame in the same write as the handshake: replayed to the WebSocket.
        conn.send(handshake_bytes("/ws/echo") + frame(0x1, b"eager"))
        head, rest = read_head(conn.sock)
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = RawWs(conn.sock, conn.buf + rest)
        fin, op, payload = ws.recv_frame()
        assert payload == b"echo:eager"


def test_https_keep_alive_across_the_park_delay(serve, tmp_path):
    cert = make_cert()
    cert_path, key_path = cert.write(tmp_path)
    env = {"TLS_KW": json.dumps({"https": True, "tls_cert_path": str(cert_path),
                                 "tls_key_path": str(key_path)})}
    server = serve("apps/tls_app.py", env=env)
    ctx = cert.client_context()

    def tls_stats() -> dict:
        with httpx.Client(verify=ctx, timeout=10) as c:
            return c.get(f"https://localhost:{server.port}/stats").json()["server"]

    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with RawConn(ctx.wrap_socket(raw, server_hostname="localhost")) as conn:
        for _ in range(3):
            resp = conn.request(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert resp.status == 200 and json.loads(resp.body) == {"message": "Hello, World!"}
            assert resp.header("connection") == "keep-alive"
            time.sleep(PARK_WAIT)
            assert wait_until(lambda: tls_stats()["connections_parked"] == 1)
        pipelined = b"GET /text HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2
        conn.send(pipelined)
        assert [conn.read_response().body for _ in range(2)] == [b"plain text"] * 2


def test_connections_parked_counts_the_connections_parked_now(serve):
    server = start(serve)
    with RawConn(server.connect()) as conn:
        hello(conn)
        assert parked(server, 1)
        with RawConn(server.connect()) as other:
            hello(other)
            assert parked(server, 2)
        assert parked(server, 1)
    assert parked(server, 0)


def rss_anon_kib(server) -> int:
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/PID/status")


def test_parked_connections_give_their_memory_back_to_the_os(serve):
    """The hyper buffers a connection frees when it parks go back to the OS, not only to the
    allocator: the allocator returns a page once it has stayed empty for its purge delay, on the
    runtime's upkeep tick (an idle server allocates nothing that would trigger it). Each
    connection still holds its task and socket state (≈ 2 KiB); a parked one that kept its
    buffers would hold ≈ 5.5 KiB (the figure measured with the tick disabled). One runtime
    thread, whatever the machine: with several, each worker keeps some pages of its own
    (2.3–3.6 KiB per connection at 4 and 8 threads, the same with the purge at once), which
    would leave this bound too little margin (docs/internals/http.md, "Allocator")."""
    n = 2000
    raise_fd_limit(n + 500)
    server = start(serve, runtime_threads=1)
    with RawConn(server.connect()) as warm:
        hello(warm)
    time.sleep(PARK_WAIT)
    before = rss_anon_kib(server)
    conns = [RawConn(server.connect()) for _ in range(n)]
    try:
        for conn in conns:
            hello(conn)
        assert parked(server, n)
        limit_kib = before + n * 3.5
        returned = wait_until(lambda: rss_anon_kib(server) <= limit_kib, timeout=3.0)
        assert returned, (rss_anon_kib(server) - before) / n
    finally:
        for conn in conns:
            conn.close()

"""Hardening: host authority, slow and stuck clients, memory budgets, connection pressure,
redirects, CORS configuration, header and cookie values, dotfiles (docs/internals/http.md,
docs/internals/static-files.md, docs/internals/cors-hosts-ratelimit.md). Each case is an attack over raw sockets
against a real server, checked for the answer a client gets and for the server's counters.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

from conftest import raw_request
from support.fds import raise_fd_limit
from support.http1 import RawConn, RawResponse

APP = "apps/native_app.py"


def start(serve, **config):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def get(server, target: str, *, host: str = "test", version: str = "HTTP/1.1",
        headers: str = "", timeout: float = 10.0) -> RawResponse:
    raw = f"GET {target} {version}\r\nHost: {host}\r\n{headers}\r\n".encode("latin-1")
    if version == "HTTP/1.0":  # answered in 1.0 and closed: parse it here
        with server.connect() as sock:
            data = raw_request(sock, raw, expect_close=True, timeout=timeout)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.0 "), lines[0]
        _, code, reason = lines[0].split(" ", 2)
        fields = [tuple(v.strip() for v in line.split(":", 1)) for line in lines[1:]]
        return RawResponse(int(code), reason, fields, body, head)
    with RawConn(server.connect(), timeout=timeout) as conn:
        return conn.request(raw)


def stats(server) -> dict:
    return json.loads(get(server, "/__stats").body)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# --- 1. absolute-form targets: the target's authority is the host --------------------------


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_absolute_form_authority_replaces_host(serve, version, scheme):
    server = start(serve, trusted={"allowed_hosts": ["example.com"]})
    # RFC 9112 §3.2.2: the server ignores Host and uses the target's authority, so the app,
    # the trusted-host check and request.url all see example.com, never evil.com.
    resp = get(server, f"{scheme}://example.com/py/headers", host="evil.com", version=version)
    assert resp.status == 200, resp
    seen = json.loads(resp.body)
    assert seen["host"] == "example.com"
    # The scheme comes from the connection (plain TCP here), never from the target.
    assert seen["url"] == "http://example.com/py/headers"


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_absolute_form_with_an_untrusted_authority_is_refused(serve, version):
    server = start(serve, trusted={"allowed_hosts": ["example.com"]})
    resp = get(server, "http://evil.com/py/headers", host="example.com", version=version)
    assert resp.status == 400 and resp.body == b"Invalid Host"
    assert json.loads(get(server, "/__seen", host="example.com").body) == []


def test_options_asterisk_checks_the_host_too(serve):
    server = start(serve, trusted={"allowed_hosts": ["example.com"]})
    with RawConn(server.connect()) as conn:
        assert conn.request(b"OPTIONS * HTTP/1.1\r\nHost: evil.com\r\n\r\n").status == 400
        assert conn.request(b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n").status == 204


def test_absolute_form_with_userinfo_is_refused(serve):
    server = start(serve, trusted={"allowed_hosts": ["example.com"]})
    resp = get(server, "http://evil.com@example.com/py/headers", host="example.com")
    assert resp.status == 400


# --- 2. minimum body rate -----------------------------------------------------------------------


def test_trickled_body_is_closed_by_the_rate_rule_while_a_steady_upload_succeeds(serve):
    server = start(serve, run={"body_timeout_ms": 1000, "min_body_rate": 500})
    size = 1024 * 1024  # 1 MiB at ~20 KiB/s: ~51 s, far above 500 B/s
    steady: dict = {}

    def upload() -> None:
        with RawConn(server.connect(), timeout=30) as conn:
            conn.send(f"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n".encode())
            chunk = b"u" * 2048
            t0 = time.monotonic()
            for i in range(size // len(chunk)):
                conn.send(chunk)
                # 10 chunks (20 KiB) per second, paced against the clock
                delay = t0 + (i + 1) / 10 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            resp = conn.read_response()
            steady["status"], steady["len"] = resp.status, len(resp.body)

    uploader = threading.Thread(target=upload)
    uploader.start()
    # One byte a second: the idle timeout (1 s) never fires, the rate rule must.
    with RawConn(server.connect(), timeout=10) as conn:
        conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n")
        t0 = time.monotonic()
        resp: Optional[RawResponse] = None
        for _ in range(10):
            try:
                conn.send(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            conn.sock.settimeout(0.9)
            try:
                resp = conn.read_response()
                break
            except socket.timeout:
                continue
        if resp is None:
            conn.sock.settimeout(5)
            resp = conn.read_response()
        elapsed = time.monotonic() - t0
    assert resp.status == 408 and resp.header("connection") == "close", resp
    assert elapsed < 3.0, elapsed  # 1 s grace + 2 bytes' worth, not the 100 s a trickle would take
    uploader.join(timeout=90)
    assert not uploader.is_alive()
    assert steady == {"status": 200, "len": size}
    counters = stats(server)
    assert counters["body_rate_closed"] == 1


# --- 3. send timeout ----------------------------------------------------------------------------


def non_reading_client(server, target: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window, never read
    sock.connect((server.host, server.port))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def drained_until_close(sock: socket.socket, timeout: float = 10.0) -> int:
    """Read what the server had sent before it closed; the byte count."""
    sock.settimeout(timeout)
    total = 0
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


@pytest.mark.parametrize("target", ["/s/big.bin", "/py/stream?n=64000000"])
def test_a_client_that_stops_reading_is_closed_by_the_send_timeout(serve, tmp_path, target):
    www = tmp_path / "www"
    www.mkdir()
    (www / "big.bin").write_bytes(b"b" * (64 * 1024 * 1024))
    server = start(serve, mounts=[["/s", str(www), False]],
                   run={"send_timeout_ms": 1000, "max_connections": 8})
    stuck = [non_reading_client(server, target) for _ in range(8)]
    try:
        # Every slot is held by a client that stopped reading; each is cut after ~1 s
        # without progress, which frees the slots for a fresh request.
        assert wait_until(lambda: stats(server)["send_timeout_closed"] >= 8, timeout=10), stats(server)
        t0 = time.monotonic()
        assert get(server, "/py/hello").status == 200
        assert time.monotonic() - t0 < 1.0
        for sock in stuck:
            assert drained_until_close(sock) < 64 * 1024 * 1024  # cut short, then closed
    finally:
        for sock in stuck:
            sock.close()


# --- 4. shared request-body memory budget -------------------------------------------------------


def test_partial_bodies_are_bounded_by_the_body_memory_budget(serve):
    server = start(serve, run={"max_body_memory": 4 * 1024 * 1024, "body_timeout_ms": 20000,
                               "min_body_rate": 0, "ipc_ring_size": 8 * 1024 * 1024})
    assert get(server, "/py/hello").status == 200
    before = rss_kib(server.proc.pid)
    size = 1024 * 1024 - 1
    conns: List[RawConn] = []
    try:
        for _ in range(200):
            conn = RawConn(server.connect(), timeout=30)
            conn.send(f"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n".encode())
            conns.append(conn)
        payload = b"p" * (size - 1)  # everything but the last byte
        for conn in conns:
            conn.sock.setblocking(False)
            try:  # as much as the kernel takes; bodies waiting for budget are not read
                conn.sock.send(payload)
            except BlockingIOError:
                pass
            conn.sock.setblocking(True)
        time.sleep(1.0)
        grown_mib = (rss_kib(server.proc.pid) - before) / 1024
        counters = stats(server)
        assert counters["body_budget_waiting"] > 0, counters
        assert grown_mib < 40, f"RSS grew {grown_mib:.0f} MiB for 200 partial 1 MiB bodies"
        # A fresh request is answered at once.
        t0 = time.monotonic()
        assert get(server, "/py/hello").status == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        for conn in conns:
            conn.close()
    # Budget comes back when the connections go.
    assert wait_until(lambda: stats(server)["body_budget_waiting"] == 0, timeout=5), stats(server)
    body = b"q" * 1000
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + body)
    assert resp.status == 200 and resp.body == body


def test_waiters_that_leave_are_not_counted_as_waiting(serve):
    server = start(serve, run={"max_body_memory": 1000, "body_timeout_ms": 5000, "min_body_rate": 0})
    with RawConn(server.connect(), timeout=10) as holder:
        holder.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"h" * 1000)
        time.sleep(0.2)
    for _ in range(4):
        holder2 = RawConn(server.connect(), timeout=10)
        holder2.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"h" * 999)
        waiter = server.connect()
        waiter.sendall(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789")
        time.sleep(0.2)
        assert stats(server)["body_budget_waiting"] >= 1
        waiter.close()  # gives up while waiting for budget
        holder2.close()
    assert wait_until(lambda: stats(server)["body_budget_waiting"] == 0, timeout=5), stats(server)
    assert stats(server)["body_budget_waits"] >= 4


def test_a_body_that_cannot_get_budget_in_time_is_503(serve):
    server = start(serve, run={"max_body_memory": 1000, "body_timeout_ms": 800, "min_body_rate": 0})
    with RawConn(server.connect(), timeout=10) as holder:
        # Holds 991 of the 1000 budget bytes, then a byte every 0.2 s (progress, so its own
        # body timeout never fires while the other one waits; at most 999 held).
        holder.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"h" * 991)
        stop = threading.Event()
        sent = [991]

        def trickle() -> None:
            while sent[0] < 999 and not stop.wait(0.2):
                holder.send(b"h")
                sent[0] += 1

        trickler = threading.Thread(target=trickle)
        trickler.start()
        try:
            time.sleep(0.2)
            with RawConn(server.connect(), timeout=10) as waiter:
                t0 = time.monotonic()
                resp = waiter.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789")
                assert resp.status == 503 and resp.header("connection") == "close", resp
                assert 0.6 < time.monotonic() - t0 < 3.0
        finally:
            stop.set()
            trickler.join()
        holder.send(b"h" * (1000 - sent[0]))
        assert holder.read_response().status == 200
    counters = stats(server)
    assert counters["body_budget_rejected"] == 1 and counters["body_budget_waits"] >= 1


def test_chunked_bodies_take_turns_for_the_budget_instead_of_deadlocking(serve):
    """Eight chunked 900 KiB uploads at once against a 2 MiB budget (`max_body_size` 1 MiB): a
    body of unknown length reserves up to the limit before it is read, so two at a time read
    theirs whole while the others wait, and all eight are answered. Reserved piece by piece,
    each held part of the budget while all waited for more, until their timeouts."""
    import concurrent.futures

    server = start(serve, run={"max_body_memory": 2 * 1024 * 1024, "max_body_size": 1024 * 1024,
                               "body_timeout_ms": 8000, "min_body_rate": 0})
    part = b"c" * (64 * 1024)

    def upload(_i: int) -> int:
        with RawConn(server.connect(), timeout=30) as conn:
            conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(14):  # 14 x 64 KiB = 896 KiB, in chunks with pauses between them
                conn.send(b"%x\r\n" % len(part) + part + b"\r\n")
                time.sleep(0.01)
            conn.send(b"0\r\n\r\n")
            resp = conn.read_response()
            assert resp.body == part * 14 or resp.status != 200
            return resp.status

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(upload, range(8)))
    assert statuses == [200] * 8, statuses
    assert time.monotonic() - t0 < 6.0  # no upload waited out its body timeout
    assert stats(server)["body_budget_rejected"] == 0


# --- 5. connection pressure ---------------------------------------------------------------------


def test_3000_idle_sockets_do_not_delay_a_fresh_request(serve):
    raise_fd_limit(3500)
    server = start(serve)  # default max_connections: sized to the descriptor limit
    idle = []
    try:
        for _ in range(3000):
            idle.append(socket.create_connection((server.host, server.port), timeout=10))
        time.sleep(0.5)
        t0 = time.monotonic()
        resp = get(server, "/py/hello", timeout=5)
        elapsed = time.monotonic() - t0
        assert resp.status == 200
        assert elapsed < 1.0, elapsed
        assert stats(server)["connections_open"] >= 3000
    finally:
        for s in idle:
            s.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def test_at_max_connections_idle_connections_make_room(serve):
    server = start(serve, run={"max_connections": 50, "header_timeout_ms": 30000,
                               "keepalive_timeout_ms": 30000})
    # 5 kept alive after a request (made first: keep-alive is refused from 90 % of the limit
    # on), then 45 that never sent a byte.
    kept = []
    for _ in range(5):
        conn = RawConn(server.connect())
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        assert resp.status == 200 and resp.header("connection") == "keep-alive"
        kept.append(conn)
    never = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(45)]
    try:
        time.sleep(1.2)  # idle for longer than MIN_IDLE_MS (1 s)
        t0 = time.monotonic()
        resp = get(server, "/py/hello", timeout=5)
        assert resp.status == 200
        assert time.monotonic() - t0 < 1.0
        assert stats(server)["idle_evicted"] >= 1
        # Connections that never sent a request go first (what an idle-socket flood is made
        # of); kept-alive ones, whose close could race with a client's next request, stay.
        assert closed_by_server(never[0])
        assert not any(closed_by_server(c.sock) for c in kept)
        for conn in kept:
            assert conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n").status == 200
    finally:
        for s in never:
            s.close()
        for c in kept:
            c.close()


def test_kept_alive_connections_are_evicted_when_nothing_else_is_idle(serve):
    server = start(serve, run={"max_connections": 8, "keepalive_timeout_ms": 30000})
    kept = []
    for _ in range(7):  # 7 of 8: below the 90 % keep-alive cut-off
        conn = RawConn(server.connect())
        assert conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n").status == 200
        kept.append(conn)
    busy = RawConn(server.connect(), timeout=10)
    busy.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nab")
    try:
        time.sleep(1.2)  # idle for longer than MIN_IDLE_MS (1 s)
        assert get(server, "/py/hello", timeout=5).status == 200
        assert closed_by_server(kept[0].sock)  # the oldest kept-alive one made room
        busy.send(b"c")
        assert busy.read_response().body == b"abc"  # the busy one was never touched
    finally:
        busy.close()
        for c in kept:
            c.close()


def test_requests_waiting_unread_are_not_lost_to_eviction(serve):
    # A flood of new connections at max_connections: each sends its request at once. A
    # connection whose request sits unread in the kernel must never count as idle.
    server = start(serve, run={"max_connections": 8, "keepalive_timeout_ms": 30000})
    idle = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(4)]
    results: List[int] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(20):
            try:
                with RawConn(server.connect(), timeout=10) as conn:
                    status = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\n"
                                          b"Connection: close\r\nContent-Length: 3\r\n\r\nabc").status
            except (EOFError, ConnectionError, socket.timeout):
                status = 0
            with lock:
                results.append(status)

    threads = [threading.Thread(target=client) for _ in range(12)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 240
        assert results.count(200) == 240, f"lost: {results.count(0)}"
    finally:
        for s in idle:
            s.close()


def test_a_connection_with_a_request_in_progress_is_never_evicted(serve):
    server = start(serve, run={"max_connections": 4, "body_timeout_ms": 20000, "min_body_rate": 0})
    busy = [RawConn(server.connect(), timeout=10) for _ in range(4)]
    for conn in busy:
        conn.send(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nab")
    time.sleep(0.3)
    extra = server.connect()
    try:
        extra.sendall(b"GET /py/hello HTTP/1.1\r\nHost: test\r\n\r\n")
        extra.settimeout(0.8)
        with pytest.raises(socket.timeout):
            extra.recv(1)
        for conn in busy:  # each finishes its body and is answered: nothing was cut
            conn.send(b"c")
            resp = conn.read_response()
            assert resp.status == 200 and resp.body == b"abc"
    finally:
        extra.close()
        for conn in busy:
            conn.close()


# --- 6. directory redirects never leave the site -------------------------------------------------


@pytest.mark.parametrize("target, location", [
    ("//evil.com", "/evil.com/"),
    ("///evil.com", "/evil.com/"),
    ("//evil.com?x=1", "/evil.com/?x=1"),
    ("/evil.com", "/evil.com/"),
])
def test_directory_redirect_is_never_scheme_relative(serve, tmp_path, target, location):
    www = tmp_path / "www"
    (www / "evil.com").mkdir(parents=True)
    (www / "evil.com" / "index.html").write_bytes(b"<p>local</p>")
    server = start(serve, mounts=[["/", str(www), True]])
    resp = get(server, target)
    assert resp.status == 307
    assert resp.header("location") == location


# --- 7. CORS configuration and origin parsing ---------------------------------------------------


@pytest.mark.parametrize("cors", [
    {"allow_origins": "*", "allow_credentials": True},
    {"allow_origins": ["https://a.test", "*"], "allow_credentials": True},
    {"allow_credentials": True},  # the default is any origin
])
def test_any_origin_with_credentials_is_a_configuration_error(serve, cors):
    with pytest.raises(RuntimeError) as err:
        start(serve, cors=cors)
    assert "allow_credentials=True cannot be used with allow_origins='*'" in str(err.value)


def test_invalid_origin_pattern_is_a_configuration_error(serve):
    with pytest.raises(RuntimeError) as err:
        start(serve, cors={"allow_origins": ["*trusted.example"]})
    assert "invalid cors origin: *trusted.example" in str(err.value)


@pytest.mark.parametrize("origin, allowed", [
    ("https://a.trusted.example", True),
    ("http://b.a.trusted.example", True),
    ("https://evil.com/.trusted.example", False),
    ("https://evil.com?.trusted.example", False),
    ("https://x@a.trusted.example", False),
    ("ftp://a.trusted.example", False),
    ("https://a.trusted.example:8443", False),
    ("https://trusted.example", False),
    ("https://eviltrusted.example", False),
    ("null", False),
])
def test_origins_match_as_scheme_host_port(serve, origin, allowed):
    server = start(serve, cors={"allow_origins": ["*.trusted.example"], "allow_credentials": True})
    resp = get(server, "/py/hello", headers=f"Origin: {origin}\r\n")
    assert resp.status == 200
    assert (resp.header("access-control-allow-origin") == origin) is allowed
    assert (resp.header("access-control-allow-credentials") == "true") is allowed


# --- 8. header values, If-Range, dotfiles, cookie values ---------------------------------------


@pytest.mark.parametrize("value", ["%01", "%7F", "a%00b", "a%0Db"])
def test_control_characters_in_a_response_header_are_a_logged_500(serve, value):
    server = start(serve)
    resp = get(server, f"/py/bad-header?v={value}")
    assert resp.status == 500
    assert resp.header("x-bad") is None and b"never sent" not in resp.body
    assert wait_until(lambda: "control character in response header value" in server.logs(), 5)


def test_tab_and_obs_text_in_a_response_header_are_sent(serve):
    server = start(serve)
    resp = get(server, "/py/bad-header?v=a%09b")
    assert resp.status == 200 and resp.header("x-bad") == "a\tb"


def test_if_range_with_a_weak_etag_gives_the_whole_file(serve, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "f.bin").write_bytes(bytes(range(256)) * 4)
    server = start(serve, mounts=[["/s", str(www), False]])
    full = get(server, "/s/f.bin")
    etag, lm = full.header("etag"), full.header("last-modified")
    assert etag.startswith('W/"')
    resp = get(server, "/s/f.bin", headers=f"Range: bytes=0-9\r\nIf-Range: {etag}\r\n")
    assert resp.status == 200 and resp.body == full.body  # RFC 9110 §13.1.5: strong match only
    resp = get(server, "/s/f.bin", headers=f"Range: bytes=0-9\r\nIf-Range: {lm}\r\n")
    assert resp.status == 206 and resp.body == full.body[:10]


@pytest.fixture
def dotted(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    (www / ".git").mkdir(parents=True)
    (www / ".well-known").mkdir()
    (www / "sub" / ".hidden").mkdir(parents=True)
    (www / ".env").write_bytes(b"SECRET=1\n")
    (www / ".git" / "config").write_bytes(b"[core]\n")
    (www / "sub" / ".hidden" / "x.txt").write_bytes(b"x\n")
    (www / ".well-known" / "security.txt").write_bytes(b"Contact: a@b\n")
    (www / "ok.txt").write_bytes(b"ok\n")
    return www


@pytest.mark.parametrize("target", ["/s/.env", "/s/.git/config", "/s/sub/.hidden/x.txt", "/s/%2Eenv",
                                    "/s/.well-known/../.env"])
def test_dotfiles_are_not_served_by_default(serve, dotted, target):
    server = start(serve, mounts=[["/s", str(dotted), False]])
    resp = get(server, target)
    assert resp.status == 404, target
    assert b"SECRET" not in resp.body


def test_well_known_and_opted_in_dotfiles_are_served(serve, dotted):
    server = start(serve, mounts=[["/s", str(dotted), False], ["/open", str(dotted), False, True]])
    assert get(server, "/s/.well-known/security.txt").body == b"Contact: a@b\n"
    assert get(server, "/s/ok.txt").status == 200
    assert get(server, "/open/.env").body == b"SECRET=1\n"
    assert get(server, "/open/.git/config").status == 200


@pytest.mark.parametrize("value, status", [("ok-value", 200), ("a%20b", 500), ("a%2Cb", 500),
                                           ("a%22b", 500), ("a%5Cb", 500), ("%C3%A9", 500)])
def test_cookie_values_outside_cookie_octets_are_refused(serve, value, status):
    server = start(serve)
    resp = get(server, f"/py/cookie?v={value}")
    assert resp.status == status
    if status == 200:
        assert resp.header("set-cookie") == "c=ok-value; Path=/; SameSite=Lax"
    else:
        assert resp.header("set-cookie") is None

"""Native rate limiting (token bucket per client IP), end to end
(docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs)."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import List

import pytest

from support.http1 import RawConn, RawResponse

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"


def start(serve, **config):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def get(target: str = "/py/hello", extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode()


def assert_429(resp: RawResponse, retry_after: int = 0) -> None:
    assert resp.status == 429, resp
    assert resp.reason == "Too Many Requests"
    assert resp.body == b"Too Many Requests"
    assert resp.header("content-type") == TEXT
    value = resp.header("retry-after")
    assert value is not None and value.isdigit(), resp.headers
    assert int(value) >= 1
    if retry_after:
        assert int(value) == retry_after, resp.headers
    assert (resp.header("connection") or "").lower() == "keep-alive"


def statuses(conn: RawConn, n: int, target: str = "/py/hello") -> List[int]:
    return [conn.request(get(target)).status for _ in range(n)]


def test_burst_then_429_with_retry_after_keep_alive(serve):
    server = start(serve, ratelimit={"rate": 1, "burst": 3})
    with RawConn(server.connect()) as conn:
        for i in range(3):
            resp = conn.request(get())
            assert resp.status == 200, i
            assert resp.body == b"hello from python"
        resp = conn.request(get())
        assert_429(resp, retry_after=1)
        # keep-alive kept: the same connection goes on answering
        assert_429(conn.request(get()))
    # another connection from the same IP shares the bucket
    with RawConn(server.connect()) as conn:
        assert_429(conn.request(get()))


def test_refill_after_waiting(serve):
    server = start(serve, ratelimit={"rate": 5, "burst": 2})
    with RawConn(server.connect()) as conn:
        assert statuses(conn, 2) == [200, 200]
        assert_429(conn.request(get()), retry_after=1)
        time.sleep(0.25)  # 5 tokens/s → one token after 200 ms
        assert conn.request(get()).status == 200
        assert_429(conn.request(get()))
        time.sleep(0.5)  # two more tokens, capped at burst 2
        assert statuses(conn, 3) == [200, 200, 429]


def test_rejected_requests_take_no_token(serve):
    server = start(serve, ratelimit={"rate": 2, "burst": 1})
    with RawConn(server.connect()) as conn:
        assert conn.request(get()).status == 200
        t0 = time.monotonic()
        for _ in range(10):  # hammering while empty must not push the bucket below zero
            assert_429(conn.request(get()))
            time.sleep(0.03)
        time.sleep(max(0.0, 0.56 - (time.monotonic() - t0)))
        assert conn.request(get()).status == 200, "a rejected request took a token"


def test_retry_after_is_ceil_of_time_to_next_token(serve):
    # aliases: burst = max_requests = 2, rate = 2 / 4 s = 0.5 token/s → 2 s to the next token
    server = start(serve, ratelimit={"max_requests": 2, "window_sec": 4})
    with RawConn(server.connect()) as conn:
        assert statuses(conn, 2) == [200, 200]
        assert_429(conn.request(get()), retry_after=2)


def test_max_requests_window_sec_aliases(serve):
    server = start(serve, ratelimit={"max_requests": 3, "window_sec": 60})
    with RawConn(server.connect()) as conn:
        assert statuses(conn, 3) == [200, 200, 200]
        resp = conn.request(get())
        assert_429(resp, retry_after=20)  # rate 0.05/s: 20 s per token


def test_default_rate_and_burst(serve):
    server = start(serve, ratelimit={})
    with RawConn(server.connect()) as conn:
        t0 = time.monotonic()
        got = statuses(conn, 60)
        elapsed = time.monotonic() - t0
    assert got[:40] == [200] * 40, "default burst is 40"
    ok = got.count(200)
    assert 429 in got, got
    assert ok <= 40 + int(elapsed * 20) + 1, (ok, elapsed)


def test_static_files_and_native_404_are_limited(serve, tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_bytes(b"static\n")
    server = start(serve, ratelimit={"rate": 1, "burst": 3}, mounts=[["/s", str(root), False]])
    with RawConn(server.connect()) as conn:
        assert conn.request(get("/s/a.txt")).status == 200
        assert conn.request(get("/s/missing")).status == 404
        assert conn.request(get("/no/route")).status == 404
        assert_429(conn.request(get("/s/a.txt")))
        assert_429(conn.request(get("/no/route")))


def test_pipelined_requests_each_take_a_token(serve):
    server = start(serve, ratelimit={"rate": 1, "burst": 2})
    with RawConn(server.connect()) as conn:
        conn.send(get("/py/hello") * 4)
        got = [conn.read_response() for _ in range(4)]
    assert [r.status for r in got] == [200, 200, 429, 429]


def test_cors_preflights_are_not_counted(serve):
    server = start(serve, ratelimit={"rate": 1, "burst": 2}, cors={"allow_origins": ["https://a.example"]})
    with RawConn(server.connect()) as conn:
        for _ in range(5):
            resp = conn.request(b"OPTIONS /py/hello HTTP/1.1\r\nHost: test\r\nOrigin: https://a.example\r\n"
                                b"Access-Control-Request-Method: GET\r\n\r\n")
            assert resp.status == 204
        assert statuses(conn, 3) == [200, 200, 429]


def test_buckets_are_per_client_ip(serve):
    server = start(serve, ratelimit={"rate": 1, "burst": 2})
    with RawConn(server.connect()) as conn:
        assert statuses(conn, 3) == [200, 200, 429]
    other = socket.socket()
    try:
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", server.port))
    except OSError:
        other.close()
        raise
    with RawConn(other) as conn:
        assert statuses(conn, 3) == [200, 200, 429], "127.0.0.2 has its own bucket"


@pytest.mark.parametrize("config", [{"rate": 0}, {"burst": 0}, {"rate": 0, "burst": 0},
                                    {"rate": 1, "burst": 1, "enabled": False}])
def test_limiter_off(serve, config):
    server = start(serve, ratelimit=config)
    with RawConn(server.connect()) as conn:
        got = statuses(conn, 60)
    assert got == [200] * 60, (config, got)


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(serve):
    """`forwarded_allow_ips` (docs/internals/http.md, "Behind a proxy"): requests from a trusted
    proxy are limited per `X-Forwarded-For` client (the rightmost hop that is not one of the
    trusted proxies), and the app sees that client and the forwarded scheme; from an untrusted
    peer the headers change nothing."""
    server = start(serve, ratelimit={"rate": 1, "burst": 2},
                   run={"forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/8"]})

    def via_proxy(conn, forwarded_for, target="/py/hello"):
        return conn.request(get(target, f"X-Forwarded-For: {forwarded_for}\r\nX-Forwarded-Proto: https\r\n"))

    with RawConn(server.connect()) as conn:
        # "spoof" is what the client itself sent; 10.0.0.1 is our inner proxy, trusted
        assert [via_proxy(conn, "1.1.1.1, 203.0.113.1, 10.0.0.1").status for _ in range(2)] == [200, 200]
        assert_429(via_proxy(conn, "9.9.9.9, 203.0.113.1, 10.0.0.1"))  # same client, other spoof
        # another client behind the same proxies, on the same proxy connection: its own bucket
        resp = via_proxy(conn, "203.0.113.2, 10.0.0.1", "/py/client")
        assert resp.status == 200, resp
        assert json.loads(resp.body) == {"host": "203.0.113.2", "port": 0, "scheme": "https"}
    untrusted = start(serve, ratelimit={"rate": 1, "burst": 2})
    with RawConn(untrusted.connect()) as conn:
        resp = conn.request(get("/py/client", "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"))
        body = json.loads(resp.body)
        assert (body["host"], body["scheme"]) == ("127.0.0.1", "http")
        assert [via_proxy(conn, f"203.0.113.{i}").status for i in (4, 5)] == [200, 429]  # one bucket: the peer


def test_forwarded_allow_ips_is_checked():
    from viperhttp import _native

    with pytest.raises(ValueError, match="forwarded_allow_ips: invalid address"):
        _native.start(host="127.0.0.1", port=0, forwarded_allow_ips="localhost")
    with pytest.raises(TypeError, match="forwarded_allow_ips must be str or a list of str"):
        _native.start(host="127.0.0.1", port=0, forwarded_allow_ips=5)

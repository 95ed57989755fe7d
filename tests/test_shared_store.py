"""Scale-out state: the native rate limiter over a real redis-server shared by two processes,
and what happens when Redis is down (docs/guide/deployment.md "Shared state with Redis")."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import List

import pytest
import redis

from conftest import TESTS, free_port
from support.redis_server import RedisServer

APP = "apps/scale_app.py"


def _env(url: str, burst: int, rate: float = 0.01) -> dict:
    return {"VIPERHTTP_SHARED_STORE": url, "SCALE_BURST": str(burst), "SCALE_RATE": str(rate)}


def _statuses(server, n: int) -> List[int]:
    return [server.client.get("/pid").status_code for _ in range(n)]


@pytest.fixture
def store(redis_server):
    url = f"redis://127.0.0.1:{redis_server.port}/5"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


def test_two_processes_share_one_bucket(serve, store):
    url, client = store
    a = serve(APP, env=_env(url, burst=6))
    b = serve(APP, env=_env(url, burst=6))
    assert a.client.get("/pid").json()["pid"] != b.client.get("/pid").json()["pid"]
    # 2 tokens used above; 4 remain in the ONE bucket of 127.0.0.1, wherever requests land.
    results = []
    for _ in range(5):
        results.append(a.client.get("/pid").status_code)
        results.append(b.client.get("/pid").status_code)
    assert results.count(200) == 4, results
    assert results.count(429) == 6, results
    limited = b.client.get("/pid")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    # Without the store each process would allow its own burst: it is really in Redis.
    assert client.exists("vhttp:rl:127.0.0.1") == 1
    # TTL = time to refill a full bucket = burst / rate = 600 s.
    ttl_ms = client.pttl("vhttp:rl:127.0.0.1")
    assert 590_000 < ttl_ms <= 600_000, ttl_ms
    stats_a = a.client.get("/stats")
    assert stats_a.status_code == 429  # /stats is limited too: the same bucket
    client.delete("vhttp:rl:127.0.0.1")
    assert a.client.get("/stats").json()["ratelimit_store_errors"] == 0


def test_ipv6_clients_share_the_bucket_of_their_64_in_redis_too(serve, store):
    """The shared store keys a client as the in-process limiter does: an IPv6 address by its
    /64 (each address had its own bucket in Redis)."""
    url, client = store
    a = serve(APP, env={**_env(url, burst=3), "SCALE_TRUST_PROXY": "1"})
    same = ["2001:db8:aa:cc::1", "2001:db8:aa:cc:1::2", "2001:db8:aa:cc:ffff::3", "2001:db8:aa:cc::4"]
    codes = [a.client.get("/pid", headers={"X-Forwarded-For": ip}).status_code for ip in same]
    assert codes == [200, 200, 200, 429], codes
    assert a.client.get("/pid", headers={"X-Forwarded-For": "2001:db8:aa:cd::1"}).status_code == 200
    assert client.exists("vhttp:rl:2001:db8:aa:cc::") == 1


def test_refill_comes_from_redis_time(serve, store):
    url, client = store
    a = serve(APP, env=_env(url, burst=2, rate=5))  # one token per 200 ms
    b = serve(APP, env=_env(url, burst=2, rate=5))
    assert _statuses(a, 2) == [200, 200]
    assert b.client.get("/pid").status_code == 429
    time.sleep(0.25)
    assert b.client.get("/pid").status_code == 200
    assert a.client.get("/pid").status_code == 429


def test_redis_down_from_the_start_fails_open_and_counts(serve):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server = serve(APP, env=_env(url, burst=2))
    assert _statuses(server, 10) == [200] * 10  # burst 2, yet nothing is limited
    errors = server.client.get("/stats").json()["ratelimit_store_errors"]
    assert errors >= 11, errors  # every request counted, /stats included
    time.sleep(0.3)
    assert "fail open" in server.logs()


def test_redis_going_down_and_coming_back(serve, tmp_path):
    port = free_port()
    redis_srv = RedisServer(tmp_path / "r1", port=port).start()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        server = serve(APP, env=_env(url, burst=2))
        assert _statuses(server, 3) == [200, 200, 429]
        redis_srv.stop()
        # Down: every request passes (fail open), each one counted, none slow.
        started = time.monotonic()
        assert _statuses(server, 6) == [200] * 6
        assert time.monotonic() - started < 3.0
        stats = server.client.get("/stats").json()
        assert stats["ratelimit_store_errors"] >= 7, stats
        assert stats["ratelimit_rejected"] == 1
        # Back (an empty Redis: a fresh bucket): limits apply again after the reconnect
        # back-off of one second.
        redis_srv = RedisServer(tmp_path / "r2", port=port).start()
        time.sleep(1.2)
        codes = _statuses(server, 4)
        assert codes[:2] == [200, 200] and codes[2:] == [429, 429], codes
        time.sleep(0.3)
        assert "reachable again" in server.logs()
    finally:
        redis_srv.stop()


def test_without_store_the_limit_is_per_process(serve):
    a = serve(APP, env={"SCALE_BURST": "2", "SCALE_RATE": "0.01"})
    b = serve(APP, env={"SCALE_BURST": "2", "SCALE_RATE": "0.01"})
    assert _statuses(a, 3) == [200, 200, 429]
    assert _statuses(b, 3) == [200, 200, 429]


@pytest.mark.parametrize("bad, message", [
    ("http://127.0.0.1:6379", "shared_store must be a redis:// URL"),
    ("redis://127.0.0.1:notaport/0", "shared_store:"),
])
def test_bad_store_url_fails_startup(bad, message, tmp_path):
    env = dict(os.environ, SCALE_BURST="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "viperhttp", "run", "scale_app:app", "--port", str(free_port()),
         "--host", "127.0.0.1", "--shared-store", bad],
        cwd=TESTS / "apps", env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert message in proc.stderr


def test_cli_workers_share_sessions_and_limits(store, tmp_path):
    """`viperhttp run --workers 2 --shared-store URL`: a session made by one worker is seen by
    the other, and both draw from one rate-limit bucket."""
    url, client = store
    port = free_port()
    env = dict(os.environ, SCALE_SESSIONS="1", SCALE_BURST="60", SCALE_RATE="0.01",
               VIPERHTTP_NO_UVLOOP="1")
    env.pop("VIPERHTTP_SHARED_STORE", None)
    log = open(tmp_path / "cli.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "viperhttp", "run", "scale_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--shared-store", url],
        cwd=TESTS / "apps", env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    import httpx
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/stats", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        allowed = 1  # the /stats above
        # Wait until both workers answer (the second may still be starting).
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(httpx.get(base + "/pid").json()["pid"])
            allowed += 1
        assert len(pids) == 2
        login = httpx.get(base + "/login/ada")
        allowed += 1
        cookies = dict(login.cookies)
        assert cookies
        seen = {}
        # New connections until both workers have answered: the kernel's SO_REUSEPORT hash
        # picks the worker, so a fixed count could (rarely) land every one on the same one.
        for _ in range(40):
            r = httpx.get(base + "/whoami", cookies=cookies).json()
            seen[r["pid"]] = r["user"]
            allowed += 1
            if len(seen) == 2:
                break
        assert len(seen) == 2 and set(seen.values()) == {"ada"}, seen
        # One bucket of 60 for both workers (per-process buckets would allow up to 120).
        codes = [httpx.get(base + "/pid").status_code for _ in range(80)]
        assert set(codes) == {200, 429}
        assert allowed + codes.count(200) == 60, (allowed, codes)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, (tmp_path / "cli.log").read_text()


def test_silent_store_times_out_then_backs_off(serve):
    """A store that accepts connections but never answers: the first request waits at most the
    store timeout (250 ms) and passes; during the one-second back-off requests pass at once."""
    import socket as _socket
    silent = _socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted, never answered
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        server = serve(APP, env=_env(url, burst=1))
        t0 = time.monotonic()
        assert server.client.get("/pid").status_code == 200
        first = time.monotonic() - t0
        assert 0.2 <= first < 1.0, first
        t0 = time.monotonic()
        assert _statuses(server, 5) == [200] * 5  # burst 1, but the store is out: fail open
        assert time.monotonic() - t0 < 0.5
        assert server.client.get("/stats").json()["ratelimit_store_errors"] >= 7
    finally:
        silent.close()


BUSY_LUA = ("local s = redis.call('TIME'); local start = s[1] * 1e6 + s[2]; while true do "
            "local n = redis.call('TIME'); if n[1] * 1e6 + n[2] - start > 1200000 then break end "
            "end return 1")


def test_stalled_store_times_out_once_per_backoff(serve, tmp_path):
    """Redis connected, then stalled (a 1.2 s busy script): one request waits the 250 ms timeout
    and passes, the next ones pass at once during the back-off, then limits apply again."""
    import threading
    port = free_port()
    redis_srv = RedisServer(tmp_path / "r", port=port).start()
    try:
        url = f"redis://127.0.0.1:{port}/0"
        server = serve(APP, env=_env(url, burst=2))
        assert server.client.get("/pid").status_code == 200  # connected; 1 token left
        busy = threading.Thread(target=lambda: redis.Redis(port=port).eval(BUSY_LUA, 0))
        busy.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        assert server.client.get("/pid").status_code == 200  # fail open after the timeout
        waited = time.monotonic() - t0
        assert 0.2 <= waited < 0.9, waited
        t0 = time.monotonic()
        assert _statuses(server, 4) == [200] * 4
        assert time.monotonic() - t0 < 0.4  # in the back-off: no waiting
        busy.join()
        time.sleep(1.0)  # back-off over
        # Limits apply again. The script of the request that timed out was already sent: Redis
        # ran it when the stall ended, so it took the bucket's last token (the request itself
        # had been let through).
        assert _statuses(server, 2) == [429, 429]
    finally:
        redis_srv.stop()

"""Authentication (docs/sessions-auth.md#authentication) over real sockets: tests/apps/auth_app.py
with every backend, enforce/strict challenges, roles, the brute-force limiter and backends used
directly as dependencies."""
from __future__ import annotations

import base64

import httpx
import pytest

from support.browser import Browser
from support.redis_server import RedisServer

APP = "apps/auth_app.py"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def whoami(server, headers=None, path="/whoami"):
    return httpx.get(server.url(path), headers=headers or {}, timeout=10)


# --- backends through AuthMiddleware ---------------------------------------------------------------

def test_every_backend_ok(serve):
    server = serve(APP, env={"NO_LIMITER": "1"})
    cases = [
        ({"Authorization": "Bearer tok-admin"}, "bearer", "root"),
        ({"Authorization": "bEaReR   tok-admin"}, "bearer", "root"),
        ({"Authorization": "Bearer hashed-token"}, "bearer", "h"),
        ({"X-API-Key": "key-1"}, "apikey", "svc"),
        ({"x-Api-KEY": "key-1"}, "apikey", "svc"),
    ]
    for headers, scheme, sub in cases:
        body = whoami(server, headers).json()
        assert (body["scheme"], body["user"]["sub"]) == (scheme, sub), headers
    body = httpx.get(server.url("/whoami?api_key=key-1"), timeout=10).json()
    assert body["scheme"] == "apikey"
    body = httpx.get(server.url("/whoami?api_key=%20key-1%20"), timeout=10).json()  # trimmed
    assert body["scheme"] == "apikey"
    for user, password in (("carol", "plain-pass"), ("dave", "hashed-pass"), ("erin", "dict-pass"),
                           ("frank", "frank-pass")):
        body = whoami(server, basic(user, password)).json()
        assert body["scheme"] == "basic" and body["user"]["username"] == user and body["user"]["source"] == "basic"
    assert whoami(server, basic("erin", "dict-pass")).json()["user"]["roles"] == ["admin"]
    b = Browser(server.base)
    b.post("/session-login")
    body = b.get("/whoami").json()
    assert body["scheme"] == "session" and body["user"]["sub"] == "sess"


def test_every_backend_fail_is_anonymous_without_enforce(serve):
    server = serve(APP, env={"NO_LIMITER": "1"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer never-used"},  # a hash is not the token
                    {"Authorization": "Bearer " + "x" * 2000}, {"X-API-Key": "key-2"}, {"X-API-Key": ""},
                    basic("carol", "nope"), basic("dave", "sha256:" + "0" * 64), basic("nobody", "x"),
                    {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
                    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
                    {"Authorization": "Digest abc"}, {"X-Break": "1"}):
        r = whoami(server, headers)
        assert r.status_code == 200, headers
        assert r.json() == {"user": None, "scheme": None}, headers
    assert "auth_backend_error broken" in server.logs()


def test_enforce_gives_401_with_the_first_challenge(serve):
    server = serve(APP, env={"ENFORCE": "1", "NO_LIMITER": "1"})
    r = whoami(server, {"Authorization": "Bearer wrong"})
    assert (r.status_code, r.text) == (401, "Not authenticated")
    assert r.headers.get_list("www-authenticate") == ["Bearer"]
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert whoami(server, {"Authorization": "Bearer tok-admin"}).status_code == 200


def test_strict_challenge_sends_one_header_per_backend(serve):
    server = serve(APP, env={"ENFORCE": "1", "STRICT": "1", "NO_LIMITER": "1"})
    r = whoami(server)
    assert r.status_code == 401
    assert r.headers.get_list("www-authenticate") == ["Bearer", "Bearer", "ApiKey", "Basic"]


def test_enforce_without_challenges_sends_no_header(serve):
    server = serve(APP, env={"ENFORCE": "1", "BACKENDS": "session", "NO_LIMITER": "1"})
    r = whoami(server)
    assert r.status_code == 401 and "www-authenticate" not in r.headers


# --- helpers: get_current_user, require_roles, backends as dependencies -----------------------

def test_get_current_user_and_scheme(serve):
    server = serve(APP, env={"NO_LIMITER": "1"})
    r = whoami(server, path="/me")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert "www-authenticate" not in r.headers
    assert whoami(server, {"X-API-Key": "key-1"}, "/me").json()["me"]["sub"] == "svc"
    assert whoami(server, {"X-API-Key": "key-1"}, "/bearer-only").status_code == 401
    assert whoami(server, {"Authorization": "Bearer tok-admin"}, "/bearer-only").json() == {"me": "root"}


def test_require_roles(serve):
    server = serve(APP, env={"NO_LIMITER": "1"})
    assert whoami(server, path="/admin").status_code == 401
    r = whoami(server, {"X-API-Key": "key-1"}, "/admin")  # roles ["ops"]
    assert (r.status_code, r.json()) == (403, {"detail": "Forbidden"})
    assert whoami(server, {"Authorization": "Bearer tok-admin"}, "/admin").json() == {"admin": "root"}
    assert whoami(server, {"Authorization": "Bearer tok-admin"}, "/admin-ops").status_code == 200
    assert whoami(server, basic("erin", "dict-pass"), "/admin-ops").status_code == 403  # admin only: AND
    assert whoami(server, basic("erin", "dict-pass"), "/admin").status_code == 200
    b = Browser(server.base)
    b.post("/session-login")
    assert b.get("/admin").status_code == 403  # session user without roles


def test_backends_are_callable_as_dependencies(serve):
    server = serve(APP, env={"NO_LIMITER": "1"})
    r = whoami(server, {"Authorization": "Bearer direct-token"}, "/direct-bearer")
    assert r.json() == {"direct": {"sub": "bearer", "source": "bearer"}}
    r = whoami(server, {"Authorization": "Bearer nope"}, "/direct-bearer")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["www-authenticate"] == "Bearer"
    r = whoami(server, {"X-Custom-Key": "direct-key"}, "/direct-key")
    assert r.json() == {"direct": {"sub": "apikey", "source": "apikey"}}
    r = whoami(server, {}, "/direct-key")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "ApiKey"


# --- brute-force limiter -------------------------------------------------------------------------------

def test_bruteforce_ban_is_not_escaped_by_varying_the_password(serve):
    server = serve(APP, env={"MAX_FAILS": "5"})
    for i in range(5):
        r = whoami(server, basic("carol", f"guess-{i}"))
        assert r.status_code == 200 and r.json()["user"] is None
    r = whoami(server, basic("carol", "plain-pass"))  # even the right password is refused now
    assert (r.status_code, r.text) == (429, "Too Many Requests")
    assert 1 <= int(r.headers["retry-after"]) <= 300
    assert whoami(server, {"Authorization": "Bearer tok-admin"}).status_code == 429  # other credential too
    assert whoami(server).status_code == 429  # the ban is on the client


def test_success_does_not_reset_the_failure_count(serve):
    # failures expire with the window, never with a success: a success in between would let a
    # client guess max_fails - 1 times, log in (or view a page on its own session), and repeat
    server = serve(APP, env={"MAX_FAILS": "3"})
    for _ in range(2):
        whoami(server, basic("carol", "bad"))
    assert whoami(server, basic("carol", "plain-pass")).json()["user"]["username"] == "carol"
    whoami(server, basic("carol", "bad"))  # the third failure of the window: banned
    assert whoami(server, basic("carol", "plain-pass")).status_code == 429


def test_own_session_or_other_credential_does_not_lift_the_ban(serve):
    server = serve(APP, env={"MAX_FAILS": "3"})
    own = Browser(server.base)
    own.post("/session-login")  # the attacker's own, valid session
    statuses = []
    for _ in range(3):  # two guesses, then a page view on the own session, three times over
        for _ in range(2):
            statuses.append(whoami(server, basic("carol", "guess")).status_code)
        statuses.append(own.get("/whoami").status_code)
    assert statuses[:3] == [200, 200, 200] and 429 in statuses
    assert own.get("/whoami").status_code == 429  # the own session does not lift the ban
    assert whoami(server, {"Authorization": "Bearer tok-admin"}).status_code == 429  # nor another credential


def test_anonymous_requests_do_not_count_without_enforce(serve):
    server = serve(APP, env={"MAX_FAILS": "2"})
    for _ in range(5):
        assert whoami(server).status_code == 200


def test_enforce_counts_anonymous_failures(serve):
    server = serve(APP, env={"MAX_FAILS": "2", "ENFORCE": "1"})
    assert whoami(server).status_code == 401
    assert whoami(server).status_code == 401
    assert whoami(server).status_code == 429


def test_ban_expires(serve):
    import time

    server = serve(APP, env={"MAX_FAILS": "1", "BAN_MS": "800"})
    whoami(server, basic("carol", "bad"))
    assert whoami(server, basic("carol", "plain-pass")).status_code == 429
    time.sleep(1.0)
    assert whoami(server, basic("carol", "plain-pass")).status_code == 200


def test_forwarding_headers_are_ignored_unless_trusted(serve):
    server = serve(APP, env={"MAX_FAILS": "2"})
    for i in range(2):  # a spoofed X-Forwarded-For per attempt does not give a fresh key
        whoami(server, {**basic("carol", "bad"), "X-Forwarded-For": f"10.0.0.{i}"})
    assert whoami(server, {"X-Forwarded-For": "10.9.9.9"}).status_code == 429
    trusting = serve(APP, env={"MAX_FAILS": "2", "TRUST_PROXY": "1"})
    for _ in range(2):
        whoami(trusting, {**basic("carol", "bad"), "X-Forwarded-For": "10.0.0.1, 10.0.0.2"})
    assert whoami(trusting, {"X-Forwarded-For": "10.0.0.1"}).status_code == 429
    assert whoami(trusting, {"X-Real-IP": "10.0.0.7"}).status_code == 200
    assert whoami(trusting, {"X-Forwarded-For": "10.0.0.8"}).status_code == 200


def test_ipv6_clients_are_keyed_by_their_64_prefix(serve):
    # one IPv6 client owns at least a /64: rotating the low 64 bits must not give a fresh key
    server = serve(APP, env={"MAX_FAILS": "3", "TRUST_PROXY": "1"})
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:aaaa::7", "2001:DB8:1:2:ffff:ffff:ffff:fffe"):
        assert whoami(server, {**basic("carol", "bad"), "X-Forwarded-For": host}).status_code == 200
    assert whoami(server, {"X-Forwarded-For": "2001:db8:1:2:1234::9"}).status_code == 429
    assert whoami(server, {"X-Forwarded-For": "2001:db8:1:3::1"}).status_code == 200  # another /64


def test_flooding_the_key_cap_does_not_evict_a_ban(serve):
    server = serve(APP, env={"MAX_FAILS": "2", "TRUST_PROXY": "1", "MAX_KEYS": "4"})
    banned = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(2):
        whoami(server, {**basic("carol", "bad"), **banned})
    assert whoami(server, banned).status_code == 429
    for i in range(20):  # one failure each from 20 other addresses: far over max_keys
        whoami(server, {**basic("carol", "bad"), "X-Forwarded-For": f"198.51.100.{i}"})
    assert whoami(server, {**basic("carol", "plain-pass"), **banned}).status_code == 429


def test_redis_limiter_bans_across_processes(serve, redis_server):
    import uuid

    env = {"MAX_FAILS": "4", "REDIS_LIMITER": redis_server.url, "LIMITER_PREFIX": f"t:{uuid.uuid4().hex}:"}
    one, two = serve(APP, env=env), serve(APP, env=env)
    for server in (one, two, one):
        assert whoami(server, basic("carol", "bad")).status_code == 200
    assert whoami(two, basic("carol", "plain-pass")).status_code == 200  # a success clears nothing
    r = whoami(two, basic("carol", "bad"))  # the 4th failure, counted by the other process: banned
    assert r.status_code == 200
    for server in (one, two):
        r = whoami(server, basic("carol", "plain-pass"))
        assert r.status_code == 429 and 200 <= int(r.headers["retry-after"]) <= 300


def test_redis_limiter_fails_open_when_redis_is_down(serve, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    url = redis.url
    redis.stop()
    server = serve(APP, env={"MAX_FAILS": "1", "REDIS_LIMITER": url})
    for _ in range(3):
        assert whoami(server, basic("carol", "bad")).status_code == 200
    assert whoami(server, basic("carol", "plain-pass")).json()["user"]["username"] == "carol"
    assert "auth_limiter_store_error" in server.logs()


# --- limiter in process ----------------------------------------------------------------------------

def _request(headers=None, client=("192.0.2.1", 5000)):
    import viperhttp

    return viperhttp.Request("POST", "/login", headers=headers or {}, client=client)


def test_limiter_keys_and_bounded_state():
    from viperhttp_auth import AuthRateLimiter

    lim = AuthRateLimiter(max_fails=2, max_keys=3)
    assert lim.key(_request(basic("a", "b"))) == "ip:192.0.2.1"
    assert lim.key(_request(client=("2001:db8::1:2:3:4", 1))) == "ip:2001:db8::/64"
    assert lim.key(_request(client=("::ffff:192.0.2.9", 1))) == "ip:192.0.2.9"
    assert lim.key(_request(basic("a", "b"), client=None)).startswith("auth:")
    assert lim.key(_request({"X-API-Key": "k"}, client=None)).startswith("key:")
    assert lim.key(_request({"User-Agent": "curl"}, client=None)).startswith("ua:")
    assert lim.key(_request(client=None)) == "anon"
    assert AuthRateLimiter(key_fn=lambda r: "custom").key(_request()) == "custom"
    assert AuthRateLimiter(key_fn=lambda r: None).key(_request()) == "ip:192.0.2.1"
    for i in range(10):
        lim.record_failure(_request(client=(f"198.51.100.{i}", 1)))
    assert len(lim) == 3
    req = _request()
    lim.record_failure(req)
    assert lim.check(req)
    lim.record_failure(req)
    assert not lim.check(req) and lim.retry_after(req) == 300
    with pytest.raises(ValueError):
        AuthRateLimiter(max_fails=0)


def test_token_and_key_maps_are_looked_up_by_digest_not_by_the_secret():
    # plain maps are re-keyed by SHA-256 at construction, so the lookup compares digests (the
    # over-the-wire behaviour for plain and hashed maps is test_every_backend_ok)
    from viperhttp_auth import APIKeyAuth, BearerAuth, sha256_hex

    plain = BearerAuth(tokens={"tok-1": {"sub": "a"}})
    hashed = BearerAuth(tokens={sha256_hex("tok-2").upper(): {"sub": "b"}}, tokens_hashed=True)
    keys = APIKeyAuth(keys={"key-1": {"sub": "c"}})
    hashed_keys = APIKeyAuth(keys={sha256_hex("key-2"): {"sub": "d"}}, keys_hashed=True)
    for backend in (plain, hashed, keys, hashed_keys):
        assert all(len(k) == 64 for k in backend._table)
    assert "tok-1" not in plain._table and "key-1" not in keys._table
    assert plain.authenticate(_request({"Authorization": "Bearer tok-1"})) == {"sub": "a"}
    assert hashed.authenticate(_request({"Authorization": "Bearer tok-2"})) == {"sub": "b"}
    assert keys.authenticate(_request({"X-API-Key": "key-1"})) == {"sub": "c"}
    assert hashed_keys.authenticate(_request({"X-API-Key": "key-2"})) == {"sub": "d"}
    assert plain.authenticate(_request({"Authorization": "Bearer " + sha256_hex("tok-1")})) is None
    assert hashed_keys.authenticate(_request({"X-API-Key": sha256_hex("key-2")})) is None


# --- examples/sessions_auth.py ---------------------------------------------------------------------

def test_example_sessions_auth_documented_flow(serve):
    from pathlib import Path

    script = "examples/sessions_auth.py"
    doc = (Path(__file__).resolve().parent.parent / script).read_text()
    assert f"Run: .venv/bin/python {script} [PORT]" in doc
    server = serve(script)
    b = Browser(server.base)
    # curl -c jar -d 'username=ada&password=lovelace' localhost:8080/login
    r = b.post("/login", data={"username": "ada", "password": "lovelace"})
    assert r.status_code == 200 and r.json()["user"] == "ada"
    token = r.json()["csrf"]
    # curl -b jar localhost:8080/me
    assert b.get("/me").json() == {"user": {"sub": "ada", "roles": ["admin"]}, "via": "session"}
    assert b.get("/admin").json() == {"admin": "ada"}
    # curl -H 'Authorization: Bearer demo-token' localhost:8080/admin
    assert whoami(server, {"Authorization": "Bearer demo-token"}, "/admin").json() == {"admin": "robot"}
    assert b.post("/logout").status_code == 403  # logged in: the CSRF token is required
    assert b.post("/logout", headers={"X-CSRF-Token": token}).json() == {"ok": True}
    assert b.get("/me").status_code == 401
    for i in range(5):
        assert Browser(server.base).post("/login", data={"username": "ada", "password": f"x{i}"}).status_code == 401
    assert Browser(server.base).post("/login", data={"username": "ada", "password": "lovelace"}).status_code == 429
    assert server.stop() == 0, server.logs()


def test_redis_limiter_blocking_forms(redis_server):
    import uuid

    from viperhttp_auth import RedisAuthRateLimiter

    lim = RedisAuthRateLimiter(redis_server.url, prefix=f"t:{uuid.uuid4().hex}:", max_fails=2, ban_ms=5000)
    req = _request()
    lim.record_failure(req)
    assert lim.check(req)
    lim.record_failure(req)
    assert not lim.check(req) and 1 <= lim.retry_after(req) <= 5
    lim.record_success(req)  # a success does not lift the ban
    assert not lim.check(req)
    lim.close()
    with pytest.raises(ValueError):
        RedisAuthRateLimiter("http://nope/0")

"""Sessions and CSRF (docs/internals/sessions-auth.md) over real sockets: tests/apps/sessions_app.py
with memory, VFS and Redis stores; a real redis-server from the `redis_server` fixture."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from pathlib import Path

import pytest

from support.logs import wait_for_log

from support.browser import Browser, session_cookie, set_cookies
from support.redis_cmd import redis_cmd
from support.redis_server import RedisServer

APP = "apps/sessions_app.py"
SECRET = b"test-secret"
COOKIE_RE = re.compile(r"^vhttp_session=([0-9a-f]{32})\.([0-9a-f]{64}); Max-Age=3600; Path=/; HttpOnly; SameSite=Lax$")


def sid_of(cookie: str) -> str:
    return cookie.split(".", 1)[0]


def signed(sid: str, key: bytes = SECRET) -> str:
    return f"{sid}.{hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()}"


def logged_in(server) -> Browser:
    b = Browser(server.base)
    r = b.login()
    assert r.status_code == 200, r.text
    return b


# --- cookie, login, logout ---------------------------------------------------------------------

def test_login_sets_a_signed_cookie_with_the_documented_attributes(serve):
    server = serve(APP)
    b = Browser(server.base)
    r = b.login()
    assert r.status_code == 200
    lines = [c for c in set_cookies(r) if c.startswith("vhttp_session=")]
    assert len(lines) == 1
    m = COOKIE_RE.match(lines[0])
    assert m, lines[0]
    sid, sig = m.groups()
    assert hmac.compare_digest(sig, hmac.new(SECRET, sid.encode(), hashlib.sha256).hexdigest())
    me = b.get("/me").json()
    assert me["user"] == {"sub": "alice", "roles": ["admin"]}
    assert me["sid"] == sid and me["new"] is False


def test_session_ids_are_random_and_distinct(serve):
    server = serve(APP)
    sids = {sid_of(logged_in(server).cookie) for _ in range(5)}
    assert len(sids) == 5


def test_unchanged_anonymous_request_sets_no_cookie(serve):
    server = serve(APP)
    r = Browser(server.base).get("/me")
    assert r.status_code == 200 and r.json()["sid"] is None
    assert set_cookies(r) == []


def test_session_data_persists_and_unchanged_reads_send_no_cookie(serve):
    server = serve(APP)
    b = Browser(server.base)
    assert b.get("/visit").json() == {"visits": 1}
    first = b.cookie
    assert b.get("/visit").json() == {"visits": 2}
    assert b.cookie == first  # same session, re-saved
    r = b.get("/peek")
    assert r.json() == {"visits": 2, "len": 1}
    assert set_cookies(r) == []  # touch only: the cookie is not re-sent


def test_logout_deletes_the_session_and_clears_the_cookie(serve):
    server = serve(APP)
    b = logged_in(server)
    old = b.cookie
    r = b.post("/logout", headers={"X-CSRF-Token": b.get("/csrf").json()["token"]})
    assert r.status_code == 200
    assert "vhttp_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" in set_cookies(r)
    assert b.cookie is None
    replay = Browser(server.base, old).get("/me").json()
    assert replay["user"] is None and replay["sid"] is None


def test_what_is_written_after_invalidate_goes_into_a_new_session(serve):
    """A logout followed by a flash message: the old session is gone, the flash arrives in a
    new one (it was dropped without a word)."""
    server = serve(APP)
    b = logged_in(server)
    old = b.cookie
    r = b.post("/logout-flash", headers={"X-CSRF-Token": b.get("/csrf").json()["token"]})
    assert r.status_code == 200
    assert b.cookie is not None and b.cookie != old
    me = b.get("/me").json()
    assert me["user"] is None and me["keys"] == ["flash"]
    replay = Browser(server.base, old).get("/me").json()
    assert replay["user"] is None and replay["sid"] is None


def test_app_set_cookie_is_kept_next_to_the_session_cookie(serve):
    server = serve(APP)
    r = Browser(server.base).get("/cookie-too")
    names = [c.split("=", 1)[0] for c in set_cookies(r)]
    assert names == ["theme", "vhttp_session"]


def test_deletion_cookie_carries_domain_and_secure_when_configured(serve):
    server = serve(APP, env={"SECURE": "1", "DOMAIN": "example.test"})
    b = Browser(server.base)
    r = b.login()
    line = [c for c in set_cookies(r) if c.startswith("vhttp_session=")][0]
    assert line.endswith("; Max-Age=3600; Path=/; Domain=example.test; HttpOnly; Secure; SameSite=Lax")
    token = r.json()["csrf"]
    r = b.post("/logout", headers={"X-CSRF-Token": token})
    assert "vhttp_session=; Max-Age=0; Path=/; Domain=example.test; HttpOnly; Secure; SameSite=Lax" in set_cookies(r)


# --- rotation, fixation, forgery ---------------------------------------------------------------

def test_login_rotates_the_session_id_so_a_planted_session_is_worthless(serve):
    server = serve(APP)
    attacker = Browser(server.base)
    attacker.get("/visit")  # the attacker gets a real anonymous session ...
    planted = attacker.cookie
    victim = Browser(server.base, planted)  # ... and plants its cookie in the victim's browser
    r = victim.login()
    assert r.status_code == 200
    assert victim.cookie != planted and sid_of(victim.cookie) != sid_of(planted)
    assert victim.get("/me").json()["user"]["sub"] == "alice"
    # the planted id no longer names any session: the attacker is not logged in
    me = Browser(server.base, planted).get("/me").json()
    assert me["user"] is None and me["sid"] is None


@pytest.mark.parametrize("split", ["0", "1"])
def test_login_rotation_and_csrf_follow_a_custom_user_key(serve, split):
    server = serve(APP, env={"USER_KEY": "account", "SPLIT_CSRF": split})
    attacker = Browser(server.base)
    known = attacker.get("/csrf").json()["token"]
    planted = attacker.cookie
    victim = Browser(server.base, planted)
    fresh = victim.login().json()["csrf"]
    assert sid_of(victim.cookie) != sid_of(planted) and fresh != known  # rotated, new token
    assert Browser(server.base, planted).get("/me").json()["user"] is None
    assert victim.post("/action").status_code == 403  # "account" counts as logged in for CSRF
    assert victim.post("/action", headers={"X-CSRF-Token": fresh}).status_code == 200


def test_explicit_rotate_deletes_the_old_id(serve):
    server = serve(APP)
    b = Browser(server.base)
    b.get("/visit")
    old_cookie = b.cookie
    body = b.get("/rotate").json()
    assert body["old"] == sid_of(old_cookie) and body["new"] != body["old"]
    assert sid_of(b.cookie) == body["new"]
    assert b.get("/peek").json()["visits"] == 1  # data moved to the new id
    assert Browser(server.base, old_cookie).get("/peek").json()["visits"] is None


def test_forged_or_unsigned_cookie_is_no_session(serve):
    server = serve(APP)
    b = logged_in(server)
    sid, sig = b.cookie.split(".")
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    for value in (f"{sid}.{flipped}", sid, signed(sid, b"other-secret"), f"{sid}.", "../../etc/passwd",
                  f"{sid.upper()}.{sig}", "x" * 5000):
        r = Browser(server.base, value).get("/me")
        assert r.status_code == 200
        assert r.json()["user"] is None, value


def test_planted_well_formed_id_is_never_adopted(serve):
    # unsigned cookies: any 32-hex value is well formed, but an unknown id gets a fresh one
    server = serve(APP, env={"SIGN": "0"})
    planted = "ab" * 16
    b = Browser(server.base, planted)
    b.get("/visit")
    assert b.cookie and b.cookie != planted and re.fullmatch(r"[0-9a-f]{32}", b.cookie)


def test_session_expires_after_ttl(serve):
    server = serve(APP, env={"TTL_MS": "1200"})
    b = logged_in(server)
    r = b.get("/me")
    assert r.json()["user"] is not None
    time.sleep(1.6)
    assert b.get("/me").json()["user"] is None


def test_memory_store_sweeps_sessions_past_their_expiry(serve):
    # Found by the soak (docs/internals/benchmarks.md "Soak"): visitors who log in and never
    # come back left their expired sessions in the memory store until it reached
    # max_sessions; a `set` now sweeps them once per gc_interval_ms (60 s by default).
    server = serve(APP, env={"TTL_MS": "60000", "CLOCK": "1"})
    for _ in range(30):
        logged_in(server)
    probe = Browser(server.base)
    assert probe.get("/test/store-size").json() == {"size": 30}
    probe.get("/test/advance?ms=120000")  # two TTLs later: all 30 expired
    logged_in(server)
    assert probe.get("/test/store-size").json() == {"size": 1}


def test_reads_extend_the_session_in_the_store(serve):
    server = serve(APP, env={"TTL_MS": "1500"})
    b = logged_in(server)
    for _ in range(4):  # 2 s in total, but each read is under the TTL since the last one
        time.sleep(0.5)
        assert b.get("/me").json()["user"] is not None


# --- Session object over the wire --------------------------------------------------------------

def test_del_key_and_nested_mark_dirty_are_saved(serve):
    server = serve(APP)
    b = Browser(server.base)
    b.get("/visit")
    assert b.post("/forget").status_code == 200  # anonymous: not CSRF-checked
    assert b.get("/peek").json() == {"visits": None, "len": 0}
    assert b.get("/nested").json() == {"items": []}
    assert b.get("/nested").json() == {"items": [0]}
    assert b.get("/nested").json() == {"items": [0, 1]}


def test_session_too_large_is_a_500_and_a_log_line(serve):
    server = serve(APP, env={"MAX_BYTES": "1024"})
    r = Browser(server.base).get("/big")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert "session too large" in server.logs()
    assert "Traceback" not in r.text


def test_a_failed_save_after_rotation_keeps_the_old_session(serve):
    server = serve(APP, env={"MAX_BYTES": "1024"})
    b = Browser(server.base)
    b.get("/visit")
    r = b.get("/rotate-big")  # rotate, then a save that fails (session too large)
    assert r.status_code == 500
    assert b.get("/peek").json() == {"visits": 1, "len": 1}  # the old id still names the session


# --- CSRF ----------------------------------------------------------------------------------------

def csrf_client(server):
    b = logged_in(server)
    token = b.get("/csrf").json()["token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    return b, token


def test_csrf_token_is_required_for_logged_in_unsafe_requests(serve):
    server = serve(APP)
    b, token = csrf_client(server)
    r = b.post("/action")
    assert (r.status_code, r.text) == (403, "Invalid CSRF token")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = b.post("/action", headers={"X-CSRF-Token": "0" * 32})
    assert (r.status_code, r.text) == (403, "Invalid CSRF token")
    r = b.post("/action", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json() == {"done": True, "token_seen": True}


def test_login_response_token_works_after_rotation(serve):
    server = serve(APP)
    b = Browser(server.base)
    b.get("/visit")
    token = b.login().json()["csrf"]
    assert b.post("/action", headers={"X-CSRF-Token": token}).status_code == 200


def test_login_hands_out_a_fresh_csrf_token_and_refuses_the_planted_one(serve):
    server = serve(APP)
    attacker = Browser(server.base)
    known = attacker.get("/csrf").json()["token"]  # the attacker's session, and its token ...
    victim = Browser(server.base, attacker.cookie)  # ... planted in the victim's browser
    fresh = victim.login().json()["csrf"]  # the login handler calls get_csrf_token()
    assert fresh != known
    assert victim.post("/action", headers={"X-CSRF-Token": known}).status_code == 403
    assert victim.post("/action", headers={"X-CSRF-Token": fresh}).status_code == 200
    assert victim.get("/csrf").json()["token"] == fresh  # the fresh token is the stored one


def test_token_known_before_login_is_replaced_when_not_handed_out(serve):
    server = serve(APP)
    b = Browser(server.base)
    known = b.get("/csrf").json()["token"]  # e.g. learnt by whoever planted the session
    assert b.post("/login-quiet").status_code == 200
    assert b.post("/action", headers={"X-CSRF-Token": known}).status_code == 403
    fresh = b.get("/csrf").json()["token"]
    assert fresh != known
    assert b.post("/action", headers={"X-CSRF-Token": fresh}).status_code == 200


def test_csrf_origin_checks(serve):
    server = serve(APP)
    b, token = csrf_client(server)
    ok = {"X-CSRF-Token": token}
    host = f"127.0.0.1:{server.port}"
    assert b.post("/action", headers={**ok, "Origin": f"http://{host}"}).status_code == 200
    assert b.post("/action", headers={**ok, "Origin": f"https://{host.upper()}"}).status_code == 200  # scheme/case
    assert b.post("/action", headers={**ok, "Origin": "https://trusted.example"}).status_code == 200
    assert b.post("/action", headers={**ok, "Referer": f"http://{host}/page?x=1"}).status_code == 200
    for bad in ({"Origin": "https://evil.example"}, {"Origin": "http://127.0.0.1:1"}, {"Origin": "null"},
                {"Referer": "https://evil.example/x"}, {"Origin": f"http://{host}", "Referer": "https://evil.example/"}):
        r = b.post("/action", headers={**ok, **bad})
        assert (r.status_code, r.text) == (403, "Invalid CSRF origin"), bad
    # the origin check runs before the token check
    r = b.post("/action", headers={"Origin": "https://evil.example"})
    assert r.text == "Invalid CSRF origin"


def test_missing_origin_policy(serve):
    strict = serve(APP, env={"CSRF_ALLOW_MISSING_ORIGIN": "0"})
    b, token = csrf_client(strict)
    r = b.post("/action", headers={"X-CSRF-Token": token})
    assert (r.status_code, r.text) == (403, "Invalid CSRF origin")
    assert b.post("/action", headers={"X-CSRF-Token": token,
                                      "Origin": f"http://127.0.0.1:{strict.port}"}).status_code == 200


def test_csrf_exempt_paths_and_anonymous_requests(serve):
    server = serve(APP)
    b, _ = csrf_client(server)
    assert b.post("/hook").status_code == 200
    assert b.post("/exempt/anything").json() == {"exempt": "anything"}
    assert b.post("/hook/").status_code == 403  # not the exact path: checked
    assert b.post("/exemptx").status_code == 403  # the prefix is "/exempt/"
    assert b.post("/action").status_code == 403
    assert Browser(server.base).post("/action").status_code == 200  # no user: not checked


def test_csrf_form_field_is_accepted_when_configured(serve):
    server = serve(APP, env={"CSRF_FORM_FIELD": "csrf_token"})
    b, token = csrf_client(server)
    r = b.post("/action", data={"csrf_token": token, "x": "1"})
    assert r.status_code == 200
    r = b.post("/action", data={"csrf_token": "nope"})
    assert (r.status_code, r.text) == (403, "Invalid CSRF token")
    r = b.post("/action", files={"csrf_token": (None, token)})  # multipart
    assert r.status_code == 200
    r = b.post("/action", content=b"csrf_token=%zz&&&", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 403  # malformed body: no token, never a 500


def test_csrf_form_field_is_ignored_by_default(serve):
    server = serve(APP)
    b, token = csrf_client(server)
    assert b.post("/action", data={"csrf_token": token}).status_code == 403


def test_split_csrf_middleware_from_viperhttp_middleware(serve):
    server = serve(APP, env={"SPLIT_CSRF": "1"})
    b, token = csrf_client(server)
    assert b.post("/action").text == "Invalid CSRF token"
    assert b.post("/action", headers={"X-CSRF-Token": token}).status_code == 200
    assert b.post("/action", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}).status_code == 403


def test_split_csrf_middleware_with_its_own_token_key(serve):
    server = serve(APP, env={"SPLIT_CSRF": "1", "CSRF_TOKEN_KEY": "my_csrf"})
    b, token = csrf_client(server)  # get_csrf_token() must store the token where the check reads it
    assert b.post("/action", headers={"X-CSRF-Token": token}).status_code == 200
    assert b.post("/action", headers={"X-CSRF-Token": "0" * 32}).status_code == 403
    assert "my_csrf" in b.get("/me").json()["keys"]


# --- stores --------------------------------------------------------------------------------------

def test_vfs_store_survives_a_restart(serve, tmp_path):
    directory = tmp_path / "sessions"
    env = {"STORE": "vfs", "SESSION_DIR": str(directory)}
    first = serve(APP, env=env)
    b = logged_in(first)
    sid = sid_of(b.cookie)
    doc = json.loads((directory / f"{sid}.json").read_text())
    assert set(doc) == {"exp", "at", "data"} and doc["data"]["user"]["sub"] == "alice"
    assert doc["exp"] > time.time() * 1000  # wall-clock epoch ms
    first.stop()
    second = serve(APP, env=env)
    assert Browser(second.base, b.cookie).get("/me").json()["user"]["sub"] == "alice"
    assert not list(directory.glob("*.tmp"))


def test_vfs_session_files_are_private_to_the_server_user(serve, tmp_path):
    directory = tmp_path / "private" / "sessions"
    old_umask = os.umask(0o022)  # the usual umask: without explicit modes, files would be 0644
    try:
        server = serve(APP, env={"STORE": "vfs", "SESSION_DIR": str(directory)})
    finally:
        os.umask(old_umask)
    b = logged_in(server)
    assert directory.stat().st_mode & 0o777 == 0o700
    path = directory / f"{sid_of(b.cookie)}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    b.get("/visit")  # a rewrite keeps the mode
    assert path.stat().st_mode & 0o777 == 0o600


def test_vfs_store_leaves_another_processes_temp_file_alone(serve, tmp_path):
    directory = tmp_path / "sessions"
    directory.mkdir()
    sid = "ab" * 16
    fresh = directory / f"{sid}.json.4242.0badc0de.tmp"  # another process, mid-write
    fresh.write_text('{"exp":')
    stale = [directory / f"{sid}.json.tmp", directory / f"{'cd' * 16}.json.77.12345678.tmp"]
    for path in stale:  # crash leftovers, older than a minute
        path.write_text("{")
        os.utime(path, (time.time() - 120, time.time() - 120))
    server = serve(APP, env={"STORE": "vfs", "SESSION_DIR": str(directory)})
    assert Browser(server.base).get("/visit").status_code == 200  # the store indexes the directory
    assert fresh.exists()
    assert not any(path.exists() for path in stale)


def test_two_processes_writing_one_vfs_directory(serve, tmp_path):
    import threading

    env = {"STORE": "vfs", "SESSION_DIR": str(tmp_path / "sessions")}
    one, two = serve(APP, env=env), serve(APP, env=env)
    b = Browser(one.base)
    b.get("/visit")
    cookie = b.cookie
    statuses = []

    def hammer(server):
        for _ in range(60):  # the same session, rewritten by both processes at once
            statuses.append(Browser(server.base, cookie).get("/visit").status_code)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in (one, two, one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}, (statuses.count(500), one.logs()[-2000:], two.logs()[-2000:])
    assert not list((tmp_path / "sessions").glob("*.tmp"))


def test_default_store_is_files_under_the_working_directory(serve, tmp_path):
    server = serve(APP, env={"STORE": "default", "VIPERHTTP_SHARED_STORE": ""}, cwd=tmp_path)
    b = Browser(server.base)
    b.get("/visit")
    assert (tmp_path / "sessions" / f"{sid_of(b.cookie)}.json").exists()


def test_redis_sessions_are_shared_between_processes(serve, redis_server):
    env = {"STORE": "redis", "REDIS_URL": redis_server.url}
    one, two = serve(APP, env=env), serve(APP, env=env)
    b = logged_in(one)
    sid = sid_of(b.cookie)
    assert redis_cmd(redis_server.port, "EXISTS", f"vhttp:sess:{sid}") == 1
    ttl = redis_cmd(redis_server.port, "PTTL", f"vhttp:sess:{sid}")
    assert 3_500_000 < ttl <= 3_600_000
    other = Browser(two.base, b.cookie)
    assert other.get("/me").json()["user"]["sub"] == "alice"
    assert other.get("/visit").json() == {"visits": 1}
    assert b.get("/peek").json()["visits"] == 1  # written by process two, read by process one
    token = b.get("/csrf").json()["token"]
    assert other.post("/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert Browser(one.base, b.cookie).get("/me").json()["user"] is None
    assert redis_cmd(redis_server.port, "EXISTS", f"vhttp:sess:{sid}") == 0


def test_shared_store_setting_selects_redis(serve, redis_server):
    server = serve(APP, env={"STORE": "default", "VIPERHTTP_SHARED_STORE": redis_server.url})
    b = Browser(server.base)
    b.get("/visit")
    assert redis_cmd(redis_server.port, "EXISTS", f"vhttp:sess:{sid_of(b.cookie)}") == 1


def _getex_calls(port: int) -> int:
    info = redis_cmd(port, "INFO", "commandstats")
    m = re.search(r"cmdstat_getex:calls=(\d+)", info)
    return int(m.group(1)) if m else 0


def test_one_redis_error_does_not_turn_getex_off(serve, redis_server):
    server = serve(APP, env={"STORE": "redis", "REDIS_URL": redis_server.url})
    b = logged_in(server)
    sid = "ef" * 16
    redis_cmd(redis_server.port, "HSET", f"vhttp:sess:{sid}", "not", "a string")  # GETEX → WRONGTYPE
    try:
        r = Browser(server.base, signed(sid)).get("/me")
        assert r.status_code == 503  # a store error, as for GET
    finally:
        redis_cmd(redis_server.port, "DEL", f"vhttp:sess:{sid}")
    before = _getex_calls(redis_server.port)
    assert b.get("/me").json()["user"]["sub"] == "alice"
    assert _getex_calls(redis_server.port) == before + 1  # still one GETEX round trip per read


def test_redis_down_is_a_503_not_a_hang_or_a_logout(serve, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    try:
        server = serve(APP, env={"STORE": "redis", "REDIS_URL": redis.url})
        b = logged_in(server)
        redis.stop()
        started = time.monotonic()
        r = b.get("/me")
        assert (r.status_code, r.text) == (503, "Session store unavailable")
        assert r.headers["retry-after"] == "1"
        assert time.monotonic() - started < 5
        assert b.cookie is not None  # no deletion cookie: the client is not logged out
        assert "session_store_error" in server.logs()
        r = Browser(server.base).get("/visit")  # a new session cannot be saved either
        assert r.status_code == 503
        for _ in range(5):
            assert b.get("/me").status_code == 503
        redis.start()  # back (empty: no persistence) → requests work again
        assert Browser(server.base).get("/visit").status_code == 200
        # one line when the outage began and one when it ended, not one per refused request
        logs = wait_for_log(server, "session store reachable again")
        assert logs.count("session_store_error") == 1 and "session store reachable again" in logs, logs
    finally:
        redis.stop()


# --- stores in process (pinned store LRU behaviour) ----------------------------------------------

def test_vfs_store_lru_and_reopen(tmp_path):
    from viperhttp_session import VFSSessionStore

    a, b, c = ("a" * 32, "b" * 32, "c" * 32)
    store = VFSSessionStore(str(tmp_path), max_sessions=2)
    store.set(a, {"n": 1})
    store.set(b, {"n": 2})
    assert store.get(a) == {"n": 1}
    store.set(c, {"n": 3})
    assert store.get(b) is None
    assert store.get(a) == {"n": 1} and store.get(c) == {"n": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{a}.json", f"{c}.json"]
    reopened = VFSSessionStore(str(tmp_path), max_sessions=1)
    reopened.compact(force=True)
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_vfs_store_limits_expiry_and_bad_files(tmp_path):
    from viperhttp_session import VFSSessionStore

    (tmp_path / ("d" * 32 + ".json")).write_text("{not json")
    (tmp_path / "notes.txt").write_text("kept")
    store = VFSSessionStore(str(tmp_path), ttl_ms=50, max_bytes=64, max_total_bytes=200)
    assert store.get("d" * 32) is None and not (tmp_path / ("d" * 32 + ".json")).exists()
    assert (tmp_path / "notes.txt").exists()
    with pytest.raises(ValueError, match="session too large"):
        store.set("e" * 32, {"x": "y" * 100})
    with pytest.raises(ValueError):
        store.set("../escape", {})
    store.set("f" * 32, {"x": 1})
    time.sleep(0.08)
    assert store.get("f" * 32) is None
    for ch in "0123":
        store.set(ch * 32, {"x": "y" * 40}, ttl_ms=60000)
    assert sum(p.stat().st_size for p in tmp_path.glob("*.json")) <= 200


def test_memory_store_evicts_earliest_expiry(tmp_path):
    from viperhttp_session import MemorySessionStore

    store = MemorySessionStore(max_sessions=2)
    store.set("a" * 32, {"n": 1})
    store.set("b" * 32, {"n": 2})
    store.touch("a" * 32)
    store.set("c" * 32, {"n": 3})
    assert store.get("b" * 32) is None and store.get("a" * 32) == {"n": 1}
    with pytest.raises(ValueError, match="session too large"):
        MemorySessionStore(max_bytes=10).set("a" * 32, {"k": "0123456789"})


def test_a_full_memory_store_evicts_the_earliest_expiry_without_scanning(monkeypatch):
    # The eviction used to find the earliest expiry by scanning every entry (a 10,000-entry
    # scan per new session once full); it now pops a heap. The rule is the same: the earliest
    # expiry goes first (not the oldest write), equal expiries in write/touch order, expired
    # entries before any live one, and the heap survives many touches (stale items rebuilt).
    from viperhttp_session import store as store_mod

    clock = [1_000_000]
    monkeypatch.setattr(store_mod, "now_ms", lambda: clock[0])
    store = store_mod.MemorySessionStore(ttl_ms=1000, max_sessions=3, gc_interval_ms=0)
    store.set("long", {"n": 1}, ttl_ms=10_000)  # written first, expires last
    store.set("short", {"n": 2}, ttl_ms=500)
    store.set("mid", {"n": 3})
    store.set("new", {"n": 4})
    assert store.get("short") is None and [store.get(k) for k in ("long", "mid", "new")] == [
        {"n": 1}, {"n": 3}, {"n": 4}]
    for _ in range(500):  # each touch leaves a stale heap item behind
        store.touch("mid")
    store.touch("new")  # same expiry as mid, touched later: mid goes first
    store.set("newest", {"n": 5})
    assert store.get("mid") is None and store.get("new") == {"n": 4}
    clock[0] += 1500  # new and newest expired, long alive
    store.set("fresh", {"n": 6})  # over the limit: the sweep drops both expired entries
    assert len(store) == 2 and store.get("long") == {"n": 1} and store.get("fresh") == {"n": 6}
    assert store.compact() == 0 and store.gc() == 0
    clock[0] += 20_000
    assert store.gc() == 2 and len(store) == 0


def test_constructor_rules():
    from viperhttp_session import SessionMiddleware, MemorySessionStore

    with pytest.raises(ValueError, match="secret_key required when sign=True"):
        SessionMiddleware(None, store=MemorySessionStore())
    SessionMiddleware(None, sign=False, store=MemorySessionStore())
    with pytest.raises(ValueError):
        SessionMiddleware(None, secret_key="k", store=MemorySessionStore(), same_site="sometimes")
    with pytest.raises(ValueError):
        SessionMiddleware(None, secret_key="k", store=MemorySessionStore(), cookie_name="bad name")
    with pytest.raises(TypeError):
        SessionMiddleware(None, secret_key=1234, store=MemorySessionStore())


def test_redis_store_rejects_a_bad_url_at_construction():
    from viperhttp_session import RedisSessionStore

    with pytest.raises(ValueError):
        RedisSessionStore("http://not-redis:1/0")


def test_session_object_api():
    from viperhttp_session import Session

    s = Session()
    assert s.sid is None and len(s) == 0 and not s.dirty
    s["a"] = 1
    s.set("b", 2)
    assert s.dirty and "a" in s and sorted(s) == ["a", "b"] and s.to_dict() == {"a": 1, "b": 2}
    clean = Session("1" * 32, {"a": 1}, new=False)
    assert clean.pop("zz") is None and not clean.dirty
    clean.clear()
    assert clean.dirty and len(clean) == 0
    kept = Session("1" * 32, {"a": 1}, new=False)
    del kept["a"]
    assert kept.dirty
    with pytest.raises(KeyError):
        del kept["a"]
    kept.rotate()
    assert kept.sid != "1" * 32 and kept.rotated


def test_the_host_default_keeps_thousands_of_sessions(tmp_path):
    """(host mapping) 10,000 by default, not the device's 256: 300 cookie-less visits that each
    store a CSRF token no longer evict a logged-in user."""
    from viperhttp_session import MemorySessionStore, VFSSessionStore

    for store in (MemorySessionStore(), VFSSessionStore(str(tmp_path))):
        assert store.max_sessions == 10_000
        store.set("a" * 32, {"user": {"sub": "victim"}})
        for i in range(300):
            store.set(f"{i:032x}", {"_csrf": "t"})
        assert store.get("a" * 32) == {"user": {"sub": "victim"}}
    small = MemorySessionStore(max_sessions=256)  # the original's bound, when asked for
    small.set("a" * 32, {"user": 1})
    for i in range(300):
        small.set(f"{i:032x}", {})
    assert small.get("a" * 32) is None

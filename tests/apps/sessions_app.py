"""Test app for tests/test_sessions.py: SessionMiddleware with CSRF over a chosen store.

Environment: STORE=memory|vfs|redis (default memory), REDIS_URL, SESSION_DIR, TTL_MS,
MAX_BYTES, CSRF_ALLOW_MISSING_ORIGIN=0, CSRF_FORM_FIELD, SECURE=1, DOMAIN, SIGN=0,
CLOCK=1 (/test/advance moves the memory store's clock on), USER_KEY (the session key
holding the user, passed as user_key), SPLIT_CSRF=1 (CSRFMiddleware separately, via viperhttp.middleware; CSRF_TOKEN_KEY for its
token_key).
"""
import os
import sys

import viperhttp
import viperhttp_session
from viperhttp import middleware as mw

app = viperhttp.ViperHTTP()

ttl_ms = int(os.environ.get("TTL_MS", "3600000"))
max_bytes = int(os.environ.get("MAX_BYTES", "4096"))
kind = os.environ.get("STORE", "memory")
if kind == "redis":
    store = viperhttp_session.RedisSessionStore(os.environ["REDIS_URL"], ttl_ms=ttl_ms, max_bytes=max_bytes)
elif kind == "vfs":
    store = viperhttp_session.VFSSessionStore(os.environ["SESSION_DIR"], ttl_ms=ttl_ms, max_bytes=max_bytes,
                                              max_sessions=int(os.environ.get("MAX_SESSIONS", "256")))
elif kind == "default":
    store = None
else:
    store = viperhttp_session.MemorySessionStore(ttl_ms=ttl_ms, max_bytes=max_bytes)

split = os.environ.get("SPLIT_CSRF") == "1"
USER_KEY = os.environ.get("USER_KEY", "user")
csrf_options = dict(
    csrf_exempt_paths=["/hook", "/exempt/*"],
    csrf_trusted_origins=["https://trusted.example"],
    csrf_allow_missing_origin=os.environ.get("CSRF_ALLOW_MISSING_ORIGIN", "1") == "1",
    csrf_form_field=os.environ.get("CSRF_FORM_FIELD") or None,
)
options = dict(
    secret_key="test-secret" if os.environ.get("SIGN", "1") == "1" else None,
    sign=os.environ.get("SIGN", "1") == "1",
    store=store, ttl_ms=ttl_ms, secure=os.environ.get("SECURE") == "1",
    domain=os.environ.get("DOMAIN") or None,
)
if USER_KEY != "user":
    options["user_key"] = USER_KEY
if split:
    app.add_middleware(mw.SessionMiddleware, csrf_protect=False, **options)
    app.add_middleware(mw.CSRFMiddleware, exempt_paths=csrf_options["csrf_exempt_paths"],
                       trusted_origins=csrf_options["csrf_trusted_origins"],
                       allow_missing_origin=csrf_options["csrf_allow_missing_origin"],
                       form_field=csrf_options["csrf_form_field"],
                       token_key=os.environ.get("CSRF_TOKEN_KEY", "_csrf"),
                       **({"user_key": USER_KEY} if USER_KEY != "user" else {}))
else:
    app.add_middleware(viperhttp_session.SessionMiddleware, **options, **csrf_options)

USERS = {"alice": "wonderland", "bob": "builder"}


@app.post("/login")
def login(request):
    form = request.form() if "form" in (request.headers.get("content-type") or "") else request.json()
    name, password = form.get("username"), form.get("password")
    if USERS.get(name) != password:
        raise viperhttp.HTTPException(401, "bad credentials")
    session = request.session
    session[USER_KEY] = {"sub": name, "roles": ["admin"] if name == "alice" else []}
    return {"ok": True, "csrf": viperhttp_session.get_csrf_token(request)}


@app.post("/login-quiet")
def login_quiet(request):
    request.session[USER_KEY] = {"sub": "bob", "roles": []}
    return {"ok": True}


@app.post("/logout")
def logout(request):
    request.session.invalidate()
    return {"ok": True}


@app.post("/logout-flash")
def logout_flash(request):
    request.session.invalidate()
    request.session["flash"] = "You have been logged out"
    return {"ok": True}


@app.get("/me")
def me(request):
    session = viperhttp_session.get_request_session(request)
    return {"user": session.get(USER_KEY), "sid": session.sid, "keys": sorted(session.keys()),
            "new": session.is_new}


@app.get("/visit")
def visit(request):
    session = request.session
    session["visits"] = session.get("visits", 0) + 1
    return {"visits": session["visits"]}


@app.get("/peek")
def peek(request):
    return {"visits": request.session.get("visits"), "len": len(request.session)}


@app.post("/forget")
def forget(request):
    del request.session["visits"]
    return {"ok": True}


@app.get("/nested")
def nested(request):
    session = request.session
    bag = session.get("bag")
    if bag is None:
        session["bag"] = {"items": []}
    else:
        bag["items"].append(len(bag["items"]))
        session.mark_dirty()
    return session.get("bag")


@app.get("/rotate")
def rotate(request):
    old = request.session.sid
    request.session.rotate()
    return {"old": old, "new": request.session.sid}


@app.get("/csrf")
def csrf(request):
    return {"token": viperhttp_session.get_csrf_token(request)}


@app.post("/action")
def action(request):
    return {"done": True, "token_seen": request.state.get("csrf_token") is not None}


@app.post("/hook")
def hook():
    return {"hook": True}


@app.post("/exempt/{name}")
def exempt(name):
    return {"exempt": name}


@app.get("/big")
def big(request):
    request.session["blob"] = "x" * 10000
    return {"stored": True}


@app.get("/rotate-big")
def rotate_big(request):
    request.session.rotate()
    request.session["blob"] = "x" * 10000  # the save of the new id fails
    return {"stored": True}


@app.get("/cookie-too")
def cookie_too(request):
    request.session["k"] = 1
    return viperhttp.Response(body="ok").set_cookie("theme", "dark")


if os.environ.get("CLOCK") == "1":
    # The memory store's clock, moved on by /test/advance: expiry is tested without waiting.
    import viperhttp_session.store as store_module

    offset = [0]
    real_now_ms = store_module.now_ms
    store_module.now_ms = lambda: real_now_ms() + offset[0]

    @app.get("/test/advance")
    def advance(ms: int):
        offset[0] += ms
        return {"offset": offset[0]}

    @app.get("/test/store-size")
    def store_size():
        return {"size": len(store)}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

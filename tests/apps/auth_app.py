"""Test app for tests/test_auth.py: AuthMiddleware over every backend, the rate limiter, the
dependency helpers and backends used directly as dependencies.

Environment: ENFORCE=1, STRICT=1, BACKENDS (comma list of session,bearer,apikey,basic; default
all), MAX_FAILS, BAN_MS, MAX_KEYS, TRUST_PROXY=1, NO_LIMITER=1, REDIS_LIMITER=<url> (+ LIMITER_PREFIX).
"""
import os
import sys

import viperhttp
import viperhttp_auth as auth
import viperhttp_session

app = viperhttp.ViperHTTP()

bearer = auth.BearerAuth(tokens={"tok-admin": {"sub": "root", "roles": ["admin", "ops"], "source": "bearer"},
                                 auth.sha256_hex("never-used"): {"sub": "x"}})
hashed_bearer = auth.BearerAuth(tokens={auth.sha256_hex("hashed-token"): {"sub": "h", "source": "bearer"}},
                                tokens_hashed=True)
apikey = auth.APIKeyAuth(keys={"key-1": {"sub": "svc", "roles": ["ops"], "source": "apikey"}})
basic = auth.BasicAuth(users={
    "carol": "plain-pass",
    "dave": "sha256:" + auth.sha256_hex("hashed-pass"),
    "erin": {"hash": "sha256:" + auth.sha256_hex("dict-pass"), "roles": ["admin"]},
    "frank": {"password": "frank-pass"},
})


class Broken(auth.AuthBackend):
    name = "broken"
    challenge = None

    def authenticate(self, request):
        if request.headers.get("x-break"):
            raise RuntimeError("backend bug")
        return None


available = {"session": auth.SessionAuth(), "bearer": bearer, "hashed": hashed_bearer, "apikey": apikey,
             "basic": basic, "broken": Broken()}
names = (os.environ.get("BACKENDS") or "broken,session,bearer,hashed,apikey,basic").split(",")
limiter_options = dict(max_fails=int(os.environ.get("MAX_FAILS", "5")), ban_ms=int(os.environ.get("BAN_MS", "300000")),
                       trust_proxy_headers=os.environ.get("TRUST_PROXY") == "1")
if os.environ.get("MAX_KEYS") and not os.environ.get("REDIS_LIMITER"):
    limiter_options["max_keys"] = int(os.environ["MAX_KEYS"])
if os.environ.get("NO_LIMITER") == "1":
    limiter = None
elif os.environ.get("REDIS_LIMITER"):
    limiter = auth.RedisAuthRateLimiter(os.environ["REDIS_LIMITER"], prefix=os.environ.get("LIMITER_PREFIX", "vhttp:auth:"),
                                        **limiter_options)
else:
    limiter = auth.AuthRateLimiter(**limiter_options)

app.add_middleware(viperhttp_session.SessionMiddleware, secret_key="s", store=viperhttp_session.MemorySessionStore(),
                   csrf_protect=False)
app.add_middleware(auth.AuthMiddleware, backends=[available[n] for n in names],
                   enforce=os.environ.get("ENFORCE") == "1", rate_limiter=limiter,
                   strict_challenge=os.environ.get("STRICT") == "1")


@app.get("/whoami")
def whoami(request):
    return {"user": request.user, "scheme": request.state.get("auth_scheme")}


@app.post("/session-login")
def session_login(request):
    request.session["user"] = {"sub": "sess", "roles": ["viewer"], "source": "session"}
    return {"ok": True}


@app.get("/me", deps={"user": viperhttp.Depends(auth.get_current_user)})
def me(user):
    return {"me": user}


@app.get("/bearer-only", deps={"user": viperhttp.Depends(lambda: auth.get_current_user("bearer"))})
def bearer_only(user):
    return {"me": user["sub"]}


@app.get("/admin", deps={"user": viperhttp.Depends(auth.require_roles(["admin"]))})
def admin(user):
    return {"admin": user.get("sub") or user.get("username")}


@app.get("/admin-ops", deps={"user": viperhttp.Depends(auth.require_roles(["admin", "ops"]))})
def admin_ops(user):
    return {"admin_ops": user.get("sub") or user.get("username")}


direct_bearer = auth.BearerAuth(token="direct-token")
direct_key = auth.APIKeyAuth(api_key="direct-key", header="X-Custom-Key")


@app.get("/direct-bearer", deps={"user": viperhttp.Depends(direct_bearer)})
def direct(user):
    return {"direct": user}


@app.get("/direct-key", deps={"user": viperhttp.Depends(direct_key)})
def direct_api_key(user):
    return {"direct": user}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

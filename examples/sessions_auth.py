"""Sessions, CSRF and authentication: log in with a form, then use the session or a token.

- `SessionMiddleware` keeps the user in a server-side session behind a signed cookie (memory store
  here; set REDIS_URL=redis://127.0.0.1:6379/0 to share sessions between processes).
- Logged-in POSTs need the CSRF token from the login answer in `X-CSRF-Token`.
- `AuthMiddleware` tries the session, then `Authorization: Bearer demo-token`; a client IP with
  5 failed logins or tokens in a minute is banned for 5 minutes (429 + Retry-After).
- `get_current_user` / `require_roles` guard routes (401 / 403).

Run: .venv/bin/python examples/sessions_auth.py [PORT]   (default 8080, or $PORT), then
  curl -c jar -d 'username=ada&password=lovelace' localhost:8080/login
  curl -b jar localhost:8080/me
  curl -H 'Authorization: Bearer demo-token' localhost:8080/admin
See docs/internals/sessions-auth.md.
"""
import hmac
import os
import sys
from typing import Any, Dict

import viperhttp
import viperhttp_auth as auth
import viperhttp_session as sessions
from viperhttp import Depends, HTTPException, Request

app = viperhttp.ViperHTTP(title="sessions and auth")
SECRET = os.environ.get("SESSION_SECRET", "change-me: a long random string")
USERS: Dict[str, Dict[str, Any]] = {
    "ada": {"password": "lovelace", "roles": ["admin"]},
    "bob": {"password": "builder", "roles": []},
}
REDIS_URL = os.environ.get("REDIS_URL")
store = sessions.RedisSessionStore(REDIS_URL) if REDIS_URL else sessions.MemorySessionStore()
limiter = auth.AuthRateLimiter(max_fails=5, window_ms=60_000, ban_ms=300_000)

app.add_middleware(sessions.SessionMiddleware, secret_key=SECRET, store=store)
app.add_middleware(auth.AuthMiddleware, rate_limiter=limiter, backends=[
    auth.SessionAuth(),
    auth.BearerAuth(tokens={"demo-token": {"sub": "robot", "roles": ["admin"], "source": "bearer"}}),
])


@app.post("/login")
def login(request: Request) -> Dict[str, Any]:
    form = request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    user = USERS.get(name)
    if user is None or not hmac.compare_digest(password.encode(), user["password"].encode()):
        limiter.record_failure(request)  # counts towards the IP's ban like a bad token
        raise HTTPException(401, "bad credentials")
    request.session["user"] = {"sub": name, "roles": user["roles"]}  # the session id rotates on save
    return {"user": name, "csrf": sessions.get_csrf_token(request)}


@app.post("/logout")
def logout(request: Request) -> Dict[str, Any]:
    request.session.invalidate()
    return {"ok": True}


@app.get("/me", deps={"user": Depends(auth.get_current_user)})
def me(user: Any, request: Request) -> Dict[str, Any]:
    return {"user": user, "via": request.state.get("auth_scheme")}


@app.get("/admin", deps={"user": Depends(auth.require_roles(["admin"]))})
def admin(user: Any) -> Dict[str, Any]:
    return {"admin": user["sub"]}


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    app.run(port=port, wifi=False)

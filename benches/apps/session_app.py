"""Bench app: an authenticated session route on viperhttp (benches/session_bench.sh).

`GET /login` stores a user in the session; `GET /me` answers 401 without one, else the user.
STORE=memory (default) or STORE=redis with REDIS_URL. Run: python session_app.py PORT
"""
import os
import sys

import viperhttp
import viperhttp_session

app = viperhttp.ViperHTTP()
if os.environ.get("STORE") == "redis":
    store = viperhttp_session.RedisSessionStore(os.environ["REDIS_URL"])
else:
    store = viperhttp_session.MemorySessionStore(max_sessions=10000)
app.add_middleware(viperhttp_session.SessionMiddleware, secret_key="bench-secret", store=store)


@app.get("/login")
def login(request):
    request.session["user"] = {"sub": "bench", "roles": ["user"]}
    return {"ok": True}


@app.get("/me")
async def me(request):
    user = request.session.get("user")
    if not user:
        raise viperhttp.HTTPException(401, "Not authenticated")
    return {"user": user["sub"]}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

"""Peer app for benches/session_bench.sh: the same /login and /me on FastAPI with Starlette's
SessionMiddleware (a signed cookie holding the data, re-signed on every response), on uvicorn."""
from fastapi import FastAPI, HTTPException, Request
from starlette.middleware.sessions import SessionMiddleware

app = FastAPI()
app.add_middleware(SessionMiddleware, secret_key="bench-secret")


@app.get("/login")
async def login(request: Request):
    request.session["user"] = {"sub": "bench", "roles": ["user"]}
    return {"ok": True}


@app.get("/me")
async def me(request: Request):
    user = request.session.get("user")
    if not user:
        raise HTTPException(401, "Not authenticated")
    return {"user": user["sub"]}

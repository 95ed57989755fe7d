"""Peer app for benches/run_workers.sh: /hello and a typed GET, on FastAPI (uvicorn, Granian).

`async def`, as FastAPI's users write them: a `def` handler costs FastAPI a hop to its thread
pool (issue 11; the scale-out table in docs/internals/benchmarks.md predates this change)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello():
    return {"msg": "ok"}


@app.get("/items/{item_id}")
async def item(item_id: int, q: str = "", limit: int = 10):
    return {"id": item_id, "q": q, "limit": limit}

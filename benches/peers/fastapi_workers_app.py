"""Peer app for benches/run_workers.sh: /hello and a typed GET, on FastAPI (uvicorn, Granian)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
def hello():
    return {"msg": "ok"}


@app.get("/items/{item_id}")
def item(item_id: int, q: str = "", limit: int = 10):
    return {"id": item_id, "q": q, "limit": limit}

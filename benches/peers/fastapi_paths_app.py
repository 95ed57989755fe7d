"""Peer app for benches/run.sh: the routes of benches/apps/paths_app.py on FastAPI.

`async def` handlers, as FastAPI's users write them (a `def` handler costs FastAPI a hop to its
thread pool). Served by uvicorn[standard] (uvloop, httptools) and by Granian (ASGI)."""
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/hello")
async def hello():
    return {"msg": "ok"}


@app.get("/ahello")
async def ahello():
    return {"msg": "ok"}


@app.get("/users/{user_id}")
async def user(user_id: int, verbose: bool = False):
    return {"id": user_id, "name": "user", "email": "user@example.com", "active": True,
            "score": 1.5, "verbose": verbose, "roles": ["a", "b"], "team": None}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "price": item.price, "tags": item.tags}

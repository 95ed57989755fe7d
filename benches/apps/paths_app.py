"""Bench app for the request path (docs/internals/benchmarks.md): sync hello, async hello,
a typed async GET returning 8 fields, and a JSON POST. The same routes as
benches/peers/fastapi_paths_app.py (FastAPI, `async def` as its users write them)."""
import sys

from pydantic import BaseModel

from viperhttp import ViperHTTP

app = ViperHTTP(docs=False)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/hello")
def hello():
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


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), wifi=False)

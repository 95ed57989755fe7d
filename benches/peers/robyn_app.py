"""Peer app for benches/run.sh: the routes of benches/apps/paths_app.py on Robyn (one process,
one worker), written the way Robyn's docs show: typed path/query parameters and a pydantic body
parameter, dicts returned as JSON. The hello route keeps `/hello` for the older benches."""
import sys

from pydantic import BaseModel
from robyn import Robyn

app = Robyn(__file__)


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


@app.get("/users/:user_id")
async def user(user_id: int, verbose: bool = False):
    return {"id": user_id, "name": "user", "email": "user@example.com", "active": True,
            "score": 1.5, "verbose": verbose, "roles": ["a", "b"], "team": None}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "price": item.price, "tags": item.tags}


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(sys.argv[1]))

"""FastAPI's response-model filters (tests/test_typed.py): `response_model_exclude_unset`,
`_exclude_defaults`, `_include`, `_exclude`, written as FastAPI's docs write them. The answers
were compared with FastAPI 0.165 serving the same app."""
import sys
from typing import List, Optional

from pydantic import BaseModel

from viperhttp import ViperHTTP

app = ViperHTTP()


class Item(BaseModel):
    name: str
    description: Optional[str] = None
    price: float
    tax: float = 10.5
    tags: List[str] = []


ITEMS = {
    "foo": {"name": "Foo", "price": 50.2},
    "bar": {"name": "Bar", "description": "The bartenders", "price": 62, "tax": 20.2},
    "baz": {"name": "Baz", "description": None, "price": 50.2, "tax": 10.5, "tags": []},
}


@app.get("/items/{item_id}", response_model=Item, response_model_exclude_unset=True)
async def read_item(item_id: str):
    return ITEMS[item_id]


@app.get("/model/{item_id}", response_model=Item, response_model_exclude_unset=True)
async def read_model(item_id: str):
    return Item(**ITEMS[item_id])


@app.get("/defaults/{item_id}", response_model=Item, response_model_exclude_defaults=True)
async def read_defaults(item_id: str):
    return ITEMS[item_id]


@app.get("/items/{item_id}/name", response_model=Item, response_model_include={"name", "description"})
async def read_item_name(item_id: str):
    return ITEMS[item_id]


@app.get("/items/{item_id}/public", response_model=Item, response_model_exclude=["tax"])
async def read_item_public_data(item_id: str):
    return ITEMS[item_id]


@app.get("/list", response_model=List[Item], response_model_exclude_unset=True)
async def read_list():
    return [Item(**ITEMS["foo"]), ITEMS["bar"]]


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1")

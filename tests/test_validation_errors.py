"""422 bodies as FastAPI 0.165 writes them, for the shapes FastAPI's own tutorial tests check:
several body parameters (each looked up in the body by itself), `Body(embed=True)`, a nested
model inside them, and parameter models (docs/internals/typed-api.md, "Validation errors").
Each expected body is what FastAPI answered for the same app and request."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel

import viperhttp
from viperhttp import Body, Query, ViperHTTP
from viperhttp.testclient import TestClient


class Item(BaseModel):
    name: str
    price: float


class User(BaseModel):
    username: str


class Page(BaseModel):
    q: str
    limit: int


def _missing(loc, input=None):
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": input}


def test_body_and_parameter_model_errors_as_fastapi():
    viperhttp.reset()
    app = ViperHTTP()

    @app.put("/items/{item_id}")
    async def update(item_id: int, item: Item, user: User, importance: Annotated[int, Body()]):
        return {"ok": True}

    @app.put("/optional/{item_id}")
    async def optional(item_id: int, item: Optional[Item] = None, user: Optional[User] = None):
        return {"item": item, "user": user}

    @app.put("/embedded")
    async def embedded(item: Annotated[Item, Body(embed=True)]):
        return item

    @app.get("/page")
    async def page(p: Annotated[Page, Query()]):
        return p

    try:
        with TestClient(app) as c:
            # no body: one error per body parameter (was one error at ["body"])
            assert c.put("/items/5").json()["detail"] == [
                _missing(["body", "item"]), _missing(["body", "user"]), _missing(["body", "importance"])]
            # a field missing inside one of them: the object it is missing from (was null)
            r = c.put("/items/5", json={"item": {"name": "Foo"}, "user": {"username": "x"}, "importance": 1})
            assert r.json()["detail"] == [_missing(["body", "item", "price"], {"name": "Foo"})]
            # no body, all optional: each its default
            assert c.put("/optional/5").json() == {"item": None, "user": None}
            assert c.put("/embedded").json()["detail"] == [_missing(["body", "item"])]
            # a parameter model: what the client sent (was null)
            assert c.get("/page?q=x").json()["detail"] == [_missing(["query", "limit"], {"q": "x"})]
            assert c.get("/page?q=x&limit=3").json() == {"q": "x", "limit": 3}
    finally:
        viperhttp.reset()


def test_errors_give_loc_as_a_tuple_as_fastapi():
    """FastAPI's handling-errors tutorial formats `error['loc']` into its message."""
    from viperhttp import RequestValidationError
    from viperhttp.responses import PlainTextResponse

    viperhttp.reset()
    app = ViperHTTP()

    @app.exception_handler(RequestValidationError)
    async def handler(request, exc):
        return PlainTextResponse("; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors()), status_code=400)

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return item_id

    try:
        with TestClient(app) as c:
            r = c.get("/items/x")
            assert (r.status_code, r.text) == (
                400, "('path', 'item_id'): Input should be a valid integer, unable to parse string as an integer")
    finally:
        viperhttp.reset()

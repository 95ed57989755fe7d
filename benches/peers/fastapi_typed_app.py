"""Peer app for benches/run_typed.sh: the routes of benches/apps/typed_app.py on FastAPI.

`async def` handlers: FastAPI's fastest form (a `def` handler costs it a thread-pool hop)."""
from typing import List, Optional

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)
    tags: List[str] = []
    description: Optional[str] = None
    secret: str = ""


class ItemOut(BaseModel):
    id: int
    name: str
    price: float
    tags: List[str]
    description: Optional[str] = None


@app.post("/items", response_model=ItemOut, status_code=201)
async def create_item(item: ItemIn):
    return {"id": 1, **item.model_dump()}


@app.get("/items/{item_id}")
async def read_item(item_id: int, limit: int = 10, q: Optional[str] = None):
    return {"item_id": item_id, "limit": limit, "q": q}

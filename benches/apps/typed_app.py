"""Bench app: a pydantic-validated JSON POST with `response_model`, and a typed GET.
The same routes as benches/peers/fastapi_typed_app.py."""
import sys
from typing import List, Optional

from pydantic import BaseModel, Field

from viperhttp import ViperHTTP

app = ViperHTTP(docs=False)


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
def create_item(item: ItemIn):
    return {"id": 1, **item.model_dump()}


@app.get("/items/{item_id}")
def read_item(item_id: int, limit: int = 10, q: Optional[str] = None):
    return {"item_id": item_id, "limit": limit, "q": q}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

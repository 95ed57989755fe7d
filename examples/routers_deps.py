"""Routers and dependencies: a versioned API with a per-request database session.

- `Router(prefix=..., tags=..., deps=...)` groups routes; `include_router` registers them.
- `Depends(get_db)` with a generator: the code after `yield` runs after the handler, also when
  it raises (teardown in reverse order of entry).
- `Depends(..., use_cache=True)` shares one value between several appearances per request.
- A typed query spec (`query={"limit": Query(10, int)}`) answers 422 on bad input.

Run: .venv/bin/python examples/routers_deps.py [PORT]   (default 8080, or $PORT), then
  curl localhost:8080/api/v1/items?limit=2
  curl -H 'X-User: ada' localhost:8080/api/v1/me
"""
import os
import sys
from typing import Any, Dict, Iterator, List, Optional

import viperhttp
from viperhttp import Depends, HTTPException, Query, Request, Router

app = viperhttp.ViperHTTP(title="routers and deps")
ITEMS: List[Dict[str, Any]] = [{"id": i, "name": f"item {i}"} for i in range(1, 6)]


class Session:
    """Stands in for a database session."""

    def __init__(self) -> None:
        self.closed = False

    def items(self, limit: int) -> List[Dict[str, Any]]:
        return ITEMS[:limit]


def get_db() -> Iterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        session.closed = True  # teardown: runs after the handler, before the response is sent


def current_user(request: Request) -> str:
    user: Optional[str] = request.headers.get("x-user")
    if not user:
        raise HTTPException(401, "missing X-User header", headers={"WWW-Authenticate": "X-User"})
    return user


api = Router(prefix="/api", tags=["api"], deps={"db": Depends(get_db, use_cache=True)})
v1 = Router(prefix="/v1", tags="v1")


@v1.get("/items", query={"limit": Query(10, int)}, summary="List items")
def list_items(db: Session, limit: int) -> List[Dict[str, Any]]:
    return db.items(limit)


@v1.get("/items/{item_id:int}")
def get_item(db: Session, item_id: int) -> Dict[str, Any]:
    for item in db.items(len(ITEMS)):
        if item["id"] == item_id:
            return item
    raise HTTPException(404, f"no item {item_id}")


@v1.get("/me", deps={"user": Depends(current_user)})
def me(db: Session, user: str) -> Dict[str, str]:
    # Router deps are passed to every handler of the router (docs/internals/framework.md), used or not.
    return {"user": user, "session": "open" if not db.closed else "closed"}


api.include_router(v1)
app.include_router(api)

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    app.run(port=port, wifi=False)

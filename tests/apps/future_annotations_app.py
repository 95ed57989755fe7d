"""An app written with `from __future__ import annotations` and types imported only for the type
checker (`if TYPE_CHECKING:`), as linters ask: every annotation is a string, some never resolve
(tests/test_typed.py `test_string_annotations_resolve_one_by_one_as_in_fastapi`)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, AsyncIterator

from pydantic import BaseModel

from viperhttp import Depends, Query, ViperHTTP, WebSocket, WebSocketDisconnect

if TYPE_CHECKING:  # never imported at run time: "Connection" does not resolve
    from sqlite3 import Connection

app = ViperHTTP()


class Note(BaseModel):
    id: int
    title: str


def get_db():
    yield {1: {"id": 1, "title": "first", "secret": "x"}}


@app.get("/notes")
def list_notes(db: Connection = Depends(get_db), limit: Annotated[int, Query(ge=1, le=10)] = 5) -> list[Note]:
    return list(db.values())[:limit]


@app.get("/lines")
async def lines(db: Connection = Depends(get_db)) -> AsyncIterator[Note]:
    for note in db.values():
        yield note


@app.websocket("/ws")
async def ws(websocket: WebSocket, db: Connection = Depends(get_db)):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(db[int(await websocket.receive_text())]["title"])
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

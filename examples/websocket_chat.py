"""Chat rooms over WebSocket, and a clock over Server-Sent Events (docs/websocket.md).

  ws://localhost:8080/chat/{room}   every text message is broadcast to the room as
                                    {"room": ..., "text": ...}; the first message is
                                    {"event": "joined", "members": N}
  GET /clock                        text/event-stream: one `tick` event per second, resumable
                                    with Last-Event-ID
  GET /rooms                        ConnectionManager.stats()

Run: .venv/bin/python examples/websocket_chat.py [PORT]   (default 8080, or $PORT)
"""
import asyncio
import os
import sys

import viperhttp
import viperhttp_bridge
from viperhttp import ConnectionManager, current_request
from viperhttp_responses import EventSourceResponse

app = viperhttp.ViperHTTP()
rooms = ConnectionManager()


@app.websocket("/chat/{room}")
async def chat(ws, room: str):
    await rooms.connect(ws, room=room)
    try:
        await ws.send_json({"event": "joined", "members": rooms.stats()["rooms"][room]})
        async for text in ws.iter_text():
            await rooms.broadcast_json({"room": room, "text": text}, room=room)
    finally:
        rooms.disconnect(ws)


@app.get("/rooms")
def room_stats():
    return rooms.stats()


@app.get("/clock")
async def clock(count: str = "0"):
    last = current_request().headers.get("last-event-id")
    start = int(last) + 1 if last and last.isdigit() else 1

    async def ticks():
        n = start
        while True:
            yield {"event": "tick", "id": str(n), "data": {"n": n}}
            n += 1
            if int(count) and n >= start + int(count):
                return
            await asyncio.sleep(1)

    return EventSourceResponse(ticks(), retry=2000, ping=15)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    viperhttp_bridge.run(app, port=port, wifi=False)

"""WebSocket helpers under the original's module name (docs/internals/websocket.md).

`ConnectionManager` keeps sockets and rooms for broadcasting; `WebSocket` (the object a
handler gets, defined in `viperhttp_bridge`) and `WebSocketDisconnect` are re-exported. After
import, `viperhttp.ConnectionManager` and `viperhttp.WebSocket` exist, as in the original.
WebSocket routes themselves are declared with `app.websocket(...)`.

The manager is process-local and needs no locking: every call runs on the one interpreter
thread.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from viperhttp.exceptions import WebSocketDisconnect
from viperhttp.responses import json_dumps
from viperhttp_bridge.websocket import WebSocket

__all__ = ["ConnectionManager", "WebSocket", "WebSocketDisconnect"]


class ConnectionManager:
    """Registered sockets and rooms (room → member list, in join order)."""

    def __init__(self, send_timeout: Optional[float] = 5.0) -> None:
        if send_timeout is not None and (isinstance(send_timeout, bool) or not isinstance(send_timeout, (int, float))
                                         or not send_timeout > 0):
            raise ValueError("send_timeout must be a number of seconds > 0, or None")
        self.active_connections: List[Any] = []
        self.rooms: Dict[Any, List[Any]] = {}
        #: how long a broadcast waits for a member that reads too slowly to take a message
        #: (its outbound queue is full) before that member is dropped; None: as long as it takes
        self.send_timeout = send_timeout

    async def connect(self, ws: Any, room: Any = None) -> Any:
        """Accept `ws`, register it, join `room` when given; returns `ws`."""
        await ws.accept()
        if ws not in self.active_connections:
            self.active_connections.append(ws)
        self.join_room(ws, room)
        return ws

    def join_room(self, ws: Any, room: Any) -> None:
        if room is None:
            return
        members = self.rooms.setdefault(room, [])
        if ws not in members:
            members.append(ws)

    def leave_room(self, ws: Any, room: Any) -> None:
        if room is None:
            return
        members = self.rooms.get(room)
        if members is None:
            return
        if ws in members:
            members.remove(ws)
        if not members:
            del self.rooms[room]

    def disconnect(self, ws: Any, room: Any = None) -> None:
        """Forget `ws`. With `room`, it leaves only that room (its other memberships stay,
        as in the original); without, it leaves every room. Empty rooms are deleted."""
        if ws in self.active_connections:
            self.active_connections.remove(ws)
        if room is not None:
            self.leave_room(ws, room)
            return
        for name in [r for r, members in self.rooms.items() if ws in members]:
            self.leave_room(ws, name)

    async def broadcast_text(self, text: str, room: Any = None) -> None:
        """Send `text` to a snapshot of all sockets, or of `room`'s members (an unknown room
        reaches nobody). A socket whose send raises is disconnected; the others still get it.

        Members that can take the message now get it at once, in order; those whose outbound
        queue is full (a client that stopped reading) are waited for side by side, up to
        `send_timeout`, then dropped and closed with 1013 (docs/internals/websocket.md,
        "ConnectionManager"): one slow reader never holds up the others or the broadcaster."""
        if room is None:
            targets = list(self.active_connections)
        else:
            targets = list(self.rooms.get(room, ()))
        slow = []
        for ws in targets:
            ready = getattr(ws, "_can_send_now", None)
            if ready is not None and not ready():
                slow.append(ws)
                continue
            try:
                await ws.send_text(text)
            except Exception:
                self.disconnect(ws, room=room)
        if slow:
            import asyncio

            await asyncio.gather(*(self._send_or_drop(ws, text, room) for ws in slow))

    async def _send_or_drop(self, ws: Any, text: str, room: Any) -> None:
        import asyncio

        try:
            if self.send_timeout is None:
                await ws.send_text(text)
            else:
                await asyncio.wait_for(ws.send_text(text), self.send_timeout)
        except asyncio.TimeoutError:
            self.disconnect(ws)
            try:
                await ws.close(1013, "too slow")
            except Exception:
                pass
        except Exception:
            self.disconnect(ws, room=room)

    async def broadcast_json(self, obj: Any, room: Any = None) -> None:
        """JSON-encode once (compact, as JSON responses), then `broadcast_text`."""
        await self.broadcast_text(json_dumps(obj).decode("utf-8"), room=room)

    def stats(self) -> Dict[str, Any]:
        return {
            "connections": len(self.active_connections),
            "rooms": {room: len(members) for room, members in self.rooms.items()},
        }


def _install() -> None:
    try:
        import viperhttp
    except ImportError:  # the package is mid-import or broken: it sets nothing then
        return
    viperhttp.ConnectionManager = ConnectionManager  # type: ignore[attr-defined]
    viperhttp.WebSocket = WebSocket  # type: ignore[attr-defined]


_install()

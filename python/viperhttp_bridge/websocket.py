"""WebSockets in the bridge (docs/internals/websocket.md): the `WebSocket` object a handler gets, and
the dispatch of `ws_connect` / `ws_msg` / `ws_disconnect` records to it.

Framing, ping/pong and the close handshake are native; this side sees whole messages.
Backpressure: `send_*` awaits while the connection's outbound queue in the runtime is full
(`_ws_credit`), and each message taken by `receive()` returns one inbound credit to the
runtime (`_ws_consumed`), which stops reading a socket whose app has `ws_queue_size`
messages not yet taken.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Deque, Dict, List, Optional

from viperhttp import _native
from viperhttp import exceptions as _exceptions
from viperhttp._native import BackpressureError
from viperhttp.exceptions import (HTTPException, RequestValidationError, WebSocketDisconnect,
                                  WebSocketException, where)
from viperhttp.responses import json_dumps

if TYPE_CHECKING:  # imported where used (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

log = logging.getLogger("viperhttp.bridge")

__all__ = ["WebSocket", "WebSocketDisconnect", "WsDispatcher"]

#: Sleep between credit checks while a send waits for a slow client: 1 ms at first, doubling
#: to 16 ms, so many stalled senders do not spin the interpreter thread.
_CREDIT_POLL_S = 0.001
_CREDIT_POLL_MAX_S = 0.016


def _json_body(obj: Any) -> str:
    return json_dumps(obj).decode("utf-8")


class WebSocket:
    """One WebSocket connection, as a handler sees it (docs/internals/websocket.md, "The WebSocket
    object"). Every send on a closed socket is a silent no-op; `receive()` returns the close
    dict once the connection ended, and raises `WebSocketDisconnect` when asked again after that
    (see `receive`)."""

    __slots__ = ("conn_id", "request", "_accepted", "_closed", "_close_code", "_close_reported", "_inbox",
                 "_waiter", "_fragmenting", "_on_settle", "raise_on_close", "__weakref__")

    def __init__(self, conn_id: int, request: Any) -> None:
        self.conn_id = conn_id
        self.request = request
        self._accepted = False
        self._closed = False  # this side sent close, or the connection ended
        self._close_code: Optional[int] = None  # set when the connection ended
        self._close_reported = False  # `receive()` returned the close dict
        self._inbox: Deque[Dict[str, Any]] = deque()
        self._waiter: Optional[asyncio.Future] = None
        self._fragmenting = False
        self._on_settle: Optional[Callable[[str, Any], None]] = None
        #: FastAPI's socket (the handler annotates its parameter `WebSocket`): `receive_text()`,
        #: `receive_bytes()` and `receive_json()` raise `WebSocketDisconnect` on close, as
        #: Starlette's; the device framework's return None (docs/internals/websocket.md)
        self.raise_on_close = False

    # -- handshake -------------------------------------------------------------------------
    @property
    def client_protocols(self) -> List[str]:
        """The subprotocols the client offered (`Sec-WebSocket-Protocol`), in order."""
        raw = self.request.headers.get("sec-websocket-protocol") or ""
        return [p.strip() for p in raw.split(",") if p.strip()]

    @property
    def accepted(self) -> bool:
        return self._accepted

    @property
    def state(self) -> Any:
        """Starlette's `websocket.state`: the handshake request's `request.state`, so it starts
        as a copy of what `lifespan` yielded, as a request's does (docs/internals/lifespan.md)."""
        return self.request.state

    async def accept(self, subprotocol: Any = None) -> None:
        """Complete the handshake (`101`). No-op when already accepted or closed."""
        if self._accepted or self._closed:
            return
        if subprotocol is not None and not isinstance(subprotocol, (str, bytes)):
            raise TypeError("subprotocol must be str/bytes")
        _native.ws_accept(self.conn_id, subprotocol)
        self._accepted = True
        if self._on_settle is not None:
            self._on_settle("accept", None)

    # -- sending ---------------------------------------------------------------------------
    async def _wait_credit(self) -> bool:
        import asyncio

        credit = _native._ws_credit
        pause = _CREDIT_POLL_S
        while not credit(self.conn_id):
            if self._closed:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, _CREDIT_POLL_MAX_S)
        return not self._closed

    def _can_send_now(self) -> bool:
        """A send would not wait for the outbound queue (closed sockets count as ready: the
        send returns at once)."""
        return self._closed or not self._accepted or bool(_native._ws_credit(self.conn_id))

    def _check_open(self) -> bool:
        if self._closed:
            return False
        if not self._accepted:
            raise RuntimeError("WebSocket is not accepted")
        return True

    async def send(self, data: Any, opcode: int = 0, final: bool = True) -> None:
        """Raw send. `opcode=0` picks 1 for str and 2 for bytes, or continues a message begun
        with `final=False`; 1, 2, 9 (ping) and 10 (pong) are accepted; other values raise."""
        if opcode not in (0, 1, 2, 9, 10):
            raise ValueError("opcode must be 0, 1, 2, 9 or 10 (close goes through close())")
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, (str, bytes)):
            raise TypeError("data must be str/bytes")
        if not self._check_open() or not await self._wait_credit():
            return
        _native.ws_send(self.conn_id, data, opcode, final)

    async def send_text(self, text: str) -> None:
        await self.send(str(text), 1)

    async def send_bytes(self, data: Any) -> None:
        await self.send(bytes(data), 2)

    async def send_json(self, obj: Any) -> None:
        await self.send(_json_body(obj), 1)

    async def close(self, code: int = 1000, reason: Any = "") -> None:
        """Send a close frame (reason cut to 123 UTF-8 bytes); does not wait for the reply."""
        if self._closed:
            return
        if not self._accepted:
            # Before accept(): the handshake is refused with 403 (docs/internals/websocket.md).
            self._closed = True
            if self._on_settle is not None:
                self._on_settle("reject", 403)
            return
        _native.ws_close(self.conn_id, code, reason or None)  # an invalid code raises: still open
        self._closed = True

    # -- receiving -------------------------------------------------------------------------
    def _close_dict(self) -> Dict[str, Any]:
        return {"type": "close", "code": self._close_code if self._close_code is not None else 1000}

    async def receive(self) -> Dict[str, Any]:
        """The next message dict, or the close dict once the connection ended.

        (Decision, docs/internals/websocket.md) Asked again after it returned the close dict
        (or `receive_text()` its None), it raises `WebSocketDisconnect(code)`. A loop that does
        not look for the close, such as FastAPI's echo example, would otherwise get its answer
        at once forever, never waiting, and hold the interpreter thread that every other
        request needs; raised, FastAPI's `except WebSocketDisconnect` ends it as there."""
        while True:
            if self._inbox:
                msg = self._inbox.popleft()
                _native._ws_consumed(self.conn_id)
                return msg
            if self._close_code is not None:
                if self._close_reported:
                    raise WebSocketDisconnect(self._close_code)
                self._close_reported = True
                return self._close_dict()
            import asyncio

            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def receive_text(self) -> Optional[str]:
        """The next text message (binary ones are skipped), or None once closed."""
        while True:
            msg = await self.receive()
            if msg["type"] == "close":
                if self.raise_on_close:
                    raise WebSocketDisconnect(msg["code"])
                return None
            if msg["opcode"] == 1:
                return msg["text"]

    async def receive_bytes(self) -> Optional[bytes]:
        """The next binary message (text ones are skipped), or None once closed."""
        while True:
            msg = await self.receive()
            if msg["type"] == "close":
                if self.raise_on_close:
                    raise WebSocketDisconnect(msg["code"])
                return None
            if msg["opcode"] == 2:
                return msg["data"]

    async def receive_json(self) -> Any:
        """The next text message parsed as JSON; None once closed."""
        import json

        text = await self.receive_text()
        return None if text is None else json.loads(text)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the connection closes."""
        while True:
            try:
                text = await self.receive_text()
            except WebSocketDisconnect:
                return
            if text is None:
                return
            yield text

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the connection closes."""
        while True:
            try:
                data = await self.receive_bytes()
            except WebSocketDisconnect:
                return
            if data is None:
                return
            yield data

    async def receive_or_raise(self) -> Dict[str, Any]:
        """`receive()`, raising `WebSocketDisconnect(code)` instead of returning the close dict."""
        msg = await self.receive()
        if msg["type"] == "close":
            raise WebSocketDisconnect(msg["code"])
        return msg

    # -- fed by the dispatcher -------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _deliver(self, opcode: int, data: bytes) -> None:
        if opcode == 1:
            msg = {"type": "message", "opcode": 1, "data": data, "final": True,
                   "text": data.decode("utf-8")}
        else:
            msg = {"type": "message", "opcode": 2, "data": data, "final": True, "bytes": data}
        self._inbox.append(msg)
        self._wake()

    def _disconnected(self, code: int) -> None:
        self._close_code = code
        self._closed = True
        self._wake()


def _handler_ended(ws: WebSocket, exc: Optional[BaseException]) -> bool:
    """Tells the test client, when one listens (`exceptions.websocket_end_observer`), that the
    handler of `ws` has ended and with which exception; True. The connection is named by its
    handshake's `Sec-WebSocket-Key` (the client's random key, which nothing rewrites)."""
    observer = _exceptions.websocket_end_observer
    if observer is not None:
        observer(ws.request.headers.get("sec-websocket-key"), exc)
    return True


class WsDispatcher:
    """The bridge's WebSocket half (IPC WebSocket records → `WebSocket` objects,
    docs/internals/websocket.md)."""

    def __init__(self, app: Any, spawn: Callable[[Any], "asyncio.Task[Any]"]) -> None:
        from viperhttp.request import Request

        self.app = app
        self._spawn = spawn
        self._from_native = Request._from_native
        self.sockets: Dict[int, WebSocket] = {}

    def handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "ws_msg":
            ws = self.sockets.get(item[1])
            if ws is None:
                _native._ws_consumed(item[1])
                return
            ws._deliver(item[2], item[3])
        elif kind == "ws_disconnect":
            ws = self.sockets.pop(item[1], None)
            if ws is not None:
                ws._disconnected(item[2])
        elif kind == "ws_connect":
            self._connect(item[1])

    def _connect(self, req: tuple) -> None:
        conn_id = req[0]
        try:
            request = self._from_native(*req)
        except Exception as exc:
            log.error("ws_dispatch_error %r", exc, exc_info=True)
            self._reject(conn_id, 400, "Bad Request")
            return
        ws = WebSocket(conn_id, request)
        path = request.path + ("?" + request.query if request.query else "")
        try:
            result = self.app.ws_dispatch(path, ws, request)
        except Exception as exc:
            log.error("ws_dispatch_error %r", exc, exc_info=True)
            self._reject(conn_id, 500, "Internal Server Error")
            return
        if result is None or (isinstance(result, tuple) and result and result[0] is False):
            self._reject(conn_id, 404, "Not Found")
            return
        if isinstance(result, dict):
            self._reject_with(conn_id, result)
            return
        if not hasattr(result, "__await__"):
            log.error("ws_dispatch_error handler returned %r, not a coroutine", type(result))
            self._reject(conn_id, 500, "Internal Server Error")
            return
        self.sockets[conn_id] = ws
        self._spawn(self._run(ws, result))

    def _reject(self, conn_id: int, status: int, body: Any, content_type: Optional[str] = None,
                headers: Any = None) -> None:
        try:
            _native.ws_reject(conn_id, status, body, content_type, headers)
        except BackpressureError as exc:
            log.warning("ws_dropped conn_id=%d %s: %s", conn_id, type(exc).__name__, exc)
        except Exception as exc:
            # a refusal the response rules refuse (a header value with CR/LF, a non-str value):
            # the handshake still gets an answer, a plain 500, never the 504 of no answer
            log.error("ws_dispatch_error %r", exc, exc_info=True)
            try:
                _native.ws_reject(conn_id, 500, "Internal Server Error", None, None)
            except Exception as again:
                log.warning("ws_dropped conn_id=%d %s: %s", conn_id, type(again).__name__, again)

    def _reject_with(self, conn_id: int, resp: Dict[str, Any]) -> None:
        """A response dict from the route (query/dependency failure, or the handler's own)."""
        status = resp.get("status_code") or 400
        body = resp.get("body")
        content_type = resp.get("content_type")
        if isinstance(body, (dict, list)):
            body = _json_body(body)
            content_type = content_type or "application/json"
        elif body is not None and not isinstance(body, (str, bytes)):
            body = str(body)
        self._reject(conn_id, int(status), body, content_type, resp.get("headers"))

    async def _run(self, ws: WebSocket, coro: Any) -> None:
        """The handler task: 1011 (or 500 before accept) when it raises; 1000 (or 403 before
        accept) when it returns without closing (docs/internals/websocket.md, "Handler lifecycle")."""
        import asyncio

        settled: List[Any] = []

        def on_settle(kind: str, status: Any) -> None:
            settled.append(kind)
            if kind == "reject":
                self.sockets.pop(ws.conn_id, None)
                self._reject(ws.conn_id, status, "Forbidden")

        ws._on_settle = on_settle
        reported = False  # the test client's observer told how the handler ended
        try:
            result = await coro
            if isinstance(result, dict) and not ws._accepted and not ws._closed:
                ws._closed = True
                self.sockets.pop(ws.conn_id, None)
                self._reject_with(ws.conn_id, result)
                return
        except WebSocketDisconnect as exc:
            # the client left and the handler let the exception end it: a normal end (the
            # test client re-raises it in the test, as Starlette's)
            reported = _handler_ended(ws, exc)
        except RequestValidationError as exc:
            # Invalid path or query parameters of the route: FastAPI closes with 1008 before
            # the handshake completes, which the client sees as 403. Not a handler error.
            log.info("ws_rejected conn_id=%d invalid parameters: %s", ws.conn_id, exc.errors())
            self._end(ws, 1008, 403, "Forbidden")
            return
        except WebSocketException as exc:
            # Starlette's way to end a socket on purpose (a dependency's 1008 for a missing
            # token): close with its code; before `accept()` the handshake is refused (403).
            log.info("ws_closed conn_id=%d %d: %s", ws.conn_id, exc.code, exc.reason)
            self._end(ws, exc.code, 403, "Forbidden", reason=exc.reason)
            return
        except HTTPException as exc:
            # A dependency or the handler refused (`get_current_user`'s 401, a 403): before
            # `accept()` the handshake gets that status and FastAPI's JSON body (the denial
            # response uvicorn sends for Starlette); after it, close 1008. Not a handler error.
            log.info("ws_rejected conn_id=%d %d: %s", ws.conn_id, exc.status_code, exc.detail)
            self._end(ws, 1008, exc.status_code, _json_body({"detail": exc.detail}), "application/json",
                      headers=exc.headers)
            return
        except asyncio.CancelledError:
            if ws._accepted and not ws._closed:
                ws._closed = True
                self._close_quietly(ws.conn_id, 1001, "")
            raise
        except BackpressureError as exc:
            # A send the runtime did not take within ipc_ring_wait_ms (or the server is stopping):
            # the connection cannot go on, but the handler did nothing wrong (not a
            # ws_handler_error). 1013 "Try Again Later" if the close frame still fits.
            log.warning("ws_dropped conn_id=%d %s: %s", ws.conn_id, type(exc).__name__, exc)
            self.sockets.pop(ws.conn_id, None)
            if not ws._closed:
                ws._closed = True
                if ws._accepted:
                    self._close_quietly(ws.conn_id, 1013, "")
            return
        except Exception as exc:
            log.error("ws_handler_error %r%s", exc, where(ws.request, "WS"), exc_info=True)
            # told before the close goes out: a test client that sees the 1011 (or the 500 of
            # the handshake) already has the exception to raise
            reported = _handler_ended(ws, exc)
            self._end(ws, 1011, 500, "Internal Server Error", reason="Handler error")
            return
        finally:
            ws._on_settle = None
            if not reported:
                _handler_ended(ws, None)
        self._end(ws, 1000, 403, "Forbidden")

    def _end(self, ws: WebSocket, code: int, status: int, body: Any, content_type: Optional[str] = None,
             reason: str = "", headers: Any = None) -> None:
        """How a handler's end reaches the client, once: close `code` (with `reason`) after
        `accept()`; before it, the handshake refused with `status`, `body` and `headers`."""
        if ws._closed:
            return
        ws._closed = True
        if ws._accepted:
            self._close_quietly(ws.conn_id, code, reason)
        else:
            self.sockets.pop(ws.conn_id, None)
            self._reject(ws.conn_id, status, body, content_type, headers)

    @staticmethod
    def _close_quietly(conn_id: int, code: int, reason: str) -> None:
        try:
            _native.ws_close(conn_id, code, reason or None)
        except BackpressureError as exc:
            log.warning("ws_dropped conn_id=%d %s: %s", conn_id, type(exc).__name__, exc)
        except Exception as exc:
            log.error("ws_handler_error %r", exc, exc_info=True)

"""`TestClient`: tests against the real server (docs/guide/testing.md).

The app is served by the real native runtime on an ephemeral loopback port, with the bridge
running `app.run()` on a background thread; requests are real HTTP over a real socket (an
`httpx.Client`). Nothing of the request pipeline is re-implemented here, so static mounts,
CORS, trusted hosts, rate limits and size limits behave exactly as in production.

`with TestClient(app) as client:` starts the server (startup handlers run, a failing one
raises here) and stops it on exit (the drain and shutdown handlers run). Without `with`, the
first request (or `websocket_connect`) starts the server without the startup and shutdown
handlers, as Starlette's client, and `close()` (or interpreter exit) stops it.
`raise_server_exceptions=True` re-raises, in the test, the exception of a handler that ended
in an unhandled 500 instead of returning that response. As with Starlette's client, a request
returns once its background tasks have run, and the exception of a failing one is re-raised
too (the response was sent before they ran, as in production).
`websocket_connect(path)` opens a real WebSocket (the `websockets` package's sync client) to the
same server, sending the client's headers and cookie jar on the handshake. As with Starlette's
client, an exception the WebSocket handler lets out (`WebSocketDisconnect` included) is raised
in the test: when the `with` block exits, or at the receive or send that finds the socket
closed by it (the server reports each handler's end, `exceptions.websocket_end_observer`, by
the handshake's `Sec-WebSocket-Key`, which this client chose at random for the connection).
"""
from __future__ import annotations

import atexit
import inspect
import json as _json
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from . import exceptions

__all__ = ["TestClient", "WebSocketTestSession", "WebSocketRejected"]

#: how long start-up (startup handlers + bind) may take before the client gives up
START_TIMEOUT_S = 30.0
#: how long leaving a `websocket_connect` block waits for the handler to end after the client's
#: close; a handler still running then is left to run and nothing is raised (Starlette's
#: client cancels it at that point)
WS_END_WAIT_S = 2.0
#: the client whose server a request started (not `with`): it gives way to the next one
_IMPLICIT: List["TestClient"] = []


def _release_implicit(starting: Any = None) -> None:
    """Stops the server a request started, for another client or a new app."""
    if _IMPLICIT and _IMPLICIT[0] is not starting:
        _IMPLICIT[0].close()


def _register_with_app() -> None:
    from .app import on_serving_conflict

    on_serving_conflict(_release_implicit)


class TestClient:
    __test__ = False  # not a pytest test class despite the name

    def __init__(self, app: Any, base_url: str = "http://testserver",
                 raise_server_exceptions: bool = True, cookies: Any = None,
                 headers: Optional[Dict[str, str]] = None, timeout: float = 30.0,
                 follow_redirects: bool = True, backend: str = "asyncio",
                 backend_options: Any = None, **run_kwargs: Any) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("viperhttp.testclient needs httpx: pip install httpx") from exc
        if "root_path" in run_kwargs:
            raise TypeError("TestClient(root_path=...) is not supported: give the app its prefix, "
                            "ViperHTTP(root_path=...) (docs/guide/testing.md)")
        self.app = app
        self.base_url = base_url
        self.raise_server_exceptions = raise_server_exceptions
        self.follow_redirects = follow_redirects
        self._run_kwargs = run_kwargs
        self._httpx = httpx
        self._timeout = timeout
        self._initial_cookies = cookies
        # Starlette's client says who it is, unless the test's own headers do (any spelling)
        initial = httpx.Headers(headers or {})
        initial.setdefault("user-agent", "testclient")
        self._initial_headers = dict(initial)
        self._client: Any = None
        self._thread: Optional[threading.Thread] = None
        self._failure: List[BaseException] = []
        self._server_errors: List[BaseException] = []
        #: `Sec-WebSocket-Key` of a WebSocket's handshake → how its handler ended (None:
        #: returned), as reported
        self._ws_ends: Dict[Any, Optional[BaseException]] = {}
        self._ws_end_seen = threading.Condition()
        self._lock = threading.Lock()

    # --- server lifetime -------------------------------------------------------------------

    def _serve(self, started: threading.Event, implicit: bool) -> None:
        import viperhttp_bridge
        kw = dict(self._run_kwargs)
        if implicit:  # Starlette's client runs the lifespan only inside `with`
            kw.setdefault("lifespan", False)
        kw.setdefault("host", "127.0.0.1")
        kw.setdefault("port", 0)
        kw.setdefault("wifi", False)  # the device's host-network line means nothing in a test
        try:
            loop = viperhttp_bridge.run(self.app, block=False, **kw)
        except BaseException as exc:  # startup failed: re-raised on the test's thread
            self._failure.append(exc)
            started.set()
            return
        started.set()
        bridge = viperhttp_bridge.Bridge.current
        if bridge is None or bridge.loop is not loop:
            self._failure.append(RuntimeError("TestClient: the bridge did not start"))
            return
        try:
            viperhttp_bridge.serve_started(bridge)
        except BaseException as exc:
            self._failure.append(exc)

    def start(self, _implicit: bool = False) -> "TestClient":
        """Starts the server (idempotent); raises what start-up raised. A server started by a
        request (not by `with`) gives way to the next client that starts one, as Starlette's
        clients never hold a server: two test modules with a module-level `TestClient(app)`
        each, or an app factory per test, work; the first client starts again when used."""
        with self._lock:
            if self._thread is not None:
                return self
            import viperhttp_bridge
            if viperhttp_bridge.Bridge.current is not None:
                _release_implicit(self)
            if viperhttp_bridge.Bridge.current is not None:
                raise RuntimeError("TestClient: a server is already running in this process "
                                   "(close the other TestClient first)")
            self._failure.clear()
            started = threading.Event()
            self._thread = threading.Thread(target=self._serve, args=(started, _implicit),
                                            name="viperhttp-testclient", daemon=True)
            exceptions.unhandled_observer = self._server_errors.append
            exceptions.websocket_end_observer = self._websocket_ended
            self._thread.start()
            if not started.wait(START_TIMEOUT_S):
                raise RuntimeError(f"TestClient: server did not start in {START_TIMEOUT_S}s")
            if self._failure:
                self._thread.join()
                self._thread = None
                exceptions.unhandled_observer = None
                exceptions.websocket_end_observer = None
                raise self._failure[0]
            # URLs stay the test's (`http://testserver/...`, also in `response.url` and the
            # `Host` header); the transport sends every request to the server's loopback port
            self._client = self._httpx.Client(
                base_url=self.base_url, headers=self._initial_headers,
                transport=_loopback_transport(self._httpx, self.app.bound_port),
                cookies=self._initial_cookies, timeout=self._timeout,
                follow_redirects=self.follow_redirects)
            atexit.register(self._close_at_exit)
            _IMPLICIT[:] = [self] if _implicit else []
        return self

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # the interpreter is exiting: nothing left to report to
            pass

    def close(self) -> None:
        """Stops the server: drain, shutdown handlers, listener closed (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            atexit.unregister(self._close_at_exit)
            if _IMPLICIT and _IMPLICIT[0] is self:
                _IMPLICIT.clear()
            self.app.stop()
            thread.join(START_TIMEOUT_S)
            if self._client is not None:
                self._initial_cookies = self._client.cookies  # kept if the client starts again
                self._initial_headers = dict(self._client.headers)
                self._client.close()
            if exceptions.unhandled_observer == self._server_errors.append:
                exceptions.unhandled_observer = None
            if exceptions.websocket_end_observer == self._websocket_ended:
                exceptions.websocket_end_observer = None
            with self._ws_end_seen:
                self._ws_ends.clear()  # ends no session asked for (a handler outlived its test)
            failure = list(self._failure)
            self._failure.clear()
        if failure and not isinstance(failure[0], SystemExit):
            raise failure[0]

    def __enter__(self) -> "TestClient":
        if _IMPLICIT and _IMPLICIT[0] is self:  # started by a request, without the lifespan
            self.close()
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------------

    @property
    def cookies(self) -> Any:
        """The cookie jar (an `httpx.Cookies`), kept across requests."""
        return self.start(_implicit=True)._client.cookies

    @property
    def headers(self) -> Any:
        """The headers sent with every request (an `httpx.Headers`; `user-agent: testclient`
        unless given), as Starlette's client's: changes apply to later requests."""
        return self.start(_implicit=True)._client.headers

    def stream(self, method: str, url: str, **kw: Any) -> Any:
        """httpx's streaming request (`with client.stream("GET", "/feed") as r: r.iter_lines()`):
        the body is read as the server sends it."""
        client = self.start(_implicit=True)._client
        kw.setdefault("timeout", self._timeout)
        return client.stream(method, url, **kw)

    def request(self, method: str, url: str, *, params: Any = None, headers: Any = None,
                cookies: Any = None, data: Any = None, json: Any = None, content: Any = None,
                files: Any = None, auth: Any = None, follow_redirects: Optional[bool] = None,
                timeout: Any = None, extensions: Any = None) -> Any:
        """Sends one request; the response has `status_code`, `headers` (case-insensitive),
        `content`, `text`, `json()` and `cookies`. `auth`: httpx's (`("user", "pass")` is
        HTTP Basic)."""
        client = self.start(_implicit=True)._client
        if cookies is not None:
            headers = self._with_request_cookies(client, method, url, headers, cookies)
        self._server_errors.clear()
        import viperhttp_bridge

        bridge = viperhttp_bridge.Bridge.current
        watch: List[Any] = []
        if bridge is not None:
            bridge.bg_watch = watch
        try:
            response = client.request(method, url, params=params, headers=headers, data=data,
                                      json=json, content=content, files=files,
                                      auth=auth if auth is not None else self._httpx.USE_CLIENT_DEFAULT,
                                      follow_redirects=(self.follow_redirects if follow_redirects is None
                                                        else follow_redirects),
                                      timeout=self._timeout if timeout is None else timeout,
                                      extensions=extensions)
        finally:
            if bridge is not None:
                bridge.bg_watch = None
        # As Starlette's client: the request's background tasks have run when it returns, so a
        # test can check what they did (and gets their exception below).
        for done in watch:
            done.wait(self._timeout if timeout is None else timeout)
        if self.raise_server_exceptions and self._server_errors:
            exc = self._server_errors[0]
            self._server_errors.clear()
            raise exc
        return response

    def _with_request_cookies(self, client: Any, method: str, url: str, headers: Any, cookies: Any) -> Any:
        """`headers` plus the `Cookie` header of the client's jar and `cookies` together, for
        this request only, as httpx's per-request `cookies=` (they are not kept in the jar)."""
        jar = self._httpx.Cookies(client.cookies)
        jar.update(cookies)
        probe = self._httpx.Request(method, client.base_url.join(url), cookies=jar)
        merged = dict(headers or {})
        if "cookie" in probe.headers and not any(k.lower() == "cookie" for k in merged):
            merged["Cookie"] = probe.headers["cookie"]
        return merged

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw: Any) -> Any:
        return self.request("HEAD", url, **kw)

    def options(self, url: str, **kw: Any) -> Any:
        return self.request("OPTIONS", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)

    # --- WebSocket -------------------------------------------------------------------------

    def websocket_connect(self, url: str, subprotocols: Any = None,
                          headers: Optional[Dict[str, str]] = None) -> "WebSocketTestSession":
        """Opens a WebSocket to `url` (a path, query allowed) on the running server; use it as a
        context manager. The client's default headers, `headers` and the cookie jar go on the
        handshake. A refused handshake raises `WebSocketRejected` (with `status_code`)."""
        try:
            from websockets.exceptions import InvalidStatus
            from websockets.sync.client import ClientConnection, connect
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("TestClient.websocket_connect needs websockets: "
                              "pip install websockets") from exc
        client = self.start(_implicit=True)._client
        split = urlsplit(self.base_url)
        path = url if url.startswith("/") else "/" + url
        uri = f"ws://127.0.0.1:{self.app.bound_port}{split.path.rstrip('/')}{path}"
        sent: Dict[str, str] = {}
        for k, v in client.headers.items():  # the client's own (Host is the socket's)
            if k.lower() not in ("host", "user-agent", "accept", "accept-encoding", "connection"):
                sent[k] = v
        agent = client.headers.get("user-agent")
        for k, v in (headers or {}).items():
            sent[k] = v
        jar = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
        if jar and not any(k.lower() == "cookie" for k in sent):
            sent["Cookie"] = jar
        extra: Dict[str, Any] = {}
        if "legacy" in inspect.signature(connect).parameters:  # websockets >= 17
            extra["legacy"] = True  # a plain connection object, closed by the session
        # The handshake's `Sec-WebSocket-Key` (16 random bytes per connection) is how the
        # server's report of the handler's end is known to be this connection's: unlike the
        # client address, no proxy header (`forwarded_allow_ips`) or handler rewrites it, and
        # it is never reused. The connection is recorded as made, so the key of a refused
        # handshake is known too.
        made: List[Any] = []

        class _Recorded(ClientConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        try:
            conn = connect(uri, subprotocols=list(subprotocols) if subprotocols else None,
                           additional_headers=sent, compression=None, proxy=None,
                           open_timeout=self._timeout, ping_interval=None, create_connection=_Recorded,
                           max_size=None, user_agent_header=agent or "testclient", **extra)
        except InvalidStatus as exc:
            # a handler that raised before `accept()`: its exception, as Starlette's client
            # raises it here (reported before the 500 went out)
            _, raised = self._websocket_end(_handshake_key(made), 0.0)
            if raised is not None:
                raise raised from None
            resp = exc.response
            raise WebSocketRejected(resp.status_code, dict(resp.headers.raw_items()),
                                    bytes(resp.body or b"")) from None
        key = _handshake_key(made)
        return WebSocketTestSession(conn, self._timeout, lambda wait: self._websocket_end(key, wait))

    def _websocket_ended(self, key: Optional[str], exc: Optional[BaseException]) -> None:
        """`exceptions.websocket_end_observer`: a handler ended (on the server's thread)."""
        with self._ws_end_seen:
            self._ws_ends[key] = exc
            self._ws_end_seen.notify_all()

    def _websocket_end(self, key: Optional[str], wait: float) -> Tuple[bool, Optional[BaseException]]:
        """(the handler of the WebSocket whose handshake sent `key` has ended, the exception it
        let out), waiting up to `wait` seconds for that end; a reported end is taken once."""
        if key is None:
            return True, None
        with self._ws_end_seen:
            ended = self._ws_end_seen.wait_for(lambda: key in self._ws_ends, wait)
            return ended, self._ws_ends.pop(key, None)


def _handshake_key(made: List[Any]) -> Optional[str]:
    """The `Sec-WebSocket-Key` the recorded connection sent (None: no handshake was sent)."""
    request = getattr(made[0], "request", None) if made else None
    return None if request is None else request.headers.get("Sec-WebSocket-Key")


def _loopback_transport(httpx: Any, port: int) -> Any:
    """An httpx transport that sends each request to the test server on `127.0.0.1:port`,
    whatever its URL's host (Starlette's client sends every URL to the app too). The request
    keeps its URL and `Host` header: the app sees `testserver`, the test sees its own URLs."""

    class LoopbackTransport(httpx.HTTPTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            target = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            sent = httpx.Request(request.method, target, headers=request.headers,
                                 stream=request.stream, extensions=request.extensions)
            return super().handle_request(sent)

    return LoopbackTransport()


class WebSocketRejected(exceptions.WebSocketDisconnect):
    """The server refused the WebSocket handshake: `status_code`, `headers`, `content`, `text`.
    A `WebSocketDisconnect`, as Starlette's client raises for a socket closed before `accept()`
    (that refusal reaches the client as a 403); its `code` is 1008 (policy violation) for a 403,
    else 1006: the close code the app gave never leaves the server (docs/guide/testing.md)."""

    def __init__(self, status_code: int, headers: Dict[str, str], content: bytes) -> None:
        super().__init__(1008 if status_code == 403 else 1006, f"WebSocket handshake rejected with HTTP {status_code}")
        self.args = (f"WebSocket handshake rejected with HTTP {status_code}",)
        self.status_code = status_code
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"WebSocketRejected(status_code={self.status_code}, code={self.code})"


class WebSocketTestSession:
    """An open WebSocket of `TestClient.websocket_connect`. `receive_*` raise
    `viperhttp.WebSocketDisconnect(code)` once the server closed the connection, or the
    exception the handler let out (also raised when the `with` block exits), as Starlette's."""

    __test__ = False

    def __init__(self, conn: Any, timeout: float,
                 handler_end: Optional[Callable[[float], Tuple[bool, Optional[BaseException]]]] = None) -> None:
        self._conn = conn
        self._timeout = timeout
        #: the handler's end, asked for once (`TestClient._websocket_end` for this socket)
        self._handler_end = handler_end

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol the server accepted, or None."""
        proto = self._conn.subprotocol
        return None if proto is None else str(proto)

    def __enter__(self) -> "WebSocketTestSession":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
        # The client left: a handler that lets the `WebSocketDisconnect` out (FastAPI's
        # `while True: await ws.receive_text()`) raises it here, as with Starlette's client.
        raised = self._handler_raised(WS_END_WAIT_S)
        self._handler_end = None  # asked once: a handler still running is left to run
        if raised is not None:
            raise raised

    def _handler_raised(self, wait: float) -> Optional[BaseException]:
        """The exception that ended the handler, once it has ended (then never again)."""
        if self._handler_end is None:
            return None
        ended, raised = self._handler_end(wait)
        if ended:
            self._handler_end = None
        return raised

    def _closed(self, exc: Any) -> BaseException:
        """What a send or receive on the closed socket raises: the exception the handler let
        out when it has ended (the server reports it before its close goes out), else
        `WebSocketDisconnect(code)`; a handler still running is asked again on exit."""
        raised = self._handler_raised(0.0)
        return raised if raised is not None else self._disconnect(exc)

    def send_text(self, data: str) -> None:
        self._send(str(data))

    def send_bytes(self, data: bytes) -> None:
        self._send(bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = _json.dumps(data, separators=(",", ":"))
        self._send(text if mode == "text" else text.encode("utf-8"))

    def _send(self, data: Any) -> None:
        from websockets.exceptions import ConnectionClosed
        try:
            self._conn.send(data)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def receive(self) -> Any:
        """The next message: `str` for text, `bytes` for binary."""
        from websockets.exceptions import ConnectionClosed
        try:
            return self._conn.recv(timeout=self._timeout)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def receive_text(self) -> str:
        msg = self.receive()
        if not isinstance(msg, str):
            raise TypeError(f"expected a text message, got binary {msg!r}")
        return msg

    def receive_bytes(self) -> bytes:
        msg = self.receive()
        if not isinstance(msg, bytes):
            raise TypeError(f"expected a binary message, got text {msg!r}")
        return msg

    def receive_json(self, mode: str = "text") -> Any:
        msg = self.receive()
        return _json.loads(msg)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Sends a close frame and waits for the server's (idempotent)."""
        self._conn.close(code, reason)

    @staticmethod
    def _disconnect(exc: Any) -> exceptions.WebSocketDisconnect:
        rcvd = getattr(exc, "rcvd", None)
        if rcvd is None:
            return exceptions.WebSocketDisconnect(1006)
        return exceptions.WebSocketDisconnect(rcvd.code, rcvd.reason)


_register_with_app()

"""`viperhttp.testclient.TestClient` (docs/guide/testing.md): a user's pytest file run as a
user runs it, in its own pytest process, against the real runtime."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import TESTS

PROJECT = TESTS / "user_project"


def _pytest(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(path.parent),
         "-c", "/dev/null", *extra, str(path)],
        cwd=path.parent, capture_output=True, text=True, timeout=120)


def test_users_pytest_file_passes():
    proc = _pytest(PROJECT / "test_myapp.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "14 passed" in proc.stdout, proc.stdout


def test_a_failing_user_test_fails(tmp_path):
    # The client really reports what the server answered: a wrong expectation fails.
    (tmp_path / "conftest.py").write_text((PROJECT / "conftest.py").read_text().replace(
        "Path(__file__).parent", repr(str(PROJECT))))
    (tmp_path / "test_wrong.py").write_text(
        "from viperhttp.testclient import TestClient\nfrom myapp import app\n"
        "def test_wrong():\n    with TestClient(app) as c:\n"
        "        assert c.get('/').json() == {'hello': 'mars'}\n"
        "def test_unhandled_reraised():\n    with TestClient(app) as c:\n"
        "        c.get('/broken')\n")
    proc = _pytest(tmp_path / "test_wrong.py")
    assert proc.returncode == 1
    assert "2 failed" in proc.stdout, proc.stdout
    assert "ZeroDivisionError: bug in the handler" in proc.stdout


def test_startup_failure_raises_in_the_test(tmp_path):
    (tmp_path / "test_startup.py").write_text(
        "import pytest\nfrom viperhttp import ViperHTTP\nfrom viperhttp.testclient import TestClient\n"
        "app = ViperHTTP()\n@app.on_event('startup')\ndef boom():\n    raise KeyError('db')\n"
        "def test_it():\n    with pytest.raises(RuntimeError, match='startup failed'):\n"
        "        with TestClient(app):\n            pass\n")
    proc = _pytest(tmp_path / "test_startup.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_background_tasks_have_run_when_the_request_returns(tmp_path):
    """Starlette's client returns after the request's background tasks; a test checks what they
    did right after the call, and a failing task's exception is raised there (also for a
    streamed body, whose tasks run after its last chunk)."""
    (tmp_path / "test_bg.py").write_text('''
import asyncio
import pytest
from viperhttp import BackgroundTasks, StreamingResponse, ViperHTTP
from viperhttp.testclient import TestClient

app = ViperHTTP()
LOG = []


async def slow_write(line):
    await asyncio.sleep(0.3)
    LOG.append(line)


def broken():
    raise LookupError("bug in the task")


@app.post("/notify/{who}")
def notify(who: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(slow_write, "a " + who)
    background_tasks.add_task(LOG.append, "b " + who)
    return {"queued": who}


@app.get("/stream")
async def stream(background_tasks: BackgroundTasks):
    async def body():
        yield b"x"
        background_tasks.add_task(slow_write, "late")
    background_tasks.add_task(slow_write, "early")
    return StreamingResponse(body())


@app.get("/broken")
def fails(background_tasks: BackgroundTasks):
    background_tasks.add_task(broken)
    return {"ok": True}


def test_tasks_ran():
    with TestClient(app) as client:
        assert client.post("/notify/ada").json() == {"queued": "ada"}
        assert LOG == ["a ada", "b ada"]
        assert client.get("/stream").content == b"x"
        assert LOG[2:] == ["early", "late"]
        with pytest.raises(LookupError, match="bug in the task"):
            client.get("/broken")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/broken").json() == {"ok": True}
''')
    proc = _pytest(tmp_path / "test_bg.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_server_error_handler_still_raises_in_the_test(tmp_path):
    """Starlette: a handler for `Exception` (or 500) makes the response, and the exception still
    reaches the test client; a handler for another class just answers."""
    (tmp_path / "test_handlers.py").write_text('''
import pytest
from viperhttp import JSONResponse, ViperHTTP
from viperhttp.testclient import TestClient

app = ViperHTTP()


@app.exception_handler(Exception)
async def server_error(request, exc):
    return JSONResponse(status_code=500, content={"error": type(exc).__name__})


@app.exception_handler(LookupError)
async def not_there(request, exc):
    return JSONResponse(status_code=404, content={"missing": str(exc)})


@app.get("/crash")
def crash():
    raise RuntimeError("bug")


@app.get("/missing")
def missing():
    raise LookupError("item 7")


def test_it():
    with TestClient(app) as client:
        with pytest.raises(RuntimeError, match="bug"):
            client.get("/crash")
        assert client.get("/missing").json() == {"missing": "item 7"}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/crash")
        assert (r.status_code, r.json()) == (500, {"error": "RuntimeError"})
''')
    proc = _pytest(tmp_path / "test_handlers.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_websocket_handlers_exception_is_raised_in_the_test(tmp_path):
    """Starlette's client: what a WebSocket handler lets out is raised in the test, when the
    `with` block exits or at the receive that finds the socket closed by it; before `accept()`
    from `websocket_connect`. `WebSocketDisconnect` included: FastAPI's chat loop that does not
    catch it raises it when the test leaves (FastAPI's own tutorial test expects that), and
    `raise_server_exceptions=False` changes none of it (Starlette's rule)."""
    (tmp_path / "test_ws_errors.py").write_text('''
import asyncio
import time
import pytest
from viperhttp import HTTPException, ViperHTTP, WebSocket, WebSocketDisconnect
from viperhttp.testclient import TestClient, WebSocketRejected

app = ViperHTTP()


@app.websocket("/echo-then-fail")
async def echo_then_fail(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("echo " + await websocket.receive_text())
    raise ValueError("after the echo")


@app.websocket("/chat")
async def chat(websocket: WebSocket):
    await websocket.accept()
    while True:
        await websocket.send_text("got " + await websocket.receive_text())


@app.websocket("/polite")
async def polite(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


@app.websocket("/before-accept")
async def before_accept(websocket: WebSocket):
    raise KeyError("no room")


@app.websocket("/refused")
async def refused(websocket: WebSocket):
    raise HTTPException(401, "login first")


@app.websocket("/close-then-fail")
async def close_then_fail(websocket: WebSocket):
    await websocket.accept()
    await websocket.close(4001)
    await asyncio.sleep(0.2)
    raise RuntimeError("after the close")


@app.websocket("/outlives")
async def outlives(websocket: WebSocket):
    await websocket.accept()
    await asyncio.sleep(3)
    raise RuntimeError("too late to be the test's")


@pytest.mark.parametrize("raise_server_exceptions", [True, False])
def test_raised(raise_server_exceptions):
    client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
    with pytest.raises(ValueError, match="after the echo"):
        with client.websocket_connect("/echo-then-fail") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "echo hi"
            ws.receive_text()  # the socket closed by the handler's failure: its exception
    with pytest.raises(WebSocketDisconnect) as left:
        with client.websocket_connect("/chat") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "got hi"
    assert left.value.code == 1000
    with client.websocket_connect("/polite") as ws:
        ws.send_text("hi")
    with pytest.raises(KeyError, match="no room"):
        client.websocket_connect("/before-accept")
    with pytest.raises(WebSocketRejected) as refusal:
        client.websocket_connect("/refused")
    assert refusal.value.status_code == 401
    with pytest.raises(RuntimeError, match="after the close"):
        with client.websocket_connect("/close-then-fail") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4001
    started = time.monotonic()
    with client.websocket_connect("/outlives"):
        pass  # the handler outlives the client: nothing to raise, and the exit does not wait for it
    assert time.monotonic() - started < 2.9
    client.close()
''')
    proc = _pytest(tmp_path / "test_ws_errors.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout, proc.stdout


def test_a_websocket_handlers_exception_is_raised_behind_a_trusted_proxy_header(tmp_path):
    """The handler's end was matched to the test's connection by the client's port as the
    server saw it (`request.client`): with `forwarded_allow_ips` trusting the test client and
    an `X-Forwarded-For` on the handshake, `request.client` is the forwarded address (port 0),
    so the handler's exception was never raised (a `WebSocketDisconnect(1011)` instead) and
    leaving the block waited 2 s for a report that never came. The handshake's
    `Sec-WebSocket-Key` names the connection now."""
    (tmp_path / "test_ws_proxy.py").write_text('''
import time
import pytest
from viperhttp import ViperHTTP, WebSocket
from viperhttp.testclient import TestClient

app = ViperHTTP()
SEEN = []


@app.websocket("/fail")
async def fail(websocket: WebSocket):
    SEEN.append(tuple(websocket.request.client))
    await websocket.accept()
    await websocket.receive_text()
    raise ValueError("behind the proxy")


@app.websocket("/before-accept")
async def before_accept(websocket: WebSocket):
    raise KeyError("refused behind the proxy")


def test_raised():
    client = TestClient(app, forwarded_allow_ips="127.0.0.1")
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    started = time.monotonic()
    with pytest.raises(ValueError, match="behind the proxy"):
        with client.websocket_connect("/fail", headers=proxied) as ws:
            ws.send_text("hi")
            ws.receive_text()
    assert SEEN == [("203.0.113.7", 0)]  # the address the old port match used
    with pytest.raises(ValueError, match="behind the proxy"):
        with client.websocket_connect("/fail", headers=proxied) as ws:
            ws.send_text("hi")  # raised when the block exits
    assert time.monotonic() - started < 1.5  # no wait for a report that never comes
    with pytest.raises(KeyError, match="refused behind the proxy"):
        client.websocket_connect("/before-accept", headers=proxied)
    client.close()
''')
    proc = _pytest(tmp_path / "test_ws_proxy.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout, proc.stdout


def test_several_apps_in_one_test_session(tmp_path):
    """App factories and one app per test module (docs/internals/framework.md "More than one
    app"): a new app replaces one that is not serving, and serving an earlier one makes it the
    active app again, with its routes, static mount, CORS, middleware, handlers and overrides."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("from a")
    (tmp_path / "test_apps.py").write_text(f'''
import pytest
from viperhttp import Depends, JSONResponse, ViperHTTP
from viperhttp.middleware import CORSMiddleware
from viperhttp.testclient import TestClient


def who():
    return "real"


def create_app(name):
    app = ViperHTTP()
    app.mount("/static", {str(tmp_path / "files")!r})
    app.add_middleware(CORSMiddleware, allow_origins=["https://" + name + ".example"])

    @app.middleware("http")
    async def stamp(request, call_next):
        response = await call_next(request)
        response.headers["x-app"] = name
        return response

    @app.exception_handler(404)
    async def missing(request, exc):
        return JSONResponse(status_code=404, content={{"app": name}})

    @app.get("/name")
    def get_name(user: str = Depends(who)):
        return {{"app": name, "user": user}}

    return app


app_a = create_app("a")
app_b = create_app("b")  # made while app_a exists, as two test modules would


def test_factory_apps_one_after_another():
    for name in ("c", "d"):
        with TestClient(create_app(name)) as client:
            assert client.get("/name").json() == {{"app": name, "user": "real"}}


def test_an_earlier_app_serves_again_with_all_it_registered():
    app_a.dependency_overrides[who] = lambda: "fake"
    for app, name, user in ((app_a, "a", "fake"), (app_b, "b", "real"), (app_a, "a", "fake")):
        with TestClient(app) as client:
            r = client.get("/name", headers={{"Origin": "https://" + name + ".example"}})
            assert r.json() == {{"app": name, "user": user}}
            assert r.headers["x-app"] == name
            assert r.headers["access-control-allow-origin"] == "https://" + name + ".example"
            assert client.get("/static/a.txt").text == "from a"
            assert client.get("/nope").json() == {{"app": name}}


def test_no_second_app_while_one_serves():
    with TestClient(app_a):
        with pytest.raises(ValueError, match="only one ViperHTTP instance supported"):
            ViperHTTP()
''')
    proc = _pytest(tmp_path / "test_apps.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_module_level_clients_of_two_apps_and_factories_without_with(tmp_path):
    """FastAPI's usual layout: each test module makes `client = TestClient(app)` at import,
    for its own app, and never closes it; and an app factory per test without `with`. A
    server a request started gives way to the next client or app; the first client starts
    again, its cookies kept, when used again."""
    for name in ("a", "b"):
        (tmp_path / f"app_{name}.py").write_text(
            "from viperhttp import Response, ViperHTTP\n"
            f"app = ViperHTTP()\n@app.get('/who')\ndef who():\n    return {{'app': '{name}'}}\n"
            "@app.get('/set')\ndef set_cookie():\n    r = Response(body='ok')\n"
            f"    r.set_cookie('seen', '{name}')\n    return r\n"
            "@app.get('/cookie')\ndef cookie(request):\n    return {'seen': request.cookies.get('seen')}\n")
        (tmp_path / f"test_{name}.py").write_text(
            f"from viperhttp.testclient import TestClient\nfrom app_{name} import app\n"
            "client = TestClient(app)\n"
            f"def test_{name}_first():\n    assert client.get('/who').json() == {{'app': '{name}'}}\n"
            "    client.get('/set')\n")
    (tmp_path / "test_c_again.py").write_text(
        "from test_a import client\n"
        "def test_a_again_keeps_its_cookies():\n"
        "    assert client.get('/who').json() == {'app': 'a'}\n"
        "    assert client.get('/cookie').json() == {'seen': 'a'}\n")
    (tmp_path / "test_d_factory.py").write_text(
        "import pytest\nfrom viperhttp import ViperHTTP\nfrom viperhttp.testclient import TestClient\n"
        "def create_app(n):\n    app = ViperHTTP()\n"
        "    @app.get('/n')\n    def get_n():\n        return {'n': n}\n    return app\n"
        "@pytest.mark.parametrize('n', [1, 2, 3])\n"
        "def test_factory(n):\n    assert TestClient(create_app(n)).get('/n').json() == {'n': n}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-c", "/dev/null", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 passed" in proc.stdout, proc.stdout


def test_the_lifespan_runs_only_inside_with_and_websockets_give_way(tmp_path):
    """Starlette's client: a `TestClient(app)` used without `with` does not run the lifespan
    (a test must not create the production database); `with` does, also for a client a request
    had started. A client whose server `websocket_connect` started gives way to the next one,
    as one a request started."""
    (tmp_path / "test_life.py").write_text("""
from contextlib import asynccontextmanager
import pytest
from viperhttp import ViperHTTP, WebSocket
from viperhttp.testclient import TestClient

events = []

@asynccontextmanager
async def lifespan(app):
    events.append("startup")
    yield
    events.append("shutdown")

app = ViperHTTP(lifespan=lifespan)

@app.get("/events")
def get_events():
    return list(events)

@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()

def test_plain_client_runs_no_lifespan():
    client = TestClient(app)
    assert client.get("/events").json() == []
    client.close()
    assert events == []

def test_with_runs_it_also_after_a_request():
    client = TestClient(app)
    assert client.get("/events").json() == []
    with client:
        assert client.get("/events").json() == ["startup"]
    assert events == ["startup", "shutdown"]

@app.websocket("/ws/closed")
async def ws_closed(websocket: WebSocket):
    await websocket.close(code=1008)

def test_a_socket_closed_before_accept_is_a_disconnect():
    from viperhttp import WebSocketDisconnect
    with pytest.raises(WebSocketDisconnect) as info:
        with TestClient(app).websocket_connect("/ws/closed"):
            pass
    assert (info.value.code, info.value.status_code) == (1008, 403)

def test_websocket_then_another_client():
    events.clear()
    with TestClient(app).websocket_connect("/ws") as s:
        assert s.receive_text() == "hi"
    assert TestClient(app).get("/events").json() == []
    other = ViperHTTP()
    other.get("/x")(lambda: {"x": 1})
    assert TestClient(other).get("/x").json() == {"x": 1}
""")
    proc = _pytest(tmp_path / "test_life.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout, proc.stdout


def test_an_overridden_cached_dependency_stays_cached(tmp_path):
    """`Depends(get_db, use_cache=True)` overridden in a test: the handler and the dependency
    that also takes the session get the one replacement value of the request, as in FastAPI
    (the override used to lose `use_cache`: two sessions per request)."""
    (tmp_path / "test_cache.py").write_text("""
import itertools
from typing import Annotated
from viperhttp import Depends, ViperHTTP
from viperhttp.testclient import TestClient

counter = itertools.count()

def get_db():
    yield f"session-{next(counter)}"

def override_db():
    yield f"override-{next(counter)}"

Db = Annotated[str, Depends(get_db, use_cache=True)]

def current_user(db: Db):
    return db

app = ViperHTTP()

@app.get("/who")
def who(db: Db, user: Annotated[str, Depends(current_user, use_cache=True)]):
    return {"handler": db, "user": user}

def test_one_value_per_request():
    client = TestClient(app)
    first = client.get("/who").json()
    assert first["handler"] == first["user"]
    app.dependency_overrides[get_db] = override_db
    second = client.get("/who").json()
    assert second["handler"] == second["user"] and second["handler"].startswith("override-")
""")
    proc = _pytest(tmp_path / "test_cache.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout, proc.stdout


def test_starlette_client_surface(tmp_path):
    """What FastAPI's own tutorial tests use of Starlette's client: `auth=`, `client.headers`,
    `client.stream`, `follow_redirects=` on the constructor, `user-agent: testclient`, URLs
    on `testserver` (also after the default headers are cleared), `root_path` refused clearly."""
    (tmp_path / "test_surface.py").write_text('''
import pytest
from viperhttp import Request, RedirectResponse, StreamingResponse, ViperHTTP
from viperhttp.security import HTTPBasic, HTTPBasicCredentials
from viperhttp import Depends
from viperhttp.testclient import TestClient

app = ViperHTTP()
basic = HTTPBasic()

@app.get("/me")
def me(creds: HTTPBasicCredentials = Depends(basic)):
    return {"user": creds.username, "password": creds.password}

@app.get("/echo")
def echo(request: Request):
    return {"ua": request.headers.get("user-agent"), "host": request.headers.get("host"),
            "token": request.headers.get("x-token")}

@app.get("/away")
def away():
    return RedirectResponse("/echo")

@app.get("/feed")
def feed():
    return StreamingResponse(iter([b"one\\n", b"two\\n"]), media_type="text/plain")

def test_auth_and_headers():
    client = TestClient(app)
    assert client.get("/me", auth=("ada", "s3cret")).json() == {"user": "ada", "password": "s3cret"}
    r = client.get("/echo")
    assert r.json() == {"ua": "testclient", "host": "testserver", "token": None}
    assert str(r.url) == "http://testserver/echo" and str(r.request.url) == "http://testserver/echo"
    client.headers["X-Token"] = "abc"
    assert client.get("/echo").json()["token"] == "abc"
    client.headers.clear()
    assert client.get("/echo").json()["host"] == "testserver"
    client.close()
    with TestClient(app, headers={"User-Agent": "mine"}) as own:
        assert own.get("/echo").json()["ua"] == "mine"  # the test's own, in any spelling

def test_redirects_and_stream():
    with TestClient(app, follow_redirects=False) as client:
        r = client.get("/away")
        assert r.status_code == 307 and r.headers["location"] == "/echo"
        assert client.get("/away", follow_redirects=True).status_code == 200
        with client.stream("GET", "/feed") as r:
            assert list(r.iter_lines()) == ["one", "two"]

def test_root_path_is_refused_at_once():
    with pytest.raises(TypeError, match="root_path"):
        TestClient(app, root_path="/api")
''')
    proc = _pytest(tmp_path / "test_surface.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout, proc.stdout

"""A user's pytest file written against TestClient (run by tests/test_testclient.py in its
own pytest process, as a user's project would run it)."""
import pytest

from viperhttp import WebSocketDisconnect
from viperhttp.testclient import TestClient, WebSocketRejected

from myapp import app, get_db


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c
    assert app.state.events == ["startup", "shutdown"]


def test_index(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.json() == {"hello": "world"}
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["content-type"] == r.headers["CONTENT-TYPE"]


def test_dependency_overrides(client):
    # FastAPI's testing pattern: replace a dependency, wherever it is used, for a test
    assert client.get("/whoami").json() == {"user": "ada@production"}
    app.dependency_overrides[get_db] = lambda: {"name": "test"}
    try:
        assert client.get("/whoami").json() == {"user": "ada@test"}
        assert client.get("/db").json() == {"name": "test"}

        def db_named(name: str = "query"):  # a replacement with parameters of its own
            yield {"name": name}

        app.dependency_overrides[get_db] = db_named
        assert client.get("/whoami?name=x").json() == {"user": "ada@x"}
        assert client.get("/whoami").json() == {"user": "ada@query"}
    finally:
        app.dependency_overrides = {}
    assert client.get("/whoami").json() == {"user": "ada@production"}
    assert client.get("/db").json() == {"name": "production"}


def test_startup_ran(client):
    assert app.state.events == ["startup"]


def test_params_and_errors(client):
    assert client.get("/items/5", params={"q": "x"}).json() == {"item_id": 5, "q": "x"}
    missing = client.get("/items/0")
    assert missing.status_code == 404 and missing.json() == {"detail": "no such item"}
    assert client.get("/items/abc").status_code == 404  # {item_id:int} does not match


def test_json_body(client):
    r = client.post("/items", json={"name": "pen"})
    assert r.status_code == 201 and r.json() == {"created": {"name": "pen"}}


def test_cookie_jar(client):
    assert client.get("/me").status_code == 401
    assert client.get("/login").cookies["sid"] == "abc123"
    assert client.get("/me").json() == {"sid": "abc123"}  # the jar sent it back
    assert client.get("/me", cookies={"sid": "other"}).json() == {"sid": "other"}
    # per-request cookies are for that request only, as httpx's (the jar keeps its own)
    assert client.get("/me").json() == {"sid": "abc123"}


def test_files_and_form_fields(client):
    r = client.post("/upload", files={"doc": ("a.txt", b"hello", "text/plain")},
                    data={"note": "hi"})
    assert r.json() == {"name": "a.txt", "size": 5, "note": "hi"}


def test_base_url_host(client):
    assert client.get("/host").json() == {"host": "testserver"}


def test_server_exception_raised_in_test(client):
    with pytest.raises(ZeroDivisionError, match="bug in the handler"):
        client.get("/broken")


def test_server_exception_as_500(client):
    client.raise_server_exceptions = False
    try:
        r = client.get("/broken")
    finally:
        client.raise_server_exceptions = True
    assert r.status_code == 500
    assert r.text == "Internal Server Error"


def test_websocket_echo(client):
    with client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "echo: hi"
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_bytes() == b"echo: \x00\x01"
        ws.send_json({"n": 1})
        assert ws.receive_json() == {"echo": {"n": 1}}


def test_websocket_server_close_code(client):
    with client.websocket_connect("/ws/bye") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 4001
    assert info.value.reason == "go away"


def test_websocket_rejected_handshake(client):
    with pytest.raises(WebSocketRejected) as info:
        with client.websocket_connect("/ws/private"):
            pass
    assert info.value.status_code == 401
    assert info.value.text == '{"detail":"login first"}'
    with pytest.raises(WebSocketRejected) as missing:
        client.websocket_connect("/ws/nowhere")
    assert missing.value.status_code == 404


def test_websocket_handshake_sends_cookies_and_headers(client):
    client.cookies.clear()
    client.get("/login")  # the jar now holds sid=abc123
    with client.websocket_connect("/ws/whoami", subprotocols=["v1"],
                                  headers={"X-Token": "t0k"}) as ws:
        assert ws.subprotocol == "v1"
        assert ws.receive_json() == {"sid": "abc123", "token": "t0k", "protocols": ["v1"]}
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    assert info.value.code == 1000

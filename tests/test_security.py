"""`viperhttp.security`, FastAPI's security dependencies (docs/internals/typed-api.md, "Security
dependencies"), over real sockets: the credential or FastAPI's 401 with its `WWW-Authenticate`,
and the OpenAPI security schemes."""
import base64

import pytest

APP = "apps/security_app.py"
NOT_AUTHENTICATED = {"detail": "Not authenticated"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from support.module_server import start_module_server

    srv = start_module_server(tmp_path_factory.mktemp("security"), APP)
    yield srv.client
    srv.stop()


def refused(r, challenge):
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (401, NOT_AUTHENTICATED, challenge)
    return True


def test_oauth2_password_flow(client):
    r = client.post("/token", data={"username": "ada", "password": "lovelace", "scope": "read write"})
    assert r.json() == {"access_token": "ada", "token_type": "bearer", "scopes": ["read", "write"]}
    assert client.post("/token", data={"username": "ada", "password": "x"}).status_code == 400
    r = client.post("/token", data={"username": "ada", "password": "lovelace", "grant_type": "other"})
    assert r.status_code == 422  # grant_type must be "password" when given
    assert refused(client.get("/me"), "Bearer")
    assert refused(client.get("/me", headers={"Authorization": "Basic abc"}), "Bearer")
    assert client.get("/me", headers={"Authorization": "Bearer ada"}).json() == {"user": "ada"}
    r = client.get("/me", headers={"Authorization": "Bearer eve"})
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid token"})


def test_http_bearer_and_basic(client):
    assert refused(client.get("/bearer"), "Bearer")
    assert refused(client.get("/bearer", headers={"Authorization": "Bearer"}), "Bearer")  # no credentials
    r = client.get("/bearer", headers={"Authorization": "Bearer abc.def"})
    assert r.json() == {"scheme": "Bearer", "credentials": "abc.def"}
    assert refused(client.get("/basic"), 'Basic realm="shop"')
    good = base64.b64encode(b"ada:love:lace").decode()
    assert client.get("/basic", headers={"Authorization": "Basic " + good}).json() == {
        "username": "ada", "password": "love:lace"}
    assert refused(client.get("/basic", headers={"Authorization": "Basic !!notbase64"}), 'Basic realm="shop"')
    nocolon = base64.b64encode(b"ada").decode()
    assert refused(client.get("/basic", headers={"Authorization": "Basic " + nocolon}), 'Basic realm="shop"')


def test_api_keys_and_optional(client):
    assert refused(client.get("/keys"), "APIKey")
    r = client.get("/keys?api_key=q1", headers={"X-API-Key": "h1", "Cookie": "session=c1"})
    assert r.json() == {"header": "h1", "query": "q1", "cookie": "c1"}
    assert client.get("/optional").json() == {"creds": None}  # auto_error=False
    assert client.get("/optional", headers={"Authorization": "Bearer t"}).json() == {"creds": "t"}


def test_openapi_declares_the_schemes(client):
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"] == {"type": "oauth2", "flows": {"password": {"tokenUrl": "token",
                                                                                         "scopes": {}}}}
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    paths = doc["paths"]
    assert paths["/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]  # through current_user
    assert paths["/keys"]["get"]["security"] == [{"APIKeyHeader": []}, {"APIKeyQuery": []},
                                                 {"APIKeyCookie": []}]
    form = paths["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["required"]) == {"username", "password"}
    assert "security" not in paths["/token"]["post"]


@pytest.fixture(scope="module")
def scopes_client(tmp_path_factory):
    from support.module_server import start_module_server

    srv = start_module_server(tmp_path_factory.mktemp("scopes"), "apps/security_scopes_app.py")
    yield srv.client
    srv.stop()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_oauth2_scopes_add_up_along_the_chain(scopes_client):
    """FastAPI's OAuth2 scopes tutorial: `Security(current_user, scopes=["me"])` inside
    `Security(active_user, scopes=["items"])` asks `current_user` for both, outermost first."""
    c = scopes_client
    assert c.get("/users/me", headers=bearer("ada:me")).json() == {"name": "ada", "required": ["me"]}
    r = c.get("/users/me", headers=bearer("ada:items"))
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
        401, {"detail": "Not enough permissions"}, 'Bearer scope="me"')
    assert c.get("/users/me/items", headers=bearer("ada:me items")).json() == {
        "name": "ada", "required": ["items", "me"]}
    r = c.get("/users/me/items", headers=bearer("ada:me"))
    assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer scope="items me"')
    # no Security above it: no scopes required, the plain challenge
    assert c.get("/status", headers=bearer("bob:")).json() == {"name": "bob", "required": []}
    assert refused(c.get("/status"), "Bearer")
    # a handler's own SecurityScopes: the route requires none (FastAPI)
    assert c.get("/handler-scopes").json() == {"scopes": [], "str": ""}


def test_cached_security_dependencies_are_cached_per_scope_set(scopes_client):
    scopes_client.get("/cached", headers=bearer("ada:me items"))  # forgets the other tests' calls
    r = scopes_client.get("/cached", headers=bearer("ada:me items"))
    assert r.json() == {"a": ["items"], "b": ["me"], "calls": ["items", "me"]}


def test_openapi_lists_the_scopes_each_route_requires(scopes_client):
    doc = scopes_client.get("/openapi.json").json()
    flow = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert flow == {"tokenUrl": "token", "scopes": {"me": "Read yourself.", "items": "Read items."}}
    security = {path: ops["get"].get("security") for path, ops in doc["paths"].items()}
    assert security["/users/me"] == [{"OAuth2PasswordBearer": ["me"]}]
    assert security["/users/me/items"] == [{"OAuth2PasswordBearer": ["items", "me"]}]
    assert security["/status"] == [{"OAuth2PasswordBearer": []}]
    assert security["/cached"] == [{"OAuth2PasswordBearer": ["items", "me"]}]
    assert security["/handler-scopes"] is None


def test_security_scopes_refuses_a_string():
    from viperhttp.security import Security

    with pytest.raises(TypeError, match="list of scope names"):
        Security(lambda: None, scopes="items")
    assert Security(lambda: None, scopes=["a", "b", "a"]).scopes == ("a", "b")


def test_make_not_authenticated_error_is_the_hook_fastapi_has():
    """FastAPI's documented way to keep the old 403 (or change the answer): override
    `make_not_authenticated_error` on a scheme's subclass; `make_authenticate_headers` gives
    the challenge."""
    import viperhttp
    from viperhttp import Depends, HTTPException, ViperHTTP
    from viperhttp.security import APIKeyHeader, HTTPBasic, HTTPBearer
    from viperhttp.testclient import TestClient

    class Bearer403(HTTPBearer):
        def make_not_authenticated_error(self) -> HTTPException:
            return HTTPException(403, "Not authenticated")

    viperhttp.reset()
    app = ViperHTTP()
    old, bearer, basic, key = Bearer403(), HTTPBearer(), HTTPBasic(realm="shop"), APIKeyHeader(name="x-key")

    @app.get("/old")
    def old_route(creds=Depends(old)):
        return creds.credentials

    @app.get("/bearer")
    def bearer_route(creds=Depends(bearer)):
        return creds.credentials

    @app.get("/basic")
    def basic_route(creds=Depends(basic)):
        return creds.username

    @app.get("/key")
    def key_route(k=Depends(key)):
        return k

    try:
        with TestClient(app) as c:
            assert (c.get("/old").status_code, c.get("/old").json()) == (403, {"detail": "Not authenticated"})
            assert c.get("/old", headers={"Authorization": "Bearer t"}).text == "t"
            r = c.get("/bearer")
            assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")
            r = c.get("/basic")
            assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Basic realm="shop"')
            r = c.get("/key")
            assert (r.status_code, r.headers["www-authenticate"]) == (401, "APIKey")
        assert basic.make_authenticate_headers() == {"WWW-Authenticate": 'Basic realm="shop"'}
    finally:
        viperhttp.reset()

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

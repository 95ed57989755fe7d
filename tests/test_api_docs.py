"""API docs (docs/internals/api-docs.md): the OpenAPI 3.1 document, Swagger UI at /docs, ReDoc at
/redoc and /docs/lite, over real sockets; the pages are loaded in headless Chromium with every
host but 127.0.0.1 unreachable. Screenshots go to target/test-artifacts/."""
import os

import pytest
from openapi_spec_validator import validate

import conftest
from support.module_server import start_module_server

ARTIFACTS = conftest.ROOT / "target" / "test-artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_module_server(tmp_path_factory.mktemp("docs"), "apps/typed_app.py")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def doc(server):
    r = server.client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return r.json()


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator: raises on any violation
    assert doc["info"] == {"title": "Typed <API>", "version": "2.0.0", "description": "Todo + users"}
    # the docs routes themselves and include_in_schema=False routes are not in the document
    assert not {"/openapi.json", "/docs", "/redoc", "/docs/lite", "/hidden"} & set(doc["paths"])


def _params(doc, path, method="get"):
    return {p["name"]: p for p in doc["paths"][path][method].get("parameters", [])}


def test_parameter_schemas_carry_constraints(doc):
    p = _params(doc, "/constrained/{code}")
    assert p["code"]["in"] == "path" and p["code"]["required"] is True
    assert p["code"]["schema"]["minLength"] == 2 and p["code"]["schema"]["pattern"] == "^[a-z]+$"
    assert p["page"]["schema"]["minimum"] == 1 and p["page"]["schema"]["maximum"] == 100
    assert p["size"]["schema"]["exclusiveMinimum"] == 0 and p["size"]["schema"]["exclusiveMaximum"] == 51
    assert p["item-query"]["required"] is False  # the alias is the documented name
    h = _params(doc, "/headers")
    assert h["x-token"]["in"] == "header" and h["x-token"]["required"] is True
    c = _params(doc, "/cookies")
    assert c["session_id"]["in"] == "cookie"
    t = _params(doc, "/typed/{when}/{uid}")
    assert t["when"]["schema"]["format"] == "date" and t["uid"]["schema"]["format"] == "uuid"
    assert t["color"]["schema"]["$ref"] == "#/components/schemas/Color"


def test_bodies_models_and_responses(doc):
    schemas = doc["components"]["schemas"]
    assert {"Item", "UserIn", "UserOut", "User", "Point", "HTTPValidationError", "ValidationError"} <= set(schemas)
    assert schemas["Item"]["properties"]["price"]["exclusiveMinimum"] == 0
    create = doc["paths"]["/items"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert "201" in create["responses"] and "200" not in create["responses"]
    # APIRouter / include_router `responses=`, under the route's own
    stats = doc["paths"]["/admin/stats"]["get"]
    assert {k: v["description"] for k, v in stats["responses"].items() if k in ("403", "404", "418")} == {
        "403": "Operation forbidden", "404": "Not found", "418": "I'm a teapot"}
    assert stats["tags"] == ["admin"]
    # FastAPI's rule: a 204 (1xx, 205, 304) answer declares no content
    assert doc["paths"]["/items/{item_id}"]["delete"]["responses"]["204"] == {"description": "Successful Response"}
    users = doc["paths"]["/users"]["post"]["responses"]["201"]
    assert users["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UserOut"}
    assert "password" not in schemas["UserOut"]["properties"]
    bulk = doc["paths"]["/items/bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # titled after the parameter, as FastAPI titles a body that is not a model
    assert bulk == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "title": "Items"}
    assert doc["paths"]["/items"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"}
    login = doc["paths"]["/login"]["post"]["requestBody"]["content"]
    assert set(login["application/x-www-form-urlencoded"]["schema"]["required"]) == {"username", "password"}
    upload = doc["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"]["contentMediaType"] == "application/octet-stream"


def test_route_metadata_websockets_and_original_routes(doc):
    meta = doc["paths"]["/meta"]["get"]
    assert meta["summary"] == "Meta" and meta["description"] == "Long text" and meta["tags"] == ["meta"]
    assert meta["deprecated"] is True and meta["x-extra"] == 1
    assert doc["x-websocket"] == [{"path": "/ws/{room}", "summary": "Chat room socket.", "description": "",
                                   "tags": ["ws"], "operationId": "ws_ws_room", "protocols": ["chat"]}]
    orig = _params(doc, "/orig/{n}")
    assert orig["n"]["schema"] == {"type": "integer", "format": "int64"}
    assert orig["page"]["required"] is True and orig["q"]["schema"] == {"type": "string", "default": "x"}
    assert doc["paths"]["/orig/{n}"]["get"]["x-dependencies"] == ["d"]
    assert doc["paths"]["/orig/{n}"]["get"]["responses"]["422"] == {"description": "Validation Error"}


def test_assets_served_natively_with_etag_and_gzip(server):
    c = server.client
    r = c.get("/_viperhttp/docs/swagger-ui-bundle.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and r.headers["etag"]
    assert b"SwaggerUIBundle" in r.content  # httpx decoded the gzip body
    again = c.get("/_viperhttp/docs/swagger-ui-bundle.js",
                  headers={"accept-encoding": "gzip", "if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    assert c.get("/_viperhttp/docs/LICENSE.redoc").status_code == 200
    assert c.get("/_viperhttp/docs/../__init__.py").status_code == 404


def test_pages_reference_only_relative_local_urls(server):
    for path, needles in (("/docs", ("_viperhttp/docs/swagger-ui-bundle.js", '"validatorUrl": null',
                                     '"docs/oauth2-redirect"')),
                          ("/docs/oauth2-redirect", ("../_viperhttp/docs/oauth2-redirect.js",)),
                          ("/redoc", ("_viperhttp/docs/redoc.standalone.js",)),
                          ("/docs/lite", ("../openapi.json",))):
        r = server.client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        for needle in needles:
            assert needle in r.text, (path, needle)
        assert "http://" not in r.text and "https://" not in r.text.replace('"http://www.w3.org', "")
        assert "Typed &lt;API&gt;" in r.text or path.endswith("redirect")  # the title is escaped


def test_a_trailing_slash_redirects_to_the_page(server):
    # `/docs/` matches the route too, where the relative asset URLs would miss: 307 to the
    # page, relative so a proxy prefix stays (FastAPI redirects there as well).
    for path, location in (("/docs/", "../docs"), ("/redoc/", "../redoc"), ("/docs/lite/", "../lite"),
                           ("/docs/?x=1", "../docs?x=1")):
        r = server.client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (307, location), path
    r = server.client.get("/docs/", follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/docs")


def test_docs_can_be_turned_off_or_moved(tmp_path):
    off = start_module_server(tmp_path, "apps/typed_app.py", env={"TYPED_DOCS": "0"})
    try:
        for path in ("/openapi.json", "/docs", "/redoc", "/docs/lite", "/docs/oauth2-redirect"):
            assert off.client.get(path).status_code == 404, path
    finally:
        off.stop()
    moved = start_module_server(tmp_path, "apps/typed_app.py", env={"TYPED_DOCS_URL": "/api/ui"})
    try:
        page = moved.client.get("/api/ui").text
        assert "../_viperhttp/docs/swagger-ui-bundle.js" in page and "../openapi.json" in page
        assert moved.client.get("/docs").status_code == 404
    finally:
        moved.stop()


def test_fastapis_extending_openapi_recipe(tmp_path, doc):
    # `app.openapi = custom_openapi` built with `get_openapi(..., routes=app.routes)`: served at
    # /openapi.json, the same operations as the generated document, the recipe's own info.
    srv = start_module_server(tmp_path, "apps/typed_app.py", env={"TYPED_CUSTOM_OPENAPI": "1"})
    try:
        custom = srv.client.get("/openapi.json").json()
    finally:
        srv.stop()
    assert custom["info"] == {"title": "Custom title", "summary": "custom summary", "version": "2.5.0",
                              "description": "custom description", "x-logo": {"url": "logo.png"}}
    assert custom["paths"] == doc["paths"] and custom["components"] == doc["components"]
    validate(custom)


def test_app_openapi_builds_once_and_a_set_schema_is_served():
    import viperhttp

    viperhttp.reset()
    app = viperhttp.ViperHTTP(title="T", version="3")

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {}

    @app.get("/health")
    def health():
        return {}

    @app.get("/plain")
    def plain(x="1"):  # the original's style, nothing declared to validate
        return {}

    from typing import Annotated

    @app.post("/att")
    async def att(file: Annotated[viperhttp.UploadFile, viperhttp.File(description="attachment")]):
        return {}

    first = app.openapi()
    assert first is app.openapi() is app.openapi_schema
    form = first["paths"]["/att"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["description"] == "attachment"
    assert first["info"] == {"title": "T", "version": "3"} and "/items/{item_id}" in first["paths"]
    # FastAPI lists 422 only where something is validated
    assert list(first["paths"]["/items/{item_id}"]["get"]["responses"]) == ["200", "422"]
    assert list(first["paths"]["/health"]["get"]["responses"]) == ["200"]
    assert list(first["paths"]["/plain"]["get"]["responses"]) == ["200"]
    assert "/openapi.json" not in first["paths"]
    viperhttp.reset()


def _local_only(urls):
    return [u for u in urls if not (u.startswith("http://127.0.0.1:") or u.startswith(("data:", "blob:")))]


def test_swagger_ui_renders_every_operation_offline(server, doc, browser):
    browser.navigate(server.url("/docs"))
    expected = sorted((m.upper(), p) for p, item in doc["paths"].items() for m in item)
    browser.wait_for(f"document.querySelectorAll('.opblock').length >= {len(expected)}")
    shown = browser.evaluate("""Array.from(document.querySelectorAll('.opblock')).map(e =>
        [e.querySelector('.opblock-summary-method').textContent,
         e.querySelector('[data-path]').getAttribute('data-path')])""")
    assert sorted(map(tuple, shown)) == expected
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(ARTIFACTS / "docs-swagger-ui.png"))
    assert _local_only(browser.requested_urls()) == []


def test_swagger_ui_settings_and_the_oauth2_redirect_page(tmp_path, browser):
    # FastAPI's swagger_ui_parameters / swagger_ui_init_oauth reach Swagger UI, and its OAuth2
    # redirect page hands a token back to the window that opened it (an implicit flow's return).
    srv = start_module_server(tmp_path, "apps/typed_app.py", env={"TYPED_SWAGGER": "1"})
    try:
        browser.navigate(srv.url("/docs"))
        browser.wait_for("!!(window.ui && window.ui.getConfigs && document.querySelector('.swagger-ui .info'))")
        configs = browser.evaluate("(() => { const c = window.ui.getConfigs(); "
                                   "return [c.docExpansion, c.syntaxHighlight.activated, c.oauth2RedirectUrl]; })()")
        assert configs == ["none", False, srv.url("/docs/oauth2-redirect")]  # Swagger UI: {activated: false}
        oauth = browser.evaluate("JSON.stringify(window.ui.getSystem().authSelectors.getConfigs())")
        assert '"clientId":"test-client"' in oauth and '"scopes":"read"' in oauth
        browser.evaluate("""window.got = null; window.swaggerUIRedirectOauth2 = {
            state: "s1", redirectUrl: "r", auth: {name: "oauth", schema: {get: () => "implicit"}},
            callback: (v) => { window.got = JSON.stringify(v); },
            errCb: (e) => { window.got = "error " + JSON.stringify(e); }}; 1""")
        browser.call("Runtime.evaluate", userGesture=True, expression=(
            "window.open(window.ui.getConfigs().oauth2RedirectUrl + '#access_token=tok1&state=s1'); 1"))
        got = browser.wait_for("window.got", timeout=15)
        assert '"access_token":"tok1"' in got and '"isValid":true' in got, got
        assert _local_only(browser.requested_urls()) == []
    finally:
        srv.stop()


def test_redoc_renders_every_operation_offline(server, doc, browser):
    browser.navigate(server.url("/redoc"))
    ids = sorted(op["operationId"] for item in doc["paths"].values() for op in item.values())
    browser.wait_for(f"document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= {len(ids)}")
    shown = browser.evaluate("""Array.from(document.querySelectorAll('[data-section-id^="operation/"]'))
        .map(e => e.getAttribute('data-section-id').slice('operation/'.length))""")
    assert sorted(set(shown)) == ids
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(ARTIFACTS / "docs-redoc.png"))
    assert _local_only(browser.requested_urls()) == []
    assert browser.failed_requests() == []


def test_lite_page_lists_operations(server, doc, browser):
    browser.navigate(server.url("/docs/lite"))
    count = sum(len(item) for item in doc["paths"].values())
    browser.wait_for(f"document.querySelectorAll('.op').length >= {count}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(ARTIFACTS / "docs-lite.png"))
    assert _local_only(browser.requested_urls()) == []
    assert os.path.getsize(ARTIFACTS / "docs-lite.png") > 1000


def test_schema_cache_refresh_and_invalidation_in_process():
    import viperhttp
    import viperhttp_autodocs

    viperhttp.reset()
    app = viperhttp.ViperHTTP()
    try:
        @app.get("/a")
        def a(n: int = 1):
            return n

        urls = viperhttp_autodocs.install(app, title="T", servers=["http://x", {"url": "/y"}, 5])
        assert urls == {"openapi_url": "/openapi.json", "docs_url": "/docs", "redoc_url": "/redoc"}
        first = app.dispatch("GET", "/openapi.json")
        assert first["headers"] == {"Cache-Control": "no-store"}
        assert set(first["body"]["paths"]) == {"/a"}
        assert first["body"]["servers"] == [{"url": "http://x"}, {"url": "/y"}]
        assert app.dispatch("GET", "/openapi.json")["body"] is first["body"]  # cached

        @app.get("/b")
        def b():
            return 1

        assert set(app.dispatch("GET", "/openapi.json")["body"]["paths"]) == {"/a", "/b"}  # invalidated
        again = app.dispatch("GET", "/openapi.json?refresh=yes")["body"]
        assert again is not first["body"] and set(again["paths"]) == {"/a", "/b"}
        # a second install does not duplicate routes; a taken path is left alone
        assert viperhttp_autodocs.install(app)["openapi_url"] is None
    finally:
        viperhttp.reset()


def test_declared_responses_with_a_model_render_as_fastapi():
    """`responses={404: {"model": Err}}` becomes the model's schema (a `$ref`), and a missing
    description is the status phrase; it was copied as `"model": "<class ...>"`, a document
    validators refuse."""
    from pydantic import BaseModel

    import viperhttp
    from viperhttp import ViperHTTP
    from viperhttp.testclient import TestClient

    class Err(BaseModel):
        detail: str

    class Out(BaseModel):
        x: int

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/old", responses={404: {"model": Err, "description": "Missing"}, 418: {"description": "tea"}})
    def old() -> Out:
        return Out(x=1)

    @app.get("/two", responses={200: {"model": Out}, 404: {"model": Out}, "4XX": {"model": Err}})
    def two():
        return {"x": 1}

    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Err"}}}
    out = {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}
    try:
        with TestClient(app) as client:
            doc = client.get("/openapi.json").json()
        old_r = doc["paths"]["/old"]["get"]["responses"]
        assert old_r["404"] == {"description": "Missing", "content": ref}
        assert old_r["418"] == {"description": "tea"}
        two_r = doc["paths"]["/two"]["get"]["responses"]
        assert two_r["200"] == {"description": "Successful Response", "content": out}
        assert two_r["404"] == {"description": "Not Found", "content": out}
        assert two_r["4XX"] == {"description": "Client Error", "content": ref}  # FastAPI's range text
        assert {"Err", "Out"} <= set(doc["components"]["schemas"])
        # a model that is no type is refused when the route is declared, not by /openapi.json
        with pytest.raises(TypeError, match=r"responses\[404\]\['model'\] must be a class"):
            app.get("/bad", responses={404: {"model": 5}})(lambda: {})
    finally:
        viperhttp.reset()


def test_models_are_named_as_fastapi_names_them(tmp_path):
    """All body and response models are generated in one pass, as FastAPI does: two `Item`s
    from different modules keep both schemas (they overwrote each other), and a model whose
    validation and serialization schemas differ is `Thing-Input` (bodies) / `Thing-Output`
    (responses). The names and schemas are what FastAPI 0.165 produced for the same app."""
    import sys

    (tmp_path / "shop_a.py").write_text("from pydantic import BaseModel\nclass Item(BaseModel):\n    name: str\n")
    (tmp_path / "shop_b.py").write_text("from pydantic import BaseModel\nclass Item(BaseModel):\n    sku: int\n")
    sys.path.insert(0, str(tmp_path))
    import shop_a
    import shop_b
    from pydantic import BaseModel, computed_field

    import viperhttp
    from viperhttp import ViperHTTP
    from viperhttp.testclient import TestClient

    class Thing(BaseModel):
        name: str
        tags: list = []

        @computed_field  # type: ignore[prop-decorator]
        @property
        def label(self) -> str:
            return self.name.upper()

    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/a", response_model=shop_a.Item)
    async def a(item: shop_a.Item):
        return item

    @app.post("/b")
    async def b(item: shop_b.Item) -> shop_b.Item:
        return item

    @app.post("/things", response_model=Thing)
    async def things(t: Thing):
        return t

    try:
        with TestClient(app) as client:
            doc = client.get("/openapi.json").json()
            assert client.post("/b", json={"sku": 3}).json() == {"sku": 3}
        schemas = doc["components"]["schemas"]
        assert set(schemas) == {"HTTPValidationError", "ValidationError", "Thing-Input", "Thing-Output",
                                "shop_a__Item", "shop_b__Item"}
        assert set(schemas["shop_a__Item"]["properties"]) == {"name"}
        assert set(schemas["shop_b__Item"]["properties"]) == {"sku"}
        body = doc["paths"]["/a"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/shop_a__Item"}
        things_op = doc["paths"]["/things"]["post"]
        assert things_op["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Thing-Input"}
        assert things_op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Thing-Output"}
        assert "label" not in schemas["Thing-Input"]["properties"]
        assert schemas["Thing-Output"]["required"] == ["name", "label"]
        assert set(schemas["ValidationError"]["properties"]) == {"loc", "msg", "type", "input", "ctx"}
        validate(doc)
    finally:
        viperhttp.reset()
        sys.path.remove(str(tmp_path))
        for name in ("shop_a", "shop_b"):
            sys.modules.pop(name, None)


def test_hidden_parameters_and_descriptions_as_fastapi():
    """`Query(include_in_schema=False)` is left out of the document (it was listed), and a
    parameter's description is in its schema too, as FastAPI writes both."""
    from typing import Annotated, Optional

    import viperhttp
    from viperhttp import Body, Query, ViperHTTP
    from viperhttp.testclient import TestClient

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/items/")
    async def items(q: Annotated[Optional[str], Query(description="Search text")] = None,
                    hidden_query: Annotated[Optional[str], Query(include_in_schema=False)] = None):
        return {"q": q, "hidden": hidden_query}

    @app.post("/count")
    async def count(n: Annotated[int, Body()] = 1, k: Annotated[int, Body(include_in_schema=False)] = 2):
        return n + k

    try:
        with TestClient(app) as client:
            assert client.get("/items/?hidden_query=x").json() == {"q": None, "hidden": "x"}
            doc = client.get("/openapi.json").json()
            params = doc["paths"]["/items/"]["get"]["parameters"]
        assert "x-viperhttp-hidden" not in str(doc)  # the marker never leaks into a body schema
        assert [p["name"] for p in params] == ["q"]
        assert params[0]["description"] == "Search text" and params[0]["schema"]["description"] == "Search text"
        assert all("x-viperhttp-hidden" not in str(p) for p in params)
    finally:
        viperhttp.reset()


def test_declared_responses_merge_into_the_routes_own_and_examples_as_fastapi():
    """`responses={200: {"content": {"image/png": {}}}}` beside a response model kept only the
    image: FastAPI merges the declared entry into the route's own answer (the model's JSON
    schema stays). `Body(openapi_examples=...)` was a TypeError at import; `Body(examples=)`
    was left out of the request body."""
    from typing import Annotated, Optional

    from pydantic import BaseModel

    import viperhttp
    from viperhttp import Body, Query, ViperHTTP
    from viperhttp.testclient import TestClient

    class Item(BaseModel):
        id: str

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/items/{item_id}", response_model=Item,
             responses={200: {"content": {"image/png": {}}, "description": "Item or image"},
                        404: {"description": "Missing"}})
    def read_item(item_id: str):
        return {"id": item_id}

    named = {"normal": {"summary": "A normal item", "value": {"id": "a"}}}

    @app.put("/items/{item_id}")
    def put_item(item_id: str, item: Annotated[Item, Body(examples=[{"id": "x"}], openapi_examples=named)],
                 q: Annotated[Optional[str], Query(openapi_examples={"one": {"value": "1"}})] = None):
        return item

    try:
        with TestClient(app) as client:
            assert client.put("/items/a", json={"id": "a"}).json() == {"id": "a"}
            doc = client.get("/openapi.json").json()
        got = doc["paths"]["/items/{item_id}"]["get"]["responses"]
        assert got["200"] == {"description": "Item or image", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}, "image/png": {}}}
        assert got["404"] == {"description": "Missing"}
        put = doc["paths"]["/items/{item_id}"]["put"]
        assert put["requestBody"]["content"]["application/json"] == {
            "schema": {"$ref": "#/components/schemas/Item", "examples": [{"id": "x"}]}, "examples": named}
        q = [p for p in put["parameters"] if p["name"] == "q"][0]
        assert q["examples"] == {"one": {"value": "1"}} and "x-viperhttp" not in str(q["schema"])
    finally:
        viperhttp.reset()


def test_openapi_examples_of_an_embedded_body_field_stay_out_of_its_schema():
    """`Body(openapi_examples=...)` on one of several body parameters (or with `embed=True`)
    left the private marker `x-viperhttp-openapi-examples` in the body model's component
    schema; FastAPI shows named examples only for a single body and drops them here."""
    from typing import Annotated

    from pydantic import BaseModel

    import viperhttp
    from viperhttp import Body, ViperHTTP
    from viperhttp.testclient import TestClient

    class Item(BaseModel):
        name: str

    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/pair")
    def pair(a: Annotated[int, Body(examples=[1])], b: Annotated[int, Body(openapi_examples={"x": {"value": 2}})]):
        return a + b

    @app.post("/wrapped")
    def wrapped(item: Annotated[Item, Body(embed=True, openapi_examples={"y": {"value": {"item": {"name": "n"}}}})]):
        return item

    try:
        with TestClient(app) as client:
            assert client.post("/pair", json={"a": 1, "b": 2}).json() == 3
            doc = client.get("/openapi.json").json()
        assert "x-viperhttp-openapi-examples" not in str(doc)
        schemas = doc["components"]["schemas"]
        pair_body = doc["paths"]["/pair"]["post"]["requestBody"]["content"]["application/json"]
        props = schemas[pair_body["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
        assert props == {"a": {"title": "A", "type": "integer", "examples": [1]},
                         "b": {"title": "B", "type": "integer"}}
        assert "examples" not in pair_body  # as FastAPI: not moved to the media type either
        wrapped_body = doc["paths"]["/wrapped"]["post"]["requestBody"]["content"]["application/json"]
        props = schemas[wrapped_body["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
        assert props == {"item": {"$ref": "#/components/schemas/Item"}}
        validate(doc)
    finally:
        viperhttp.reset()


def test_separate_input_output_schemas_false_lists_one_schema_per_model():
    """`ViperHTTP(separate_input_output_schemas=False)` was a TypeError at import; as in FastAPI
    it lists one `Item` (the validation schema) where the default has `Item-Input` / `Item-Output`."""
    from typing import Optional

    from pydantic import BaseModel, computed_field

    import viperhttp
    from viperhttp import ViperHTTP
    from viperhttp.testclient import TestClient

    class Item(BaseModel):
        name: str
        description: Optional[str] = None

        @computed_field  # type: ignore[prop-decorator]
        @property
        def label(self) -> str:  # only in what the server sends: the two schemas differ
            return self.name.upper()

    def build(**kw):
        app = ViperHTTP(**kw)

        @app.post("/items/")
        def create_item(item: Item) -> Item:
            return item

        with TestClient(app) as client:
            return client.get("/openapi.json").json()

    viperhttp.reset()
    try:
        assert {"Item-Input", "Item-Output"} <= set(build()["components"]["schemas"])
        doc = build(separate_input_output_schemas=False)
        assert "Item" in doc["components"]["schemas"] and "Item-Input" not in doc["components"]["schemas"]
        op = doc["paths"]["/items/"]["post"]
        ref = {"$ref": "#/components/schemas/Item"}
        assert op["requestBody"]["content"]["application/json"]["schema"] == ref
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == ref
        assert doc["components"]["schemas"]["Item"]["required"] == ["name"]
    finally:
        viperhttp.reset()


def test_bytes_fields_are_described_as_fastapi_describes_them():
    """A `bytes` field was pydantic's `format: binary` (`base64url` when the model sends base64);
    FastAPI documents it as `contentMediaType: application/octet-stream`, `contentEncoding:
    base64` for a model configured `ser_json_bytes="base64"` / `val_json_bytes="base64"`."""
    from pydantic import BaseModel, ConfigDict

    import viperhttp
    from viperhttp import ViperHTTP
    from viperhttp.testclient import TestClient

    class Blob(BaseModel):
        model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
        data: bytes

    class Raw(BaseModel):
        data: bytes

    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/blob")
    def blob(body: Blob) -> Raw:
        return Raw(data=body.data)

    try:
        with TestClient(app) as client:
            assert client.post("/blob", json={"data": "aGk="}).json() == {"data": "hi"}
            schemas = client.get("/openapi.json").json()["components"]["schemas"]
        octets = {"type": "string", "contentMediaType": "application/octet-stream"}
        assert schemas["Blob"]["properties"]["data"] == {**octets, "contentEncoding": "base64", "title": "Data"}
        assert schemas["Raw"]["properties"]["data"] == {**octets, "title": "Data"}
    finally:
        viperhttp.reset()

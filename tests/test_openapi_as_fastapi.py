"""OpenAPI documents as FastAPI 0.165 writes them, over a real socket (docs/internals/api-docs.md):
`generate_unique_id_function`, route `callbacks=`, `app.webhooks`, no `null` members, the title
of a response schema that is not a model."""
from typing import List, Optional

from pydantic import BaseModel, HttpUrl
from openapi_spec_validator import validate

import pytest

import viperhttp
from viperhttp import APIRouter, Query, ViperHTTP
from viperhttp.testclient import TestClient


class Item(BaseModel):
    name: str
    description: Optional[str] = None


def _document(app):
    with TestClient(app) as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    return doc


def test_generate_unique_id_function_names_the_operations_nearest_first():
    """FastAPI's generate_clients recipe (`f"{route.tags[0]}-{route.name}"`) was a TypeError at
    import. The route's own function wins, then its router's, then include_router's, then the
    app's; `operation_id=` beats them all; without any the device generator's id stays."""
    from viperhttp.routing import APIRoute

    seen = []

    def by_tag(route):
        seen.append(route)
        return f"{route.tags[0]}-{route.name}"

    viperhttp.reset()
    app = ViperHTTP(generate_unique_id_function=by_tag)

    @app.get("/items/", tags=["items"], response_model=List[Item])
    def get_items():
        return [{"name": "Plumbus"}]

    @app.post("/items/{item_id}", tags=["items"], generate_unique_id_function=lambda r: "own-" + r.name)
    def put_item(item_id: int, item: Item):
        return item

    @app.get("/fixed", tags=["items"], operation_id="fixed_by_hand")
    def fixed():
        return {}

    users = APIRouter(prefix="/users", tags=["users"], generate_unique_id_function=lambda r: "router-" + r.name)

    @users.get("/")
    def list_users():
        return []

    plain = APIRouter(prefix="/plain")

    @plain.get("/{code}")
    def plain_route(code: str):
        return {}

    app.include_router(users, generate_unique_id_function=lambda r: "include-" + r.name)
    app.include_router(plain, generate_unique_id_function=lambda r: f"include-{r.name}-{r.path_format}")
    try:
        doc = _document(app)
    finally:
        viperhttp.reset()
    ids = {(m, p): op["operationId"] for p, item in doc["paths"].items() for m, op in item.items()}
    assert ids == {("get", "/items/"): "items-get_items", ("post", "/items/{item_id}"): "own-put_item",
                   ("get", "/fixed"): "fixed_by_hand", ("get", "/users/"): "router-list_users",
                   ("get", "/plain/{code}"): "include-plain_route-/plain/{code}"}
    # the function gets the declared route, FastAPI's APIRoute names; called at registration
    assert all(isinstance(r, APIRoute) for r in seen) and seen[0].methods == {"GET"}
    # a list response's schema is titled after the unique id, as FastAPI's
    schema = doc["paths"]["/items/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["title"] == "Response Items-Get Items"

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/items/", response_model=List[Item])
    def read_items():
        return []

    try:
        doc = _document(app)
    finally:
        viperhttp.reset()
    op = doc["paths"]["/items/"]["get"]
    assert op["operationId"] == "get_items"  # the device generator's rule without a function
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Item"}, "title": "Response Read Items Items  Get"}


def test_the_model_of_several_body_parameters_is_named_after_the_unique_id():
    """FastAPI names it `Body_<unique id>` (the generate_clients page: the unique id names "the
    operation ID and also ... any needed custom models"); it stayed `Body_POST_<path>` under a
    `generate_unique_id_function` (app, router, include_router). Without one the name is kept. The
    function is still called once per route."""

    class User(BaseModel):
        id: int

    calls = []

    def by_tag(route):
        calls.append(route.name)
        return f"{route.tags[0]}-{route.name}"

    viperhttp.reset()
    app = ViperHTTP(generate_unique_id_function=by_tag)

    @app.post("/items/{item_id}", tags=["items"])
    def update_item(item_id: int, item: Item, user: User):
        return {"item": item.name, "user": user.id}

    users = APIRouter(prefix="/users", tags=["users"])

    @users.put("/{user_id}")
    def replace_user(user_id: int, user: User, item: Item):
        return {}

    def by_include(route):
        calls.append(route.name)
        return "include-" + route.name

    app.include_router(users, generate_unique_id_function=by_include)
    assert sorted(calls) == ["replace_user", "update_item"]  # once per route, at registration

    try:
        with TestClient(app) as client:
            sent = client.post("/items/3", json={"item": {"name": "Plumbus"}, "user": {"id": 7}})
            assert sent.status_code == 200 and sent.json() == {"item": "Plumbus", "user": 7}
        doc = _document(app)
    finally:
        viperhttp.reset()

    def body_ref(path, method):
        return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]

    assert body_ref("/items/{item_id}", "post") == "#/components/schemas/Body_items-update_item"
    assert body_ref("/users/{user_id}", "put") == "#/components/schemas/Body_include-replace_user"
    schemas = doc["components"]["schemas"]
    assert schemas["Body_items-update_item"]["title"] == "Body_items-update_item"
    assert set(schemas["Body_items-update_item"]["properties"]) == {"item", "user"}

    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/items/{item_id}")
    def update(item_id: int, item: Item, user: User):
        return {}

    try:
        doc = _document(app)
    finally:
        viperhttp.reset()
    assert body_ref("/items/{item_id}", "post") == "#/components/schemas/Body_POST_items_item_id"


def test_callbacks_and_webhooks_are_documented_as_fastapi():
    """Route `callbacks=` was a TypeError at import and `app.webhooks` did not exist. FastAPI
    documents a callback under its operation (`callbacks: {name: {path expression: {method:
    operation}}}`, the runtime expressions are no parameters) and a webhook under the
    document's `webhooks`; neither is served."""

    class InvoiceEvent(BaseModel):
        description: str
        paid: bool

    class InvoiceEventReceived(BaseModel):
        ok: bool

    class Subscription(BaseModel):
        username: str
        monthly_fee: float

    callbacks = APIRouter()

    @callbacks.post("{$callback_url}/invoices/{$request.body.id}", response_model=InvoiceEventReceived)
    def invoice_notification(body: InvoiceEvent):
        pass

    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/invoices/", callbacks=callbacks.routes)
    def create_invoice(invoice: Item, callback_url: Optional[HttpUrl] = None):
        return {"msg": "Invoice received"}

    @app.webhooks.post("new-subscription")
    def new_subscription(body: Subscription):
        """A new user subscribed."""

    try:
        with TestClient(app) as client:
            assert client.post("/invoices/", json={"name": "i1"}).json() == {"msg": "Invoice received"}
            assert client.post("/new-subscription", json={}).status_code == 404
            doc = client.get("/openapi.json").json()
        # FastAPI's get_openapi lists webhooks only when given them
        from viperhttp.openapi.utils import get_openapi

        assert "webhooks" not in get_openapi(title="T", version="1", routes=app.routes)
        given = get_openapi(title="T", version="1", routes=app.routes, webhooks=app.webhooks.routes)
        assert given["webhooks"] == doc["webhooks"]
        for bad in ([1], "x", [{"path": "/x"}]):  # a clear TypeError, not an AttributeError inside
            with pytest.raises(TypeError, match="webhooks"):
                get_openapi(title="T", version="1", routes=app.routes, webhooks=bad)
    finally:
        viperhttp.reset()
    validate(doc)
    op = doc["paths"]["/invoices/"]["post"]
    callback = op["callbacks"]["invoice_notification"]["{$callback_url}/invoices/{$request.body.id}"]["post"]
    assert "parameters" not in callback
    assert callback["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InvoiceEvent"}
    assert callback["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InvoiceEventReceived"}
    hook = doc["webhooks"]["new-subscription"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Subscription"}
    assert hook["summary"] == "A new user subscribed."
    assert {"InvoiceEvent", "InvoiceEventReceived", "Subscription", "Item"} <= set(doc["components"]["schemas"])
    assert "/invoices/" in doc["paths"] and len(doc["paths"]) == 1


def test_the_document_has_no_null_members_and_titles_bodies_as_fastapis():
    """FastAPI encodes its document with `exclude_none=True`: an optional field's or parameter's
    `"default": null` (and any other null member) is not written; a null inside a list stays.
    A body that is not a model (`list[Item]`) is titled after its parameter."""
    viperhttp.reset()
    app = ViperHTTP()

    @app.post("/items/", openapi_extra={"x-null": None, "x-list": [None, 1]})
    def create_item(item: Item, q: Optional[str] = None, r: Optional[int] = Query(default=None, examples=[None, 3])):
        return item

    @app.post("/many")
    def create_items(new_items: List[Item]):
        return {}

    try:
        doc = _document(app)
    finally:
        viperhttp.reset()
    many = doc["paths"]["/many"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert many == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "title": "New Items"}
    description = doc["components"]["schemas"]["Item"]["properties"]["description"]
    assert description == {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Description"}
    op = doc["paths"]["/items/"]["post"]
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert "default" not in params["q"] and params["r"]["examples"] == [None, 3]
    assert "x-null" not in op and op["x-list"] == [None, 1]


def test_declared_responses_take_fastapis_range_texts_and_the_routes_media_type():
    """A `4XX` / `5XX` / `default` key without a description was "Additional Response"
    (FastAPI: "Client Error", "Server Error", "Default Response", and "Information", "Success",
    "Redirection"); a declared `"model"` on a `PlainTextResponse` / `HTMLResponse` route was
    described as `application/json` beside the route's own empty `text/plain` schema (FastAPI:
    under the class's media type, merged into the route's own string schema). Expected values are
    FastAPI 0.165's documents for the same routes."""
    from viperhttp.responses import HTMLResponse, PlainTextResponse

    class M(BaseModel):
        msg: str

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/ranges", responses={"4XX": {"model": M}, "5XX": {"description": "Boom"}, "5xx": {},
                                   "default": {"model": M}, "1XX": {}, "2XX": {}, "3XX": {}, 404: {}, 299: {}})
    def ranges(q: int = 0):
        return {}

    @app.get("/text", response_class=PlainTextResponse, responses={200: {"model": M}, 404: {"model": M}})
    def text():
        return "x"

    @app.get("/html", response_class=HTMLResponse,
             responses={200: {"model": M}, "default": {"model": M, "description": "Other"}})
    def html():
        return "<p>x</p>"

    try:
        paths = _document(app)["paths"]
    finally:
        viperhttp.reset()
    ref = {"$ref": "#/components/schemas/M"}
    assert paths["/ranges"]["get"]["responses"] == {
        "200": {"description": "Successful Response", "content": {"application/json": {"schema": {}}}},
        "1XX": {"description": "Information"}, "2XX": {"description": "Success"},
        "3XX": {"description": "Redirection"}, "404": {"description": "Not Found"},
        "299": {"description": "Additional Response"},
        "4XX": {"description": "Client Error", "content": {"application/json": {"schema": ref}}},
        "5XX": {"description": "Boom"},
        "default": {"description": "Default Response", "content": {"application/json": {"schema": ref}}}}
    assert paths["/text"]["get"]["responses"] == {
        "200": {"description": "Successful Response", "content": {"text/plain": {"schema": {**ref, "type": "string"}}}},
        "404": {"description": "Not Found", "content": {"text/plain": {"schema": ref}}}}
    assert paths["/html"]["get"]["responses"] == {
        "200": {"description": "Successful Response", "content": {"text/html": {"schema": {**ref, "type": "string"}}}},
        "default": {"description": "Other", "content": {"text/html": {"schema": ref}}}}


def test_a_routes_own_answer_is_described_under_its_class_as_fastapi_does():
    """`response_model=` on an `HTMLResponse` route was described as the model's JSON schema
    under `application/json` (FastAPI: a string under `text/html`, the model still a component),
    on a JSON class with its own media type under `application/json` (FastAPI: the class's, as
    its declared `responses=` models already were); `Response` / `StreamingResponse` /
    `FileResponse` classes got `application/json` with a string schema (FastAPI: no content);
    an empty declared description stayed empty (FastAPI: the status's phrase). Expected values
    are FastAPI 0.165's documents for the same routes."""
    from viperhttp.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

    class M(BaseModel):
        x: int

    class N(BaseModel):
        y: int

    class VndJSON(JSONResponse):
        media_type = "application/vnd.api+json"

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/hm", response_class=HTMLResponse, response_model=M)
    def hm():
        return "<p>"

    @app.get("/vnd", response_class=VndJSON, response_model=N,
             responses={418: {"description": ""}, 404: {"model": M, "description": ""}})
    def vnd():
        return {"y": 1}

    @app.get("/plain", response_class=Response)
    def plain():
        return Response("x")

    @app.get("/stream", response_class=StreamingResponse)
    def stream():
        return StreamingResponse(iter([b"x"]))

    @app.get("/file", response_class=FileResponse)
    def file():
        return FileResponse(__file__)

    try:
        doc = _document(app)
    finally:
        viperhttp.reset()
    paths = doc["paths"]
    assert paths["/hm"]["get"]["responses"] == {
        "200": {"description": "Successful Response", "content": {"text/html": {"schema": {"type": "string"}}}}}
    assert "M" in doc["components"]["schemas"] and "N" in doc["components"]["schemas"]
    assert paths["/vnd"]["get"]["responses"] == {
        "200": {"description": "Successful Response",
                "content": {"application/vnd.api+json": {"schema": {"$ref": "#/components/schemas/N"}}}},
        "404": {"description": "Not Found",
                "content": {"application/vnd.api+json": {"schema": {"$ref": "#/components/schemas/M"}}}},
        "418": {"description": "I'm a Teapot"}}
    for path in ("/plain", "/stream", "/file"):
        assert paths[path]["get"]["responses"] == {"200": {"description": "Successful Response"}}, path


def test_a_redirect_class_route_is_documented_with_the_status_it_answers():
    """`response_class=RedirectResponse` without `status_code=` answers 307 (the class's
    default) and FastAPI documents 307, from the class's `__init__`; it was listed as 200. An
    explicit `status_code=` still wins. Expected: FastAPI 0.165's document for the same routes."""
    from viperhttp import RedirectResponse

    class M(BaseModel):
        x: int

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/go", response_class=RedirectResponse, responses={404: {"model": M}})
    def go():
        return "https://example.com/x"

    @app.get("/found", response_class=RedirectResponse, status_code=302)
    def found():
        return "https://example.com/y"

    try:
        with TestClient(app) as client:
            assert client.get("/go", follow_redirects=False).status_code == 307  # what it answers
        doc = _document(app)
    finally:
        viperhttp.reset()
    assert doc["paths"]["/go"]["get"]["responses"] == {
        "307": {"description": "Successful Response"},
        "404": {"description": "Not Found",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/M"}}}}}
    assert doc["paths"]["/found"]["get"]["responses"] == {"302": {"description": "Successful Response"}}


def test_include_router_and_routers_take_include_in_schema_and_deprecated():
    """`app.include_router(r, include_in_schema=False)` / `deprecated=True` (also through
    `app.router`, and as `APIRouter(...)` keywords) were TypeErrors. As FastAPI 0.165: hidden
    routes are still served but not listed, and a router's `deprecated=True` wins over a
    route's `deprecated=False`. Expected: FastAPI's paths for the same app."""
    viperhttp.reset()
    app = ViperHTTP()
    r = APIRouter()

    @r.get("/x")
    def x():
        return 1

    @r.get("/y", deprecated=False)
    def y():
        return 2

    hidden = APIRouter(prefix="/hr", include_in_schema=False)

    @hidden.get("/z")
    def z():
        return 3

    old = APIRouter(prefix="/old", deprecated=True)

    @old.get("/w", deprecated=False)
    def w():
        return 4

    app.include_router(r, prefix="/hidden", include_in_schema=False)
    app.router.include_router(r, prefix="/dep", deprecated=True)
    app.include_router(hidden)
    app.include_router(old)
    app.include_router(r, prefix="/plain")
    with pytest.raises(TypeError, match="include_in_schema must be bool"):
        app.include_router(r, prefix="/bad", include_in_schema="no")
    try:
        with TestClient(app) as client:
            assert [client.get(u).json() for u in ("/hidden/x", "/dep/y", "/hr/z", "/old/w")] == [1, 2, 3, 4]
        paths = _document(app)["paths"]
    finally:
        viperhttp.reset()
    assert {p: op["get"].get("deprecated") for p, op in paths.items()} == {
        "/dep/x": True, "/dep/y": True, "/old/w": True, "/plain/x": None, "/plain/y": None}


def test_a_slash_route_under_a_prefix_is_listed_as_fastapi_lists_it():
    """`APIRouter(prefix="/notes")` + `@router.get("/")` was listed as `/notes` (FastAPI:
    `/notes/`, `prefix + path`), also nested; a `""` route stays `/notes`. Both spellings are
    still served (a trailing slash matches the same route), and ids and tags keep the device
    generator's rule."""
    viperhttp.reset()
    app = ViperHTTP()
    notes = APIRouter(prefix="/notes")

    @notes.get("/")
    def list_notes():
        return ["n"]

    @notes.post("")
    def add_note():
        return {"added": True}

    @notes.get("/{nid}")
    def one(nid: int):
        return nid

    api = APIRouter(prefix="/api")
    inner = APIRouter(prefix="/files")

    @inner.get("/")
    def files():
        return ["f"]

    api.include_router(inner)
    app.include_router(notes)
    app.include_router(api)
    try:
        with TestClient(app) as client:
            doc = client.get("/openapi.json").json()
            served = [client.get(p).json() for p in ("/notes", "/notes/", "/api/files", "/api/files/")]
            posted = [client.post(p).json() for p in ("/notes", "/notes/")]
        validate(doc)
    finally:
        viperhttp.reset()
    assert sorted(doc["paths"]) == ["/api/files/", "/notes", "/notes/", "/notes/{nid}"]
    assert list(doc["paths"]["/notes/"]) == ["get"] and list(doc["paths"]["/notes"]) == ["post"]
    assert doc["paths"]["/notes/"]["get"]["operationId"] == "get_notes"
    assert doc["paths"]["/api/files/"]["get"]["tags"] == ["api"]
    assert served == [["n"], ["n"], ["f"], ["f"]] and posted == [{"added": True}] * 2


def test_a_redirect_routes_status_and_a_plain_return_annotation_are_documented_as_fastapi():
    """A `response_class=RedirectResponse` route was documented with 200 while it answers 307
    (FastAPI: the class's default status, 307); `-> dict` and other annotations that are not a
    model gave the schema `{}` (FastAPI takes them as the response model: their schema, titled
    `Response_<unique id>`). Expected values are FastAPI 0.165's documents for the same routes."""
    from typing import Dict, Optional

    from viperhttp.responses import RedirectResponse

    viperhttp.reset()
    app = ViperHTTP()

    @app.get("/go", response_class=RedirectResponse)
    def go():
        return "/target"

    @app.get("/go302", response_class=RedirectResponse, status_code=302)
    def go302():
        return "/target"

    @app.get("/d")
    def d() -> dict:
        return {"a": 1}

    @app.get("/dd")
    def dd() -> Dict[str, int]:
        return {"a": 1}

    @app.get("/l")
    def l() -> list:
        return []

    @app.get("/r")
    def r() -> RedirectResponse:
        return RedirectResponse("/x")

    @app.get("/none", response_model=None)  # FastAPI: an explicit None documents nothing
    def none() -> dict:
        return {}

    @app.get("/text")
    def text() -> Optional[str]:  # sent as text, as `-> str`: not described as JSON
        return "x"

    @app.get("/kind")
    def kind() -> type:  # pydantic has no JSON schema for it: the document must still build
        return int

    try:
        with TestClient(app) as client:
            assert client.get("/go", follow_redirects=False).status_code == 307  # what it answers
            assert client.get("/openapi.json").status_code == 200
            assert client.get("/d").json() == {"a": 1}
        doc = _document(app)
    finally:
        viperhttp.reset()
    ok = "Successful Response"

    def answers(path):
        return doc["paths"][path]["get"]["responses"]

    assert answers("/go") == {"307": {"description": ok}}
    assert answers("/go302") == {"302": {"description": ok}}
    assert answers("/d") == {"200": {"description": ok, "content": {"application/json": {"schema": {
        "additionalProperties": True, "type": "object", "title": "Response D D Get"}}}}}
    assert answers("/dd") == {"200": {"description": ok, "content": {"application/json": {"schema": {
        "additionalProperties": {"type": "integer"}, "type": "object", "title": "Response Dd Dd Get"}}}}}
    assert answers("/l") == {"200": {"description": ok, "content": {"application/json": {"schema": {
        "items": {}, "type": "array", "title": "Response L L Get"}}}}}
    assert answers("/r") == {"200": {"description": ok, "content": {"application/json": {"schema": {}}}}}
    for path in ("/none", "/text", "/kind"):
        assert answers(path) == {"200": {"description": ok, "content": {"application/json": {"schema": {}}}}}, path

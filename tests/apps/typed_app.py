"""Test app for tests/test_typed.py: a FastAPI-style todo + users service on ViperHTTP."""
import dataclasses
import datetime as dt
import decimal
import enum
import os
import sys
import time
import uuid
from typing import Annotated, List, Literal, Optional

from pydantic import BaseModel, Field

import viperhttp
from viperhttp.encoders import jsonable_encoder
from viperhttp.exceptions import http_exception_response
from viperhttp import (Body, Cookie, Depends, File, Form, Header, HTTPException, HTMLResponse, Path, Query,
                       Request, RequestValidationError, Router, UploadFile, ViperHTTP, run_in_threadpool)

# TYPED_DOCS=0 turns the API docs off; TYPED_DOCS_URL moves Swagger UI; TYPED_SWAGGER=1 gives
# FastAPI's Swagger UI keywords (docs/internals/api-docs.md).
_SWAGGER = {"swagger_ui_parameters": {"docExpansion": "none", "syntaxHighlight": False},
            "swagger_ui_init_oauth": {"clientId": "test-client", "scopes": "read"}} \
    if os.environ.get("TYPED_SWAGGER") == "1" else {}
app = ViperHTTP(title="Typed <API>", version="2.0.0", description="Todo + users",
                docs=os.environ.get("TYPED_DOCS") != "0",
                docs_url=os.environ.get("TYPED_DOCS_URL", "/docs"), **_SWAGGER)


class Color(str, enum.Enum):
    red = "red"
    blue = "blue"


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    price: float = Field(gt=0)
    tags: List[str] = []
    description: Optional[str] = None


class User(BaseModel):
    username: str
    full_name: Optional[str] = None


class UserIn(BaseModel):
    username: str
    password: str
    email: str


class UserOut(BaseModel):
    username: str
    email: str
    nickname: Optional[str] = None


@dataclasses.dataclass
class Point:
    x: int
    y: int


# --- parameters ----------------------------------------------------------------------------

@app.get("/items/{item_id}")
def read_item(item_id: int, limit: int = 10, q: Optional[str] = None):
    return {"item_id": item_id, "limit": limit, "q": q}


@app.get("/typed/{when}/{uid}")
def typed_scalars(when: dt.date, uid: uuid.UUID, color: Color = Color.red,
                  mode: Literal["fast", "slow"] = "fast", at: Optional[dt.datetime] = None,
                  flag: bool = False, ratio: float = 1.0):
    return {"when": when.isoformat(), "uid": str(uid), "color": color.value, "mode": mode,
            "at": at.isoformat() if at else None, "flag": flag, "ratio": ratio}


@app.get("/repeat")
def repeated(ids: List[int] = Query([]), names: Annotated[Optional[List[str]], Query()] = None):
    return {"ids": ids, "names": names}


@app.get("/constrained/{code}")
def constrained(
    code: Annotated[str, Path(min_length=2, max_length=4, pattern="^[a-z]+$")],
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    size: int = Query(10, gt=0, lt=51),
    search: Annotated[Optional[str], Query(alias="item-query", min_length=3, max_length=8)] = None,
):
    return {"code": code, "page": page, "size": size, "search": search}


@app.get("/headers")
def headers(user_agent: Optional[str] = Header(None), x_token: Annotated[int, Header(ge=0)] = ...,
            x_list: Optional[List[str]] = Header(None)):
    return {"ua": user_agent, "token": x_token, "list": x_list}


@app.get("/cookies")
def cookies(session_id: Annotated[str, Cookie(min_length=4)], theme: str = Cookie("light")):
    return {"session_id": session_id, "theme": theme}


# FastAPI's parameter models: a model's fields as the parameters of one source
class FilterParams(BaseModel):
    limit: int = Field(100, gt=0, le=100)
    offset: int = Field(0, ge=0)
    order_by: Literal["created_at", "updated_at"] = "created_at"
    tags: List[str] = []


class StrictParams(BaseModel):
    model_config = {"extra": "forbid"}
    q: str


class TokenHeaders(BaseModel):
    x_token: str
    x_trace: List[str] = []


class StrictHeaders(BaseModel):
    """FastAPI's "Header Parameter Models" tutorial002: every other header is refused."""
    model_config = {"extra": "forbid"}
    host: str
    save_data: bool
    x_tag: List[str] = []


class StrictCookies(BaseModel):
    model_config = {"extra": "forbid"}
    session_id: str


class SessionCookies(BaseModel):
    session_id: str
    theme: str = "light"


class LoginModel(BaseModel):
    username: str
    password: str = Field(min_length=3)


@app.get("/models/query")
def models_query(fp: Annotated[FilterParams, Query()], strict: Optional[str] = None):
    return {"fp": fp, "strict": strict}


@app.get("/models/strict")
def models_strict(p: Annotated[StrictParams, Query()]):
    return p


@app.get("/models/headers")
def models_headers(h: Annotated[TokenHeaders, Header()]):
    return h


@app.get("/models/strict-headers")
def models_strict_headers(h: Annotated[StrictHeaders, Header()]):
    return h


@app.get("/models/optional-headers")
def models_optional_headers(h: Annotated[Optional[TokenHeaders], Header()] = None):
    return {"h": h}


@app.get("/models/strict-cookies")
def models_strict_cookies(c: Annotated[StrictCookies, Cookie()]):
    return c


@app.get("/models/cookies")
def models_cookies(c: Annotated[SessionCookies, Cookie()]):
    return c


@app.post("/models/form")
def models_form(data: Annotated[LoginModel, Form()]):
    return data


class StrictForm(BaseModel):
    model_config = {"extra": "forbid"}
    username: str
    password: str


@app.post("/models/strict-form")
def models_strict_form(data: Annotated[StrictForm, Form()]):
    return data


class OpenForm(BaseModel):
    """`extra = "allow"`: FastAPI passes the form's other fields in (`model_extra`)."""
    model_config = {"extra": "allow"}
    username: str


@app.post("/models/open-form")
def models_open_form(data: Annotated[OpenForm, Form()]):
    return {"fields": data.model_dump(), "extra": data.model_extra}


@app.post("/form-and-files")
def form_and_files(file: Annotated[bytes, File()], token: Annotated[str, Form()], fileb: UploadFile,
                   note: Annotated[int, Form()]):
    return {"size": len(file), "token": token, "fileb": fileb.filename, "note": note}


@app.post("/form-age")
def form_age(username: Annotated[str, Form()], age: Annotated[int, Form()]):
    return {"username": username, "age": age}


@app.get("/links/{item_id:int}")
def links(item_id: int, request: Request):
    """Starlette's reverse routing and URL parts."""
    return {"self": str(request.url_for("links", item_id=item_id)),
            "file": app.url_path_for("named_file", p="a b/c.txt"),
            "base": str(request.base_url), "decoded": request.url.path}


@app.get("/links-file/{p:path}", name="named_file")
def links_file(p: str):
    return p


# --- bodies --------------------------------------------------------------------------------

@app.post("/items", status_code=201)
def create_item(item: Item):
    return {"name": item.name, "price": item.price, "tags": item.tags, "type": type(item).__name__}


@app.post("/items/bulk")
def bulk(items: List[Item]):
    return {"count": len(items), "total": sum(i.price for i in items)}


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int):
    return None


@app.put("/items/{item_id}")
def update_item(item_id: int, item: Item, user: User, importance: Annotated[int, Body(gt=0)]):
    return {"item_id": item_id, "item": item.name, "user": user.username, "importance": importance}


@app.post("/embed")
def embedded(item: Annotated[Item, Body(embed=True)]):
    return {"name": item.name}


@app.post("/point")
def point(p: Point):
    return {"sum": p.x + p.y, "type": type(p).__name__}


@app.post("/optional-body")
def optional_body(item: Optional[Item] = None):
    return {"item": None if item is None else item.name}


@app.post("/login")
def login(username: str = Form(), password: Annotated[str, Form(min_length=3)] = ...):
    return {"username": username, "len": len(password)}


@app.post("/upload")
async def upload(file: UploadFile, note: str = Form("none"), extra: Optional[bytes] = File(None)):
    data = await file.read()
    return {"filename": file.filename, "size": len(data), "note": note,
            "extra": None if extra is None else extra.decode()}


# --- response options ----------------------------------------------------------------------

@app.post("/users", response_model=UserOut, status_code=201)
def create_user(user: UserIn):
    return user  # the password must be filtered out by response_model


@app.get("/users/{name}", response_model=UserOut, response_model_exclude_none=True)
def get_user(name: str):
    return {"username": name, "email": f"{name}@x.org", "nickname": None, "password": "secret"}


@app.get("/users-annotated/{name}")
def get_user_annotated(name: str) -> UserOut:
    return UserOut(username=name, email="a@b.c")


@app.get("/users-async/{name}", response_model=List[UserOut], status_code=203)
async def get_users_async(name: str):
    return [{"username": name, "email": "e", "password": "p"}, UserIn(username="b", password="p", email="f")]


class Person(BaseModel):
    full_name: str = Field(alias="fullName")
    age: Optional[int] = None


@app.get("/alias/model", response_model=Person)
def alias_model():
    return {"fullName": "Ada"}


@app.get("/alias/returned")
def alias_returned() -> Person:
    return Person(fullName="Bob")


@app.get("/alias/nested")
def alias_nested():
    return {"people": [Person(fullName="Cy")]}


@app.get("/alias/off", response_model=Person, response_model_by_alias=False)
def alias_off():
    return {"fullName": "Di"}


@app.post("/alias/echo")
def alias_echo(person: Person):
    return person


@app.get("/sub-response")
def sub_response(response: viperhttp.Response, code: int = 203):
    response.set_cookie("sid", "abc")
    response.headers["X-Custom"] = "v"
    response.status_code = code
    return {"ok": 1}


@app.get("/sub-response/async")
async def sub_response_async(response: viperhttp.Response):
    response.headers["X-Async"] = "1"
    return ["a"]


def cookie_setting_dependency(response: viperhttp.Response):
    response.set_cookie("from-dep", "1")
    return 5


@app.get("/sub-response/dependency")
def sub_response_dependency(v: int = Depends(cookie_setting_dependency), response: viperhttp.Response = None):
    response.headers["X-Handler"] = "1"
    return {"v": v}


@app.get("/sub-response/own")
def sub_response_own(response: viperhttp.Response):
    response.headers["X-Lost"] = "1"
    return viperhttp.JSONResponse(content={"own": True}, status_code=202)


@app.get("/sub-response/class", response_class=viperhttp.HTMLResponse, status_code=201)
def sub_response_class(response: viperhttp.Response):
    # the response `response_class=` builds from the value takes the sub-response's settings
    response.status_code = 418
    response.headers["X-Extra"] = "1"
    response.set_cookie("k", "v")
    return "<p>hi</p>"


@app.get("/sub-response/raises")
def sub_response_raises(response: viperhttp.Response):
    response.headers["X-Lost"] = "1"
    raise HTTPException(418, "teapot")


@app.get("/bad-response", response_model=UserOut)
def bad_response():
    return {"username": "x"}  # email missing: a server error, not the client's


@app.get("/html", response_class=HTMLResponse)
def html():
    return "<h1>hi</h1>"


@app.get("/meta", summary="Meta", description="Long text", tags=["meta"], deprecated=True,
         openapi_extra={"x-extra": 1})
def meta():
    return {"ok": True}


@app.get("/hidden", include_in_schema=False)
def hidden():
    return {"hidden": True}


# --- return values -------------------------------------------------------------------------

RETURNS = {
    "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "date": dt.date(2024, 1, 2),
    "time": dt.time(3, 4, 5),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": decimal.Decimal("1.5"),
    "enum": Color.blue,
    "set": {3},
    "frozenset": frozenset({"a"}),
    "tuple": (1, "a", None),
    "bytes_in_dict": {"b": b"raw"},
    "model": Item(name="n", price=1.0),
    "dataclass": Point(1, 2),
    "nested": {"when": dt.date(2024, 1, 2), "ids": {7}, "model": User(username="u")},
}


@app.get("/ret/{kind}")
def ret(kind: str):
    return RETURNS[kind]


@app.get("/ret-untyped/{kind}")
def ret_untyped(kind):
    return RETURNS[kind]


@app.get("/status-tuple")
def status_tuple():
    return {"created": True}, 201


@app.get("/status-tuple-headers")
def status_tuple_headers():
    return "made", 202, {"X-Made": "yes"}


class Opaque:
    pass


@app.get("/unserialisable")
def unserialisable():
    return {"obj": Opaque()}


# --- dependencies --------------------------------------------------------------------------

EVENTS: List[str] = []


def get_db():
    EVENTS.append("db-open")
    try:
        yield {"conn": "db"}
    finally:
        EVENTS.append("db-close")


def pagination(skip: int = 0, limit: Annotated[int, Query(le=50)] = 10):
    return {"skip": skip, "limit": limit}


def current_user(db=Depends(get_db), x_user: Optional[str] = Header(None)):
    if x_user is None:
        raise HTTPException(401, "no user")
    return {"name": x_user, "db": db["conn"]}


def audit(request: Request):
    EVENTS.append("audit " + request.path)


def require_key(x_key: str = Header()):
    if x_key != "k":
        raise HTTPException(403, "bad key")


@app.get("/dep/default", dependencies=[Depends(audit)])
def dep_default(db=Depends(get_db), page: dict = Depends(pagination)):
    return {"db": db["conn"], "page": page}


@app.get("/dep/both")
def dep_both(n: int, page: dict = Depends(pagination)):
    return {"n": n, "page": page}


@app.get("/dep/annotated")
async def dep_annotated(user: Annotated[dict, Depends(current_user)]):
    return {"user": user}


@app.get("/dep/events")
def dep_events():
    return {"events": EVENTS}


def item_from_path(item_id: int):
    return {"item": item_id}


@app.get("/dep/items/{item_id}")
def dep_path(found: dict = Depends(item_from_path)):
    return found


router = Router(prefix="/secure", dependencies=[Depends(require_key)])


@router.get("/ping")
def secure_ping():
    return {"pong": True}


app.include_router(router)

# FastAPI's spelling: APIRouter with OpenAPI `responses` for all its routes
admin = viperhttp.APIRouter(prefix="/admin", tags=["admin"], responses={404: {"description": "Not found"}})


@admin.get("/stats", responses={403: {"description": "Operation forbidden"}},
           status_code=viperhttp.status.HTTP_200_OK)
def admin_stats():
    return {"stats": True}


app.include_router(admin, dependencies=[Depends(require_key)],
                   responses={418: {"description": "I'm a teapot"}})

# FastAPI's teardown: the handler's exception is thrown in at the `yield` of a dependency declared
# the FastAPI way (docs/internals/framework.md, "Teardown")
TX_LOG: List[str] = []


def get_tx():
    TX_LOG.append("begin")
    try:
        yield "tx"
        TX_LOG.append("commit")
    except Exception as exc:
        TX_LOG.append(f"rollback:{type(exc).__name__}")
        raise
    finally:
        TX_LOG.append("close")


async def get_atx():
    TX_LOG.append("abegin")
    try:
        yield "atx"
        TX_LOG.append("acommit")
    except HTTPException as exc:
        TX_LOG.append(f"arollback:{exc.status_code}")
        raise


def db_errors():
    try:
        yield
    except LookupError:
        raise HTTPException(404, "no such row")


def swallows():
    try:
        yield
    except Exception:
        TX_LOG.append("swallowed")


def bare_yield():
    yield
    TX_LOG.append("after-bare-yield")  # FastAPI: only when the handler succeeded


@app.post("/tx")
async def tx(fail: int = 0, tx: str = Depends(get_tx), atx: Annotated[str, Depends(get_atx)] = ""):
    TX_LOG.append("handler")
    if fail == 1:
        raise HTTPException(400, "insufficient funds")
    if fail == 2:
        raise ValueError("bug")
    return {"ok": True}


@app.get("/tx/lookup", dependencies=[Depends(db_errors)])
def tx_lookup(fail: bool = True, _b: None = Depends(bare_yield)):
    if fail:
        raise LookupError("row 7")
    return "found"


@app.get("/tx/swallow", dependencies=[Depends(swallows)])
def tx_swallow():
    raise HTTPException(409, "conflict")


@app.get("/tx/log")
def tx_log():
    out = list(TX_LOG)
    TX_LOG.clear()
    return out


# --- the original style, unchanged ---------------------------------------------------------


def orig_dep():
    return "orig"


@app.get("/orig/{n:int}", query={"page": int, "q": Query("x", str)}, deps={"d": Depends(orig_dep)})
def orig(n, page, q, d, extra="none"):
    return {"n": n, "page": page, "q": q, "d": d, "extra": extra}


@app.get("/orig-untyped")
def orig_untyped(a="1"):
    return {"a": a, "type": type(a).__name__}


# --- request readers, middleware -----------------------------------------------------------

@app.post("/echo-json")
async def echo_json(request: Request):
    data = await request.json()
    raw = await request.body()
    return {"data": data, "sync_same": request.json() == data, "raw_len": len(raw),
            "client_host": request.client.host, "url_path": request.url.path,
            "path_params": request.path_params}


@app.post("/echo-scalar")
async def echo_scalar(request: Request):
    return {"value": await request.json()}


@app.post("/echo-form")
async def echo_form(request: Request):
    form = await request.form()
    return {"form": dict(form), "sync": request.form()["a"]}


@app.get("/cookie-set")
def cookie_set():
    resp = viperhttp.JSONResponse(body={"ok": True})
    resp.set_cookie("sid", "abc")
    return resp


@app.middleware("http")
async def timing(request, call_next):
    response = await call_next(request)
    response.headers["X-Process-Time"] = "1"
    response.headers["X-Seen-Status"] = str(response.status_code)
    return response


# --- blocking code -------------------------------------------------------------------------

@app.get("/slow-blocking", blocking=True)
def slow_blocking(seconds: float = 0.6):
    time.sleep(seconds)
    return {"slept": seconds}


@app.get("/slow-inline")
def slow_inline(seconds: float = 0.15):
    time.sleep(seconds)
    return {"slept": seconds}


@app.get("/slow-sometimes")
def slow_sometimes(seconds: float = 0.0):
    time.sleep(seconds)  # a quick handler that the test makes slow on chosen calls
    return {"slept": seconds}


@app.get("/quick")
def quick():
    return {"quick": True}


@app.get("/offload")
async def offload():
    value = await run_in_threadpool(lambda a, b: (time.sleep(0.05), a + b)[1], 2, b=3)
    return {"value": value}


@app.exception_handler(RequestValidationError)
async def validation_handler(request, exc):
    if request.path == "/custom-422":
        return viperhttp.JSONResponse(status_code=400, body={"custom": len(exc.errors())})
    if request.path.startswith("/custom-422/"):
        # the FastAPI docs' handler: the errors and what the client sent
        return viperhttp.JSONResponse(status_code=400, content=jsonable_encoder(
            {"errors": exc.errors(), "body": exc.body}))
    return http_exception_response(exc)  # the built-in 422 for every other route


@app.get("/custom-422")
def custom_422(n: int):
    return {"n": n}


@app.post("/custom-422/item")
def custom_422_item(item: Item):
    return item


@app.get("/custom-422/query")
def custom_422_query(n: int):
    return {"n": n}


@app.post("/custom-422/form")
def custom_422_form(username: Annotated[str, Form()], age: Annotated[int, Form()]):
    return {"username": username}


# --- scalar conversion: the fast plan must agree with pydantic (tests/test_typed.py) -----------

@app.get("/scalars/int/{v}")
async def scalar_int(v: int):
    return {"v": v, "t": type(v).__name__}


@app.get("/scalars/float/{v}")
def scalar_float(v: float):
    return {"v": v, "t": type(v).__name__}


@app.get("/scalars/query")
async def scalar_query(i: Optional[int] = None, f: float = 1.5, b: bool = False, s: str = "d",
                       r: Optional[bool] = None):
    return {"i": i, "f": f, "b": b, "s": s, "r": r}


@app.get("/scalars/required")
def scalar_required(n: int, flag: bool):
    return {"n": n, "flag": flag}


@app.websocket("/ws/{room}", protocols=["chat"])
async def ws_room(ws, room: str):
    """Chat room socket."""
    await ws.accept()
    await ws.send_text(room)
    await ws.close()


BINARY = bytes(range(256)) * 4


@app.get("/binary/{n}")
def binary(n: int, as_array: bool = False):
    # Returned bytes are the body as they are, also on a typed route (not JSON text).
    return bytearray(BINARY[:n]) if as_array else BINARY[:n]


@app.get("/binary-in-json")
def binary_in_json(valid: bool = True):
    return {"b": b"ok" if valid else b"\xff\xfe"}


if os.environ.get("TYPED_CUSTOM_OPENAPI") == "1":
    # FastAPI's "Extending OpenAPI" recipe, as its docs write it.
    from viperhttp.openapi.utils import get_openapi

    def custom_openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Custom title", version="2.5.0", summary="custom summary",
                             description="custom description", routes=app.routes)
        schema["info"]["x-logo"] = {"url": "logo.png"}
        app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

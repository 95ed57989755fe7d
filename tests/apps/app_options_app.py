"""FastAPI's app-wide constructor keywords (tests/test_app.py `test_fastapi_app_keywords`):
`dependencies=`, `exception_handlers=`, `middleware=`, `default_response_class=`, `debug=`,
`openapi_tags` and the OpenAPI info fields; `add_api_route`."""
import sys
from typing import Annotated

from viperhttp import Depends, Header, HTTPException, Request, ViperHTTP
from viperhttp.middleware import BaseHTTPMiddleware, Middleware
from viperhttp.responses import HTMLResponse, JSONResponse

SEEN = []


async def verify_token(x_token: Annotated[str, Header()]):
    if x_token != "secret":
        raise HTTPException(400, "X-Token header invalid")
    SEEN.append("token")


class Boom(Exception):
    pass


async def on_boom(request: Request, exc: Boom):
    return JSONResponse(status_code=418, content={"boom": str(exc)})


class Stamp(BaseHTTPMiddleware):
    def __init__(self, app=None, label="x"):
        super().__init__(app)
        self.label = label

    async def dispatch(self, request, call_next):
        response = await call_next(request)
        response.headers["x-stamp"] = response.headers.get("x-stamp", "") + self.label
        return response


app = ViperHTTP(dependencies=[Depends(verify_token)], exception_handlers={Boom: on_boom},
                middleware=[Middleware(Stamp, label="outer"), Middleware(Stamp, label="inner")],
                default_response_class=HTMLResponse, debug=True, summary="Shop API",
                openapi_tags=[{"name": "items", "description": "Things to buy."}],
                contact={"name": "Ada", "email": "ada@example.com"}, license_info={"name": "MIT"})


@app.get("/page", tags=["items"])
def page():
    return "<p>hi</p>"


@app.get("/json", response_class=JSONResponse)
def as_json():
    return {"seen": len(SEEN)}


@app.get("/boom")
def boom():
    raise Boom("bang")


@app.get("/crash")
def crash():
    return {}["missing"]


def listed():
    return ["a", "b"]


app.add_api_route("/listed", listed, methods=["GET", "POST"], response_class=JSONResponse)

if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1")

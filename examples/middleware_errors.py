"""Middleware and error handling.

- Two middlewares with priorities: the lower priority runs outermost (timing wraps auth).
- A class middleware (`BaseHTTPMiddleware`) adding a header to every response.
- Short-circuit: the auth middleware answers 401 without calling the handler.
- `@app.exception_handler(...)` turns a domain exception into a JSON response; anything
  unhandled becomes a plain `500 Internal Server Error` with the traceback in the log only.

Run: .venv/bin/python examples/middleware_errors.py [PORT]   (default 8080, or $PORT), then
  curl -i localhost:8080/public
  curl -i -H 'Authorization: Bearer secret' localhost:8080/private/7
"""
import os
import sys
import time
from typing import Any, Awaitable, Callable, Dict

import viperhttp
from viperhttp import BaseHTTPMiddleware, JSONResponse, Request, Response

app = viperhttp.ViperHTTP(title="middleware and errors")
CallNext = Callable[..., Awaitable[Dict[str, Any]]]


class OutOfStock(Exception):
    def __init__(self, item_id: int) -> None:
        super().__init__(item_id)
        self.item_id = item_id


@app.middleware("http", priority=-10)
async def timing(request: Request, call_next: CallNext) -> Dict[str, Any]:
    started = time.perf_counter()
    response = await call_next(request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = response.get("headers") or {}
    if isinstance(headers, dict):
        response["headers"] = dict(headers, **{"X-Elapsed-Ms": f"{elapsed_ms:.2f}"})
    else:
        response["headers"] = list(headers) + [("X-Elapsed-Ms", f"{elapsed_ms:.2f}")]
    return response


@app.middleware("http", priority=10)
async def require_token(request: Request, call_next: CallNext) -> Any:
    if request.path.startswith("/private") and request.headers.get("authorization") != "Bearer secret":
        return Response(status_code=401, body={"detail": "bad token"}, headers={"WWW-Authenticate": "Bearer"})
    return await call_next(request)


class ServerName(BaseHTTPMiddleware):
    def __init__(self, app: Any, name: str = "viperhttp") -> None:
        super().__init__(app)
        self.name = name

    async def dispatch(self, request: Request, call_next: CallNext) -> Dict[str, Any]:
        response = await call_next(request)
        headers = response.get("headers") or {}
        if isinstance(headers, dict):
            response["headers"] = dict(headers, **{"X-Served-By": self.name})
        else:
            response["headers"] = list(headers) + [("X-Served-By", self.name)]
        return response


app.add_middleware(ServerName, name="example")


@app.exception_handler(OutOfStock)
def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
    return JSONResponse(status_code=409, body={"detail": "out of stock", "item": exc.item_id})


@app.get("/public")
def public() -> str:
    return "hello"


@app.get("/private/{item_id:int}")
def private(item_id: int) -> Dict[str, int]:
    if item_id % 2:
        raise OutOfStock(item_id)
    return {"item": item_id}


@app.get("/crash")
def crash() -> None:
    raise RuntimeError("this traceback goes to the log, never to the client")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    app.run(port=port, wifi=False)

"""Starlette's status handlers: `@app.exception_handler(404)` (tests/test_errors.py)."""
import sys

from viperhttp import HTTPException, JSONResponse, ViperHTTP

app = ViperHTTP()


@app.exception_handler(404)
async def not_found(request, exc):
    return JSONResponse(status_code=404, content={"missing": request.path, "detail": exc.detail})


@app.exception_handler(405)
def not_allowed(request, exc):
    return JSONResponse(status_code=405, content={"allow": exc.headers["Allow"]}, headers=exc.headers)


@app.exception_handler(500)
def server_error(request, exc):
    """Starlette's server-error handler: exceptions no class handler takes."""
    return JSONResponse(status_code=500, content={"error": type(exc).__name__})


@app.exception_handler(HTTPException)
def any_http(request, exc):
    return JSONResponse(status_code=exc.status_code, content={"any": exc.detail})


@app.get("/item/{n:int}")
def item(n):
    if n == 0:
        raise HTTPException(404, "no item 0")
    if n == 1:
        raise HTTPException(409, "taken")
    if n == 2:
        raise RuntimeError("bug")
    if n == 3:
        raise HTTPException(500, "explicit")
    return {"n": n}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

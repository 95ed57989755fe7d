"""Exception handlers (tests/test_errors.py): exception rules of docs/internals/framework.md not exercised
over HTTP elsewhere.

- lookup: MRO first, then the first registered type for which `isinstance` holds (an ABC with
  a registered virtual subclass); re-registering a type replaces its handler;
- the arity rule: a two-argument handler that raises `TypeError` itself is a logged 500, not
  retried as `handler(exc)`; a `*args` handler gets `(request, exc)`;
- `HTTPException` with a non-int status → 500 with the JSON detail; raised from `async def`;
- tracebacks only in the log, on logger `viperhttp` (a capturing handler on that logger
  records every record that reaches it; stderr output is kept for the test's log reads).

Run: python error_handlers_app.py PORT [MODE]; MODE "catchall" also registers a handler for
`Exception`, which then catches everything, `HTTPException` included.
"""
import abc
import asyncio
import logging
import sys
import traceback

import viperhttp
from viperhttp import HTTPException, Response

MODE = sys.argv[2] if len(sys.argv) > 2 else "plain"
app = viperhttp.ViperHTTP()
RECORDS = []
CALLS = {"arity": 0}


class Capture(logging.Handler):
    def emit(self, record):
        text = ""
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
        RECORDS.append({"logger": record.name, "level": record.levelname, "message": record.getMessage(),
                        "traceback": text})


vlog = logging.getLogger("viperhttp")
vlog.setLevel(logging.INFO)
vlog.addHandler(Capture())
_stderr = logging.StreamHandler(sys.stderr)
_stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
vlog.addHandler(_stderr)


class Virtual(abc.ABC):
    pass


class Unrelated(Exception):
    pass


Virtual.register(Unrelated)


class Replaced(Exception):
    pass


class ArityError(Exception):
    pass


class VarArgsError(Exception):
    pass


@app.exception_handler(Virtual)
def on_virtual(request, exc):
    return Response(status_code=451, body={"via": "isinstance", "exc": type(exc).__name__})


@app.exception_handler(Replaced)
def replaced_first(request, exc):
    return Response(status_code=400, body={"handler": "first"})


@app.exception_handler(Replaced)
def replaced_second(request, exc):
    return Response(status_code=409, body={"handler": "second"})


@app.exception_handler(ArityError)
def arity_handler(request, exc):
    CALLS["arity"] += 1
    raise TypeError("raised inside the exception handler")


@app.exception_handler(VarArgsError)
def varargs_handler(*args):
    return {"n_args": len(args), "first_is_request": isinstance(args[0], viperhttp.Request),
            "second": type(args[1]).__name__}


if MODE == "catchall":
    @app.exception_handler(Exception)
    def catch_all(request, exc):
        return Response(status_code=520, body={"caught": type(exc).__name__})


@app.get("/e/virtual")
def e_virtual():
    raise Unrelated()


@app.get("/e/replaced")
def e_replaced():
    raise Replaced()


@app.get("/e/arity")
def e_arity():
    raise ArityError()


@app.get("/e/arity-calls")
def e_arity_calls():
    return CALLS


@app.get("/e/varargs")
def e_varargs():
    raise VarArgsError()


@app.get("/e/non-int-status")
def e_non_int_status():
    raise HTTPException("teapot", "weird status")


@app.get("/e/async-http")
async def e_async_http():
    await asyncio.sleep(0)
    raise HTTPException(404)


@app.get("/e/boom")
def e_boom():
    raise RuntimeError("gap-secret-4d2c must stay in the log")


@app.get("/e/async-boom")
async def e_async_boom():
    await asyncio.sleep(0)
    raise KeyError("gap-async-secret-91b0")


@app.get("/e/http")
def e_http():
    raise HTTPException(403, "forbidden here")


@app.get("/e/records")
def e_records():
    return RECORDS


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

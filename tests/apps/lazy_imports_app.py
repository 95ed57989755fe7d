"""Test app for tests/test_lazy_imports.py: the hello app, reporting which heavy modules it loaded.

`lazy_imports_app.py PORT` serves untyped routes only; `lazy_imports_app.py PORT typed` adds a
typed route, which must bring pydantic in (docs/internals/benchmarks.md "Memory").
"""
import sys

import viperhttp
import viperhttp_bridge

#: modules the hello app must not load (docs/internals/benchmarks.md "Memory")
HEAVY = ("pydantic", "pydantic_core", "email", "decimal", "uuid", "zoneinfo", "gzip", "lzma", "bz2",
         "tempfile", "importlib.abc", "concurrent.futures.thread", "datetime", "pathlib",
         "asyncio", "ssl", "uvloop")

app = viperhttp.ViperHTTP()


@app.get("/hello")
def hello() -> dict:
    return {"msg": "ok"}


@app.get("/created", status_code=201)
def created() -> dict:
    return {"created": True}


@app.get("/loaded")
def loaded() -> list:
    return [name for name in HEAVY if name in sys.modules]


@app.get("/uuid")
def make_uuid():
    import uuid  # first imported here: the JSON encoder must still know the type

    return {"id": uuid.UUID(int=1)}


if "typed" in sys.argv[2:]:
    @app.get("/items/{item_id}")
    def item(item_id: int, q: str = "none") -> dict:
        return {"item_id": item_id, "q": q}


if __name__ == "__main__":
    viperhttp_bridge.run(app, port=int(sys.argv[1]), wifi=False)

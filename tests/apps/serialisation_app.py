"""Test app for tests/test_response_serialisation.py: every row of the return-value table
(tests/support/response_cases.py) returned by a real handler.

`/sync/<case>` and `/async/<case>` return the row's value from a `def` / `async def` handler;
untyped routes (no annotations), so the bridge hands the raw value to the native serialiser. With `SER_MIDDLEWARE=1`
a pass-through Python middleware sits in front, so the value goes through `call_next`'s
normalisation first (docs/internals/requests-responses.md).

Run: python serialisation_app.py PORT
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import viperhttp  # noqa: E402
from support.response_cases import CASES  # noqa: E402

app = viperhttp.ViperHTTP()


@app.get("/sync/{case}")
def sync_case(case):
    return CASES[case].make()


@app.get("/async/{case}")
async def async_case(case):
    return CASES[case].make()


if os.environ.get("SER_MIDDLEWARE") == "1":
    @app.middleware("http")
    async def passthrough(request, call_next):
        return await call_next(request)


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

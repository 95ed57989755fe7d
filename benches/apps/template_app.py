"""Template bench app: GET /page renders benches/templates/page.html (100 rows) with
`viperhttp.TemplateResponse` on every request (the compiled template is cached, the render is
not). `GET /page-async` is the same from an `async def` route.

Run: .venv/bin/python benches/apps/template_app.py PORT
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "templates"))

import viperhttp  # noqa: E402
from context import ROWS, TITLE  # noqa: E402

PAGE = os.path.join(HERE, "..", "templates", "page.html")
app = viperhttp.ViperHTTP()


@app.get("/page")
def page():
    return viperhttp.TemplateResponse(PAGE, {"title": TITLE, "rows": ROWS})


@app.get("/page-async")
async def page_async():
    return viperhttp.TemplateResponse(PAGE, {"title": TITLE, "rows": ROWS})


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1", wifi=False)

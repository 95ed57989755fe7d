"""Peer for the template bench: FastAPI + Jinja2Templates (the FastAPI docs' way), async
route, rendering benches/templates/page.html with the same 100 rows. Served by uvicorn."""
import os
import sys

from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "templates"))
from context import ROWS, TITLE  # noqa: E402

app = FastAPI()
templates = Jinja2Templates(directory=os.path.join(HERE, "..", "templates"))


@app.get("/page")
async def page(request: Request):
    return templates.TemplateResponse(request, "page.html", {"title": TITLE, "rows": ROWS})

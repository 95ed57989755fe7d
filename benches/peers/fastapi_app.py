"""Peer app for benches: the same /hello as examples/hello.py, on FastAPI (served by uvicorn or Granian).

`async def`, as FastAPI's users write it: a `def` handler costs FastAPI a hop to its thread
pool and made it look about 5× slower than its users see (issue 11)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello():
    return {"msg": "ok"}

"""Peer app for benches: the same /hello as examples/hello.py, on FastAPI (served by uvicorn or Granian)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
def hello():
    return {"msg": "ok"}

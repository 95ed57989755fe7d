"""Bench app for benches/run_workers.sh: /hello and a typed GET, served by `viperhttp run`."""
from viperhttp import ViperHTTP

app = ViperHTTP()


@app.get("/hello")
def hello():
    return {"msg": "ok"}


@app.get("/items/{item_id:int}")
def item(item_id: int, q: str = "", limit: int = 10):
    return {"id": item_id, "q": q, "limit": limit}

"""App for tests/test_cli.py, served by `viperhttp run cli_app:app` (no run() call)."""
import os

from viperhttp import ViperHTTP

app = ViperHTTP()


@app.get("/pid")
def pid() -> dict:
    return {"pid": os.getpid()}


@app.get("/client")
def client(request) -> dict:
    return {"host": request.client.host, "scheme": request.url.scheme}


@app.get("/pool")
def pool() -> dict:
    import viperhttp_bridge

    s = viperhttp_bridge.bridge_stats()
    return {"max": s["workers_max"], "queue": s["queue_size"], "workers": s["workers_min"],
            "on_demand": s["grow_on_demand"]}


@app.get("/crash")
def crash() -> dict:
    # Simulates a worker dying without a clean stop (a segfault, an OOM kill).
    os._exit(17)

"""App whose startup handler fails: `viperhttp run` must exit with status 3."""
from viperhttp import ViperHTTP

app = ViperHTTP()


@app.on_event("startup")
def boom() -> None:
    raise RuntimeError("database unreachable")

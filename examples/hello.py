"""The bridge README's manual example: /hello → {"msg": "ok"}, /plain → hello.

Run: .venv/bin/python examples/hello.py [PORT]   (default 8080, or $PORT)
"""
import os
import sys

import viperhttp
import viperhttp_bridge

app = viperhttp.ViperHTTP()


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"msg": "ok"}


@app.get("/plain")
def plain() -> str:
    return "hello"


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    viperhttp_bridge.run(app, port=port, wifi=False)

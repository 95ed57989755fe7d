"""Templates, a lifespan context manager and OTA updates in one app.

Run: .venv/bin/python examples/templates_lifespan.py [PORT]   (default 8080, or $PORT)

  curl localhost:8080/users          → an HTML page rendered from examples/templates/users.html
  curl localhost:8080/users?n=0      → the same page's `{% else %}` branch
  curl localhost:8080/ota/status     → the OTA status (slots in ./.ota/; set OTA_TOKEN to protect)

The lifespan context manager runs before the port accepts connections and after it closed;
what it yields lands in `app.state` (docs/internals/lifespan.md). Templates: docs/internals/templates.md.
OTA: docs/internals/ota.md.
"""
import contextlib
import os
import sys
import time
from typing import Any, AsyncIterator

import viperhttp

HERE = os.path.dirname(os.path.abspath(__file__))
USERS = [{"name": "ada lovelace", "email": "ada@example.com"},
         {"name": "alan turing", "email": "alan@example.com"}]


@contextlib.asynccontextmanager
async def lifespan(app: viperhttp.ViperHTTP) -> AsyncIterator[dict[str, Any]]:
    yield {"started": time.strftime("%H:%M:%S"), "users": USERS}
    print("lifespan: closed", flush=True)


app = viperhttp.ViperHTTP(lifespan=lifespan)


@app.get("/users")
def users(n: str = "") -> Any:
    shown = app.state.users[:int(n)] if n.isdigit() else app.state.users
    return viperhttp.TemplateResponse(os.path.join(HERE, "templates", "users.html"),
                                      {"title": "Users", "users": shown, "started": app.state.started})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8080"))
    app.run(port=port, host="127.0.0.1", ota=True, ota_token=os.environ.get("OTA_TOKEN"))

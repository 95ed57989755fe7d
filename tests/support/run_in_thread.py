"""`app.run()` in this thread, served for one request: the tests of what a script's own
`app.run()` does (start-up, lifespan, stop) over a real socket."""
from __future__ import annotations

import threading
import time
from typing import Any, List

import httpx


def run_answering_once(app: Any, port: int, path: str = "/", **run_kwargs: Any) -> List[Any]:
    """Starts `app.run(port=port, host="127.0.0.1", **run_kwargs)` here; a helper thread asks
    `GET path` until it answers (up to 10 s), then calls `app.stop()`. Returns the JSON
    answers (one, or none when the server never answered)."""
    answers: List[Any] = []

    def request_then_stop() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not answers:
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).json())
            except httpx.TransportError:
                time.sleep(0.05)
        app.stop()

    threading.Thread(target=request_then_stop, daemon=True).start()
    app.run(port=port, host="127.0.0.1", **run_kwargs)
    return answers

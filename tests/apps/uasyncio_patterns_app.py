"""Two MicroPython start-up patterns (tests/test_compat.py): `asyncio.create_task()` at module
level before `app.run()` (PATTERN=module-task), and `app.run()` inside `uasyncio.run(main())`,
which returns at once as the original's run() did (PATTERN=run-in-main)."""
import os
import sys

import uasyncio as asyncio

import viperhttp

app = viperhttp.ViperHTTP()
beats = {"n": 0}
PORT = int(sys.argv[1])


@app.get("/beats")
def get_beats():
    return beats


async def counter():
    while True:
        beats["n"] += 1
        await asyncio.sleep_ms(10)


if os.environ.get("PATTERN") == "run-in-main":
    async def main():
        app.run(port=PORT, host="127.0.0.1")  # returns: the server runs beside this coroutine
        await counter()

    asyncio.run(main())
else:
    asyncio.create_task(counter())  # no loop runs yet: queued on the loop the server will run
    app.run(port=PORT, host="127.0.0.1")

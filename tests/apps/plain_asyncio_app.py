"""The device loop idiom with CPython's own `asyncio` (tests/test_compat.py): a task created
on `asyncio.get_event_loop()` before `app.run()`, then `run_forever()` after it, which must
return once the server has stopped. PLAIN_LATE=1 asks for the loop only after run()."""
import asyncio
import os
import sys

from viperhttp import ViperHTTP

app = ViperHTTP()
BEATS = []


async def beat():
    while True:
        BEATS.append(1)
        await asyncio.sleep(0.02)


@app.get("/beats")
def beats():
    return {"beats": len(BEATS)}


if not os.environ.get("PLAIN_LATE"):
    asyncio.get_event_loop().create_task(beat())
app.run(port=int(sys.argv[1]), host="127.0.0.1")
asyncio.get_event_loop().run_forever()
print("plain asyncio app ended", flush=True)

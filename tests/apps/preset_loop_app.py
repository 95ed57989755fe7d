"""An app in the original's style: it takes the thread's loop with asyncio.get_event_loop()
and schedules a task on it *before* app.run(). The bridge must run on that loop (so the task
runs), even when uvloop is installed.

Run: python preset_loop_app.py PORT
"""
import asyncio
import sys
import warnings

import viperhttp

app = viperhttp.ViperHTTP()
ticks = []

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    preset = asyncio.get_event_loop()


async def ticker():
    while True:
        ticks.append(1)
        await asyncio.sleep(0.01)


preset.create_task(ticker())


@app.get("/loop")
def loop_kind():
    running = asyncio.get_running_loop()
    return {"loop": type(running).__module__, "same": running is preset, "ticks": len(ticks)}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), wifi=False)

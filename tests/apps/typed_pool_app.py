"""Test app for tests/test_typed.py: `sync_handlers="threadpool"` with a 2-thread pool."""
import sys
import threading
import time

from viperhttp import BackgroundTasks, Depends, ViperHTTP

app = ViperHTTP(sync_handlers="threadpool", threadpool_size=2)
SEEN = {}


def where():
    SEEN["dep"] = threading.current_thread().name
    return "dep"


def record_task():
    SEEN["task"] = threading.current_thread().name


@app.get("/threads")
def threads(background_tasks: BackgroundTasks, d=Depends(where)):
    SEEN["handler"] = threading.current_thread().name
    background_tasks.add_task(record_task)
    return {"dep": d}


@app.get("/seen")
async def seen():
    return dict(SEEN, loop=threading.current_thread().name)


@app.get("/sleep")
def sleep(seconds: float = 0.5):
    time.sleep(seconds)
    return {"slept": seconds}


@app.get("/inline", blocking=False)
def inline():
    return {"thread": threading.current_thread().name}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))

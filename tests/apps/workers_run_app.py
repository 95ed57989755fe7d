"""`app.run(workers=2)` in a script (tests/test_cli.py): the script supervises two copies
of itself that serve the same port."""
import os
import sys

from viperhttp import ViperHTTP

app = ViperHTTP()


@app.get("/pid")
def pid() -> dict:
    return {"pid": os.getpid()}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1", workers=2)

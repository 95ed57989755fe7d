"""Peer app for benches: the same /hello on Robyn (one process, one worker)."""
import sys

from robyn import Robyn, jsonify

app = Robyn(__file__)


@app.get("/hello")
def hello(request):
    return jsonify({"msg": "ok"})


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(sys.argv[1]))

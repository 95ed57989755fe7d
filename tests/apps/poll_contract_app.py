"""The `_poll_batch` wake-up contract over real sockets (tests/test_direct_serving.py,
crates/viperhttp-py/src/bridge.rs `_poll_batch`): an empty batch means the consumer is parked.

Run: python poll_contract_app.py PORT. No bridge polls here: the script drives the native
queue itself and prints one `name=value` line per step, then `done`.
1. Three clients send a request each and disconnect while it waits in the native queue
   (nobody polls yet), so the runtime cancels all three.
2. One poll takes that batch: it must come back empty, the three dropped.
3. A fourth client sends a request: its push must make the wake-up fd readable (the consumer
   was left parked). Without that, a bridge waiting on the fd would never see it.
4. That request is polled and answered; the client reads 200.
"""
import select
import socket
import sys
import time

import viperhttp
from viperhttp import _native

app = viperhttp.ViperHTTP()


@app.get("/hello")
def hello() -> dict:
    return {"msg": "ok"}


def request(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    return s


def wait_for(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def main() -> None:
    port = _native.start(host="127.0.0.1", port=int(sys.argv[1]))
    queued = _native.ipc_stats
    abandoned = [request(port) for _ in range(3)]
    print("queued=%s" % wait_for(lambda: queued()["request_queue_len"] == 3), flush=True)
    for s in abandoned:
        s.close()
    print("cancelled=%s" % wait_for(lambda: queued()["cancelled_ids"] == 3), flush=True)
    print("first_poll=%d" % len(_native._poll_batch(256)), flush=True)
    client = request(port)
    readable, _, _ = select.select([_native.wakeup_fd()], [], [], 3.0)
    print("woken=%s" % bool(readable), flush=True)
    batch = _native._poll_batch(256)
    print("second_poll=%d" % len(batch), flush=True)
    for item in batch:
        _native._send_result(item[0], {"msg": "ok"})
    client.settimeout(5)
    print("status=%s" % client.recv(65536).split(b"\r\n", 1)[0].decode(), flush=True)
    client.close()
    _native.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()

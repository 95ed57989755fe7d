"""HTTPS + HTTP/2 benchmark app (benches/run_h2.sh): GET /hello (JSON, through Python) and
ROOT served natively at /static.

Run: python benches/apps/h2_app.py PORT ROOT CERT KEY
"""
import sys

import viperhttp

app = viperhttp.ViperHTTP(docs=False)


@app.get("/hello")
def hello():
    return {"message": "Hello, World!"}


if __name__ == "__main__":
    port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    app.mount("/static", root)
    app.run(port=port, host="127.0.0.1", wifi=False, https=True, http2=True, http2_max_streams=64,
            tls_cert_path=cert, tls_key_path=key)

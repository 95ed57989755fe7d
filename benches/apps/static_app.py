"""Static-file benchmark app (benches/run_static.sh): serves ROOT at /static natively.

Run: python benches/apps/static_app.py PORT ROOT
"""
import sys

import viperhttp

app = viperhttp.ViperHTTP(docs=False)

if __name__ == "__main__":
    port, root = int(sys.argv[1]), sys.argv[2]
    app.mount("/static", root)
    app.run(port=port, host="127.0.0.1", wifi=False)

"""The anchor for ``bench_service.py``: a minimal HTTP server, one model call per request, no batching.

    python benchmarks/naive_server.py --model ARTEFACT_DIR_OR_STORE_TAG --port 3400

Same request and response shape as the BentoML service's POST /classify (``{"texts": [...], "titles": [...]}``
-> ``{"model", "predictions"}``, without the validation and limits), built on the standard library's
``ThreadingHTTPServer`` around ``training.load``: what one would write without a serving framework.
GET /readyz answers 200 once the model is loaded (it is loaded before the socket opens).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def load_model(reference: str):
    from training.predict import load_model as load

    return load(reference)


def make_handler(model, name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the BentoML server
        # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for the
        # client's delayed ACK (~40 ms per request), a TCP artefact rather than a serving cost.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet: the benchmark measures, logging would cost
            pass

        def _send(self, status: int, body: dict) -> None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._send(200, {"ready": True}) if self.path == "/readyz" else self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/classify":
                self._send(404, {"error": "not found"})
                return
            try:
                request = json.loads(body)
                predictions = model.predict(request["texts"], request.get("titles"))
            except Exception as exc:  # noqa: BLE001 - the anchor answers 400 for anything it cannot use
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"model": name, "predictions": [p.to_dict() for p in predictions]})

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="artefact directory or BentoML store tag")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3400)
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch intra-op threads for transformer models (0: torch's default)")
    args = parser.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    model = load_model(args.model)
    model.predict(["تجربة"])
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model, args.model))
    server.daemon_threads = True
    print(f"naive server on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))

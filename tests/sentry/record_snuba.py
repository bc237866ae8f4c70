"""A recording proxy between Sentry Web and sentry-sls's Snuba API: every SnQL body Sentry
sends is forwarded unchanged and appended, one JSON object a line (`path`, `referer`,
`status`, `body`), to a file. This is how tests/data/sentry-23.7-*.jsonl were recorded: point
Sentry's SENTRY_SNUBA at the proxy, use the console, keep the lines worth keeping.

    python tests/sentry/record_snuba.py --listen 127.0.0.1:1218 --upstream http://127.0.0.1:1219 \\
        --out recorded.jsonl
"""

from __future__ import annotations

import argparse
import http.server
import json
import threading

import requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:1218", help="HOST:PORT Sentry talks to")
    parser.add_argument("--upstream", required=True, help="sentry-sls serve's Snuba URL")
    parser.add_argument("--out", required=True, help="JSON lines file to append to")
    args = parser.parse_args()
    lock = threading.Lock()
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length")}  # fmt: skip
            answer = requests.request(method, args.upstream + self.path, data=body,
                                      headers=headers, timeout=120)  # fmt: skip
            if self.path.endswith(("/snql", "/query", "/mql")):
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = body.decode("utf-8", "replace")
                record = {"path": self.path, "referer": self.headers.get("referer"),
                          "status": answer.status_code, "body": parsed}  # fmt: skip
                with lock:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                        "content-encoding"):  # fmt: skip
                    self.send_header(name, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self.forward("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.forward("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self.forward("DELETE")

        def log_message(self, *_args) -> None:
            pass

    host, port = args.listen.rsplit(":", 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()

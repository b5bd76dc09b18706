"""A real S3 API on loopback (moto's server mode) behind a small proxy that misbehaves on request:
answers ``503 SlowDown`` to the first requests for a key, or cuts the first GET bodies short."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from loopback import ServedOnLoopback

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b'<Message>Please reduce your request rate.</Message><RequestId>loopback</RequestId></Error>')


class S3Proxy(ServedOnLoopback):
    """Forward every request to ``upstream`` (host, port). ``slow_first[key] = n``: the first n
    requests naming ``key`` get 503 SlowDown; ``cut_first[key] = n``: the first n GETs of ``key``
    announce the full length, send half the body and close."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.slow_first: dict[str, int] = {}
        self.cut_first: dict[str, int] = {}
        self.requests: Counter[str] = Counter()
        self.gets: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _any

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    def _key(self, path: str) -> str:
        return unquote(path.split("?", 1)[0]).lstrip("/").partition("/")[2]   # path style: /bucket/key

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        key = self._key(h.path)
        with self._lock:
            self.requests[key] += 1
            n = self.requests[key]
            if h.command == "GET":
                self.gets[key] += 1
            g = self.gets[key]
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if n <= self.slow_first.get(key, 0):
            h.send_response(503)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(0 if h.command == "HEAD" else len(SLOW_DOWN)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(SLOW_DOWN)
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(h.command, h.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                h.send_header(k, v)
        announced = len(data) if h.command != "HEAD" else int(resp.getheader("Content-Length") or 0)
        h.send_header("Content-Length", str(announced))
        h.end_headers()
        if h.command == "HEAD":
            return
        if h.command == "GET" and g <= self.cut_first.get(key, 0):
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(data)

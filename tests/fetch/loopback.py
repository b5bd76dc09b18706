"""A loopback HTTP server for fetch tests: serves in-memory files, honours Range, and misbehaves on
request (drop the connection mid-body, answer 500 first, 404, a wrong length, ignore Range, go slow).

Every server binds 127.0.0.1 on a free port, runs in a daemon thread and is stopped by the test.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class Behaviour:
    """How the server answers GETs of one path. ``fail_first`` GETs answer ``fail_status``;
    ``drop_first`` GETs announce the full length, send ``drop_after`` bytes and close;
    ``wrong_length``: HEAD announces ``len + wrong_length`` bytes; ``ranges=False`` ignores Range;
    ``delay`` seconds of sleep per 64 KiB sent."""

    fail_first: int = 0
    fail_status: int = 500
    drop_first: int = 0
    drop_after: int = 10_000
    wrong_length: int = 0
    ranges: bool = True
    delay: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)
    fail_headers: dict[str, str] = field(default_factory=dict)   # sent with the fail_status answers
    trickle: float = 0.0            # seconds between single bytes of the body (a trickling server)
    stall_first: int = 0            # the first GETs send half the body, then hold the connection ``stall`` s
    stall: float = 0.0
    content_type: str = "video/mp4"


BOT_CHECK = b"Sign in to confirm you're not a bot. This helps protect our community. Learn more"


@dataclass
class BanPolicy:
    """After every ``every`` answered requests, refuse all requests for ``window`` seconds: with 429
    (``mode="429"``, with ``retry_after`` when set) or a 200 page of YouTube's bot check
    (``mode="botcheck"``, served as text). ``via``: ban only requests that came through these
    proxies (their ``Via`` header); others are always served."""

    every: int = 10
    window: float = 1.0
    mode: str = "429"
    retry_after: float | None = None
    via: frozenset[str] | None = None
    served: int = 0
    until: float = 0.0


class _Server(ThreadingHTTPServer):
    request_queue_size = 64     # the default backlog (5) drops connections under concurrency

    def handle_error(self, request: object, client_address: object) -> None:
        pass                    # clients that hang up (timeouts, bans) are part of the tests


class ServedOnLoopback:
    """A threaded HTTP server on 127.0.0.1 (a free port) run in a daemon thread: ``url``,
    ``start``/``stop`` and a with-block. Subclasses build a handler and call ``_serve``."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def _serve(self, httpd: ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def start(self):  # noqa: ANN201  (the subclass)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):  # noqa: ANN204
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackServer(ServedOnLoopback):
    """Serve ``files`` (URL path -> bytes) on 127.0.0.1; count GET requests per path."""

    def __init__(self, files: dict[str, bytes] | None = None, max_requests: int = 5000) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.behaviours: dict[str, Behaviour] = {}
        self.gets: Counter[str] = Counter()
        self.heads: Counter[str] = Counter()
        self.max_requests = max_requests
        self.ban: BanPolicy | None = None
        self.log: list[tuple[float, str, str, str]] = []      # every request: (time, method, path, via)
        self.peers: list[tuple[str, tuple[str, int]]] = []    # every GET: (path, client address)
        self.refusals: list[tuple[float, str]] = []           # refused by the ban policy: (time, via)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_HEAD(self) -> None:
                server._answer(self, head=True)

            def do_GET(self) -> None:
                server._answer(self, head=False)

        self._serve(_Server(("127.0.0.1", 0), Handler))

    def _answer(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(h.path.split("?", 1)[0])   # files are keyed by their decoded path
        with self._lock:
            counter = self.heads if head else self.gets
            counter[path] += 1
            n = counter[path]
            total = sum(self.gets.values()) + sum(self.heads.values())
        if total > self.max_requests:
            h.send_error(503, "request budget exhausted")
            return
        body = self.files.get(path)
        b = self.behaviours.get(path, Behaviour())
        via = h.headers.get("Via", "")
        with self._lock:
            self.log.append((time.monotonic(), "HEAD" if head else "GET", path, via))
            if not head:
                self.peers.append((path, h.client_address))
        if self._banned(via, h, head):
            return
        if body is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if not head and n <= b.fail_first:
            h.send_response(b.fail_status)
            for k, v in b.fail_headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        status, start, end = 200, 0, len(body)
        rng = h.headers.get("Range")
        if rng and b.ranges and not head:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m:
                start = int(m.group(1))
                end = min(len(body), int(m.group(2)) + 1) if m.group(2) else len(body)
                status = 206
        h.send_response(status)
        h.send_header("Content-Type", b.content_type)
        if b.ranges:
            h.send_header("Accept-Ranges", "bytes")
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
        announced = end - start
        if head:
            announced += b.wrong_length
        for k, v in b.extra_headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(announced))
        h.end_headers()
        if head:
            return
        chunk = body[start:end]
        if n <= b.drop_first:
            h.wfile.write(chunk[: b.drop_after])
            h.wfile.flush()
            h.close_connection = True
            return
        if n <= b.stall_first:
            try:
                h.wfile.write(chunk[: len(chunk) // 2])
                h.wfile.flush()
                deadline = time.monotonic() + b.stall
                while time.monotonic() < deadline:
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
            h.close_connection = True
            return
        if b.trickle:
            try:
                for i in range(len(chunk)):
                    h.wfile.write(chunk[i:i + 1])
                    h.wfile.flush()
                    time.sleep(b.trickle)
            except (BrokenPipeError, ConnectionResetError):
                h.close_connection = True
            return
        step = 65536
        try:
            for i in range(0, len(chunk), step):
                h.wfile.write(chunk[i:i + step])
                if b.delay:
                    time.sleep(b.delay)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _banned(self, via: str, h: BaseHTTPRequestHandler, head: bool) -> bool:
        """Apply the ban policy; True when this request was refused (and answered)."""
        ban = self.ban
        if ban is None or (ban.via is not None and via not in ban.via):
            return False
        now = time.monotonic()
        with self._lock:
            refused = now < ban.until
            if not refused:
                ban.served += 1
                if ban.served % ban.every == 0:
                    ban.until = now + ban.window
            status = 429 if ban.mode == "429" else 200
            if refused:
                self.refusals.append((now, via))
        if not refused:
            return False
        body = b"" if ban.mode == "429" else BOT_CHECK
        h.send_response(status)
        if ban.mode == "429" and ban.retry_after is not None:
            h.send_header("Retry-After", f"{ban.retry_after:g}")
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(0 if head else len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
        return True


class ForwardProxy(ServedOnLoopback):
    """A loopback HTTP forward proxy (absolute-URI GET/HEAD) that tags what it forwards with
    ``Via: {name}`` so the origin can tell proxies apart; counts the requests it carried."""

    def __init__(self, name: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        self.name = name
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, method: str) -> None:
                proxy.requests += 1
                u = urlsplit(self.path)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "keep-alive")}
                headers["Via"] = proxy.name
                try:
                    conn.request(method, u.path + (f"?{u.query}" if u.query else ""), headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if method == "HEAD" else None
                self.send_header("Content-Length", length or str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_HEAD(self) -> None:
                self._forward("HEAD")

        self._serve(_Server(("127.0.0.1", 0), Handler))

"""/metrics and /healthz over HTTP, for `--metrics-addr` on workers and daemons.

The server runs in its own daemon threads with its own database connections, so a busy or
stuck scrape can never stall the worker, and a saturated worker never stalls a scrape. It
binds to loopback unless an address says otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobctl.config import Config
from jobctl.errors import JobctlError, UsageError
from jobctl.store import Store


def parse_address(text: str) -> tuple[str, int]:
    """ "9100", ":9100", "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100" -> (host, port)."""
    raw = text.strip()
    host = "127.0.0.1"
    if raw.startswith("["):
        end = raw.find("]")
        if end == -1 or not raw[end + 1 :].startswith(":"):
            raise UsageError(f"--metrics-addr: bad address {text!r}: expected [HOST]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
    elif ":" in raw:
        given, _, port_text = raw.rpartition(":")
        host = given or host
    else:
        port_text = raw
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--metrics-addr: bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--metrics-addr: port {port} out of range")
    return host, port


class MetricsServer:
    def __init__(
        self,
        address: tuple[str, int],
        open_store: Callable[[], Store],
        config: Callable[[], Config],
    ) -> None:
        self._open_store = open_store
        self._config = config
        handler = _handler(self)
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
        if ":" in address[0]:
            import socket

            server_class = type(
                "V6Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6}
            )
        try:
            self._server = server_class(address, handler)
        except OSError as exc:
            raise UsageError(
                f"--metrics-addr: cannot listen on {address[0]}:{address[1]}: {exc.strerror}"
            ) from None
        self._server.daemon_threads = True
        bound = self._server.server_address
        self.address: tuple[str, int] = (str(bound[0]), int(bound[1]))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def metrics(self) -> tuple[int, str]:
        from jobctl.observe.metrics import render

        try:
            with self._open_store() as store:
                return 200, render(store, self._config())
        except JobctlError as exc:
            return 503, f"# jobctl: {exc}\n"

    def health(self) -> tuple[int, str]:
        try:
            with self._open_store() as store:
                store.queue_counts(0.0)
        except JobctlError as exc:
            return 503, f"unhealthy: {exc}\n"
        return 200, "ok\n"


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status, body = server.metrics()
                kind = "text/plain; version=0.0.4; charset=utf-8"
            elif path == "/healthz":
                status, body = server.health()
                kind = "text/plain; charset=utf-8"
            else:
                status, body, kind = 404, "not found\n", "text/plain; charset=utf-8"
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes are not events worth a log line

    return Handler

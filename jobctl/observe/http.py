"""/metrics and /healthz over HTTP, for `--metrics-addr` on workers and daemons.

The server runs in its own daemon threads with its own database connections, so a busy or
stuck scrape can never stall the worker, and a saturated worker never stalls a scrape. It
binds to loopback unless an address says otherwise.

Nothing a client does reaches the worker's stderr: a scrape that resets or drops its
connection (a timed-out Prometheus scrape may) is no error of ours and is dropped quietly,
and an unexpected error while answering is a 500 with a one-line body, never a traceback.

Nor can a client hold on to the worker's descriptors and threads: at most MAX_CONNECTIONS are
handled at once (one more waits a moment at most for a slot, then is closed unanswered), each
has READ_TIMEOUT seconds to send its whole request line and headers and WRITE_TIMEOUT seconds
for each write of the answer. Idle or trickling connections from any local user cost a few of
each for a few seconds, never one apiece for good.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jobctl.config import Config
from jobctl.errors import JobctlError, UsageError
from jobctl.store import Store
from jobctl.text import clean

LOOPBACK = "127.0.0.1"
_TEXT = "text/plain; charset=utf-8"
READ_TIMEOUT = 5.0  # seconds for a connection to send its request line and headers, in all
WRITE_TIMEOUT = 10.0  # seconds for the client to take one write of the answer
MAX_CONNECTIONS = 16  # handled at once; past it a new connection is closed unanswered
ADMIT_WAIT = 0.5  # seconds a new connection may wait for a slot that is about to free
BACKLOG = 64  # connections the kernel queues until the server accepts them


def parse_address(text: str) -> tuple[str, int]:
    """ "9100", ":9100", "[]:9100", "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100" -> (host,
    port). A host left empty, in any spelling, is loopback: all interfaces only when asked."""
    raw = text.strip()
    if raw.startswith("["):
        end = raw.find("]")
        if end == -1 or not raw[end + 1 :].startswith(":"):
            raise UsageError(f"--metrics-addr: bad address {text!r}: expected [HOST]:PORT")
        given, port_text = raw[1:end], raw[end + 2 :]
    elif ":" in raw:
        given, _, port_text = raw.rpartition(":")
    else:
        given, port_text = "", raw
    host = given.strip() or LOOPBACK  # "" to bind() would be every interface
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
        server_class: type[_Server] = _Server
        if ":" in address[0]:
            server_class = _ServerV6
        try:
            self._server = server_class(address, handler)
        except OSError as exc:
            raise UsageError(
                f"--metrics-addr: cannot listen on {address[0]}:{address[1]}: {exc.strerror}"
            ) from None
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._slots = threading.Condition()  # notified when a connection is done
        # Connections being handled: when each was accepted while its request is still being
        # read, None once it is in. Only the serve_forever thread adds; a handler removes its own.
        self._handling: dict[socket.socket, float | None] = {}
        super().__init__(address, handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """A slot for a new connection, or False: then it is closed at once, unanswered. With
        every slot taken, waits up to ADMIT_WAIT for one (those answering, or connected only
        a moment ago, are done in a moment: a burst of scrapes is served, not refused); not
        at all when every slot is held by a connection that has sent no request for that long
        (idle ones, freed only by READ_TIMEOUT: the backlog keeps moving)."""
        with self._slots:
            give_up = time.monotonic() + ADMIT_WAIT
            while len(self._handling) >= MAX_CONNECTIONS:
                now = time.monotonic()
                idle = all(t is not None and now - t >= ADMIT_WAIT for t in self._handling.values())
                if idle or now >= give_up:
                    return False
                self._slots.wait(give_up - now)
            self._handling[request] = time.monotonic()
            return True

    def request_read(self, request: socket.socket) -> bool:
        """The request is in: no read deadline from here. False if it came too late."""
        with self._slots:
            accepted = self._handling.get(request)
            self._handling[request] = None
        return accepted is not None and time.monotonic() - accepted < READ_TIMEOUT

    def shutdown_request(self, request: Any) -> None:
        """Frees the slot before the descriptor is closed: service_actions only touches
        connections still here, so never a descriptor reused by something else."""
        with self._slots:
            self._handling.pop(request, None)
            self._slots.notify()
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Called by serve_forever at least every half second: a connection whose request is
        not in READ_TIMEOUT after it was accepted is shut down, which wakes its handler with
        end of file."""
        late = time.monotonic() - READ_TIMEOUT
        with self._slots:
            for request, accepted in self._handling.items():
                if accepted is not None and accepted <= late:
                    with contextlib.suppress(OSError):
                        request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr for any exception a request raises. The
        handler answers what it can (a 500 for an unexpected error), so what reaches here is
        a client that reset or dropped its connection, or one that broke off mid-answer:
        nothing the worker's stderr should show. Anything else (a bug) is one line there."""
        import sys

        error = sys.exc_info()[1]
        if error is None or isinstance(error, ConnectionError | TimeoutError):
            return
        text = clean(f"{type(error).__name__}: {error}")[:300]
        print(f"jobctl: metrics server: unexpected error: {text}", file=sys.stderr)


class _ServerV6(_Server):
    address_family = socket.AF_INET6


def _internal_error(exc: Exception) -> str:
    """The body of a 500: one line, whatever the exception's text holds."""
    text = clean(f"{type(exc).__name__}: {exc}")
    return f"internal error: {text[:297] + '...' if len(text) > 300 else text}\n"


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT  # for each read; service_actions holds the whole request to it

        def parse_request(self) -> bool:
            parsed = super().parse_request()
            assert isinstance(self.server, _Server)
            if not self.server.request_read(self.connection):
                return False  # shut down for being late: what came is not the whole request
            self.connection.settimeout(WRITE_TIMEOUT)
            return parsed

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            kind = _TEXT
            try:
                if path == "/metrics":
                    status, body = server.metrics()
                    kind = "text/plain; version=0.0.4; charset=utf-8"
                elif path == "/healthz":
                    status, body = server.health()
                else:
                    status, body = 404, "not found\n"
            except Exception as exc:  # a bug, or a store error of a kind it does not name
                status, body, kind = 500, _internal_error(exc), _TEXT
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes are not events worth a log line

    return Handler

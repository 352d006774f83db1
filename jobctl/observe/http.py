"""/metrics, /healthz and /livez over HTTP, for `--metrics-addr` on workers and daemons.

The server runs in threads of its own with its own database connections, so a busy or stuck
scrape can never stall the worker, and a saturated worker never stalls a scrape. It binds to
loopback unless an address says otherwise.

Nothing a client does reaches the worker's stderr: a scrape that resets or drops its
connection (a timed-out Prometheus scrape may) is no error of ours and is dropped quietly.
What the answers need is imported when the server is made, since a process out of
descriptors cannot import; an unexpected error while answering (out of descriptors, a bug)
is a 503 with a one-line body that names no exception or file, never a traceback, and a bug
is said on stderr.

Nor can a client hold on to the worker's descriptors and threads, or keep other clients from
their answers. One thread reads and writes every connection and never waits on any; others
only work out answers, each to a request whose request line and headers have all arrived:
MAX_ANSWERING for scrapes (and any other path), MAX_PROBING of their own for /healthz, so
that a readiness probe never waits behind scrapes a stalled store holds. /livez reads no
store and is answered by the serving thread itself. At most MAX_CONNECTIONS are open at
once: past that, a new one closes the oldest still sending its request or taking its answer,
or else the oldest request still waiting for a thread, with a 503 saying so; the server
never stops accepting for want of room, so /livez is always answered. Each connection has
READ_TIMEOUT seconds to send its request, ANSWER_TIMEOUT for its answer to be worked out
(past that, a 503 saying so: a store that stalls holds a thread, not the client) and
WRITE_TIMEOUT to take the answer; a request whose client resets the connection before its
answer is dropped, unanswered. Idle or trickling connections from any local user thus cost a
descriptor apiece, a few dozen at most, and hold up no request that arrives whole: it is
read as it comes and answered at once.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from jobctl.config import Config
from jobctl.errors import JobctlError, UsageError
from jobctl.logfiles import log_dir
from jobctl.observe.health import database_check, logs_check
from jobctl.observe.metrics import render
from jobctl.store import Store
from jobctl.text import clean, digits_value, shorten

LOOPBACK = "127.0.0.1"
_TEXT = "text/plain; charset=utf-8"
READ_TIMEOUT = 5.0  # seconds for a connection to send its request line and headers, in all
WRITE_TIMEOUT = 10.0  # seconds for the client to take the whole answer
# Seconds from a request's arrival to its answer being worked out: one still waiting for a
# stalled store then is a 503 saying so, before Prometheus' default scrape timeout (10 s)
# gives up on it and records no reason.
ANSWER_TIMEOUT = 8.0
# Connections open at once: more than any burst of scrapes, few enough that, held by idle
# clients, they leave the worker's jobs their descriptors. Past it a new one closes the
# oldest waiting on its client: a request is read the moment it arrives, so holding every
# place against it takes opening that many connections in that moment.
MAX_CONNECTIONS = 32
MAX_ANSWERING = 4  # scrapes worked out at once, each with a database connection of its own
MAX_PROBING = 2  # /healthz requests worked out at once, in threads no scrape takes
HEALTH_PATH = "/healthz"
MAX_HEAD = 16 * 1024  # bytes of request line and headers; a connection sending more is closed
BACKLOG = 64  # connections the kernel queues until the server accepts them
TICK = 0.5  # seconds at most between two checks of the connections' deadlines
# Why a request made room for a new connection past MAX_CONNECTIONS: its 503 says so.
SHED = (
    f"shed: more than {MAX_CONNECTIONS} connections at once, and this request waited longest"
    " for an answer; try again"
)
# Why a request is answered by a 503 without its answer being worked out.
Refusal = Literal["late", "shed"]
# 200 while the process serves, reading no store: what a liveness probe is to ask, where
# /healthz (the store takes writes, the logs have room) is a readiness probe's question.
LIVENESS_PATH = "/livez"


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
    # ASCII digits alone, as every number jobctl reads: int() also takes "9_100", "+9100"
    # and other scripts' digits.
    if not (port_text.isascii() and port_text.isdigit()):
        raise UsageError(f"--metrics-addr: bad port in {shorten(text)!r}")
    port = digits_value(port_text, 5)
    if port is None or port > 65535:
        shown = shorten(port_text.lstrip("0"))
        raise UsageError(f"--metrics-addr: port {shown} out of range")
    return host, port


class MetricsServer:
    def __init__(
        self,
        address: tuple[str, int],
        open_store: Callable[[], Store],
        config: Callable[[], Config],
        *,
        open_probe_store: Callable[[], Store] | None = None,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        """`open_probe_store`: the store /healthz reads, when its connection is to wait for
        the server less long than a scrape's (open_store by default). `answer_timeout`: the
        seconds a request waits for its answer before a 503 says the store gave none."""
        self._open_store = open_store
        self._open_probe_store = open_probe_store or open_store
        self._config = config
        self._answer_timeout = answer_timeout
        try:
            self._server = _Server(address, self._answer, answer_timeout)
        except OSError as exc:
            raise UsageError(
                f"--metrics-addr: cannot listen on {address[0]}:{address[1]}: {exc.strerror}"
            ) from None
        bound = self._server.listener.getsockname()
        self.address: tuple[str, int] = (str(bound[0]), int(bound[1]))
        self._serving = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._answering = [
            threading.Thread(
                target=self._server.answer_forever,
                args=(lane,),
                name=f"metrics-{lane.name}-{n}",
                daemon=True,
            )
            for lane, threads in (
                (self._server.scrapes, MAX_ANSWERING),
                (self._server.probes, MAX_PROBING),
            )
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in (self._serving, *self._answering):
            thread.start()

    def stop(self) -> None:
        """Closes every connection and the listening socket. An answer still being worked
        out (on a slow database) is not waited for: its thread is a daemon's, its answer
        dropped."""
        self._server.stop()
        if self._serving.is_alive():
            self._serving.join()
        self._server.close()

    def metrics(self) -> tuple[int, str]:
        try:
            with self._open_store() as store, store.read_snapshot():
                return 200, render(store, self._config())
        except JobctlError as exc:
            return 503, f"# jobctl: {self._failure(exc)}\n"

    def health(self) -> tuple[int, str]:
        """503 when the store cannot be read, or cannot take a write (a full disk, a file
        system mounted read-only: `health`'s database check), which reads still hide, or
        when the log folder cannot take the jobs' output (`health`'s logs check)."""
        try:
            with self._open_probe_store() as store:
                # The write probe first: a Redis server whose writes are paused holds a
                # read script too, until the pause ends, and the probe says it in a second.
                checks = [database_check(store)]
                if checks[0].ok:
                    store.queue_counts(0.0)
                    checks.append(logs_check(log_dir(self._config(), store.location)))
        except JobctlError as exc:
            return 503, f"unhealthy: {self._failure(exc)}\n"
        for failed in (c for c in checks if not c.ok):
            return 503, f"unhealthy: {failed.message}\n"
        return 200, "ok\n"

    def _failure(self, exc: JobctlError) -> str:
        """The store's error, unless this process is out of descriptors: SQLite then says it
        cannot open the database file, which sends one looking at the file instead."""
        try:
            os.close(os.dup(self._server.listener.fileno()))
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE):
                return _system_error(error)
        return str(exc)

    def late(self) -> str:
        """Why a request got no answer from the store within answer_timeout."""
        return f"no answer from the store within {self._answer_timeout:g} s (is it stalled?)"

    def _answer(self, head: bytes, client_address: Any, refusal: Refusal | None) -> bytes:
        return _Exchange(self, head, client_address, refusal).answer.getvalue()


# reading its request; queued in a lane; answering: a thread works out its answer; writing
# the answer; closed.
_Phase = Literal["reading", "queued", "answering", "writing", "closed"]


class _Connection:
    """A client's socket and where its exchange stands. Only the serving thread touches
    the socket; an answering thread only reads `head` of one handed to it. `deadline`: when
    the phase it is in is up (reading, queued or answering, writing)."""

    def __init__(self, sock: socket.socket, client_address: Any, now: float) -> None:
        self.sock = sock
        self.client_address = client_address
        self.deadline = now + READ_TIMEOUT
        self.head = bytearray()
        self.answer = memoryview(b"")
        self.phase: _Phase = "reading"
        self.lane: _Lane | None = None  # the lane its request was put in


class _Lane:
    """The requests waiting for a thread of one kind (scrapes, or /healthz), oldest first.
    The serving thread puts and takes them back (a client gone, a request too late); the
    lane's threads take them to answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiting: collections.deque[_Connection] = collections.deque()
        self._changed = threading.Condition()
        self._stopping = False

    def put(self, conn: _Connection) -> None:
        with self._changed:
            conn.phase = "queued"
            conn.lane = self
            self._waiting.append(conn)
            self._changed.notify()

    def take(self) -> _Connection | None:
        """The oldest request waiting, now "answering"; None once the server stops."""
        with self._changed:
            while not self._waiting and not self._stopping:
                self._changed.wait()
            if self._stopping:
                return None
            conn = self._waiting.popleft()
            conn.phase = "answering"
            return conn

    def withdraw(self, conn: _Connection) -> bool:
        """Takes a request back if no thread has taken it yet: whether it was still waiting."""
        with self._changed:
            if conn.phase != "queued":
                return False
            self._waiting.remove(conn)
            return True

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()


class _Server:
    """The listening socket and every connection: served by one thread (serve_forever) that
    reads and writes without blocking, and answered by threads (answer_forever) that never
    touch a socket, so that no client, however slow, holds a thread."""

    def __init__(
        self,
        address: tuple[str, int],
        answer: Callable[[bytes, Any, Refusal | None], bytes],
        answer_timeout: float,
    ) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(address)
            self.listener.listen(BACKLOG)
        except OSError:
            self.listener.close()
            raise
        self.listener.setblocking(False)
        self._answer = answer
        self._answer_timeout = answer_timeout
        self._selector = selectors.DefaultSelector()
        # An answering thread wakes the serving thread with a byte: an answer is ready.
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ)
        self._selector.register(self.listener, selectors.EVENT_READ)
        self._listening = True
        self._listen_again = 0.0  # when to accept again after the kernel refused an accept
        self._connections: dict[_Connection, None] = {}  # in the order accepted: oldest first
        self.scrapes = _Lane("answer")
        self.probes = _Lane("probe")
        self._answered: collections.deque[tuple[_Connection, bytes]] = collections.deque()
        self._stopping = False

    def serve_forever(self) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select(TICK):
                    self._ready(key)
                self._take_answers()
                self._close_late()
                if not self._listening and time.monotonic() >= self._listen_again:
                    self._listen(True)
        except Exception as exc:  # a bug: the endpoint is gone, the worker goes on
            _report(exc)

    def answer_forever(self, lane: _Lane) -> None:
        while (conn := lane.take()) is not None:
            try:
                answer = self._answer(bytes(conn.head), conn.client_address, None)
            except Exception as exc:  # a bug outside do_GET's own 500: closed unanswered
                _report(exc)
                answer = b""
            self._answered.append((conn, answer))
            with contextlib.suppress(OSError):  # full (a wake is due anyway), or stopped
                self._wake_out.send(b"\0")

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_out.send(b"\0")
        self.scrapes.stop()
        self.probes.stop()

    def close(self) -> None:
        """Once serve_forever has returned: closes every socket it held."""
        for conn in list(self._connections):
            self._close(conn)
        self._selector.close()
        self.listener.close()
        self._wake_in.close()
        self._wake_out.close()

    def _ready(self, key: selectors.SelectorKey) -> None:
        try:
            if key.fileobj is self.listener:
                if self._listening:
                    self._accept()
            elif key.fileobj is self._wake_in:
                with contextlib.suppress(OSError):
                    while self._wake_in.recv(4096):
                        pass
            elif key.data.phase == "reading":
                self._read(key.data)
            elif key.data.phase in ("queued", "answering"):
                self._read_past_head(key.data)
            elif key.data.phase == "writing":
                self._write(key.data)
        except Exception as exc:  # a bug: this connection is dropped, the others served
            _report(exc)
            conn = key.data
            if isinstance(conn, _Connection) and conn.phase != "closed":
                self._close(conn)

    def _accept(self) -> None:
        for _ in range(BACKLOG):  # then the others get their turn
            try:
                sock, client_address = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError:  # out of descriptors (the jobs' too): try again in a moment
                self._listen(False)
                self._listen_again = time.monotonic() + TICK
                return
            if len(self._connections) >= MAX_CONNECTIONS:
                # Never none: far fewer are being answered than MAX_CONNECTIONS.
                shed = self._oldest_waiting() or self._oldest_queued()
                if shed is not None and shed.phase == "queued":
                    self._shed(shed)
                elif shed is not None:
                    self._close(shed)
            sock.setblocking(False)
            conn = _Connection(sock, client_address, time.monotonic())
            self._connections[conn] = None
            self._read(conn)  # a request sent at once is often in already
            if conn.phase in ("reading", "queued", "answering"):  # read on: see _read
                self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset: the client gave up
            self._close(conn)
            return
        if not data or len(conn.head) + len(data) > MAX_HEAD:
            self._close(conn)  # gone before its request was in, or sending no request at all
            return
        conn.head += data
        if not _head_complete(conn.head):
            return
        path = _path(conn.head)
        if path == LIVENESS_PATH:
            # Answered here, reading nothing: not behind scrapes that a stalled store holds
            # in every answering thread, which a liveness probe would take for a process
            # to restart.
            with contextlib.suppress(KeyError):  # not registered when read on accepting
                self._selector.unregister(conn.sock)
            conn.phase = "answering"
            answer = self._answer(bytes(conn.head), conn.client_address, None)
            self._answered.append((conn, answer))
            return
        # Still read while it waits: a client that resets is seen, and its request dropped.
        conn.deadline = time.monotonic() + self._answer_timeout
        (self.probes if path == HEALTH_PATH else self.scrapes).put(conn)

    def _read_past_head(self, conn: _Connection) -> None:
        """A request waiting for its answer: its client resetting the connection drops it,
        and what it sends past the head (a body) is read and let go. An end of what it sends
        is no hang-up: a client that shuts its sending side once its request is sent (`nc
        -N`, socat, many scripted probes) reads on; the request keeps its place, no longer
        read (one that did go is dropped at its deadline, or at the answer's write)."""
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            with contextlib.suppress(KeyError):
                self._selector.unregister(conn.sock)

    def _take_answers(self) -> None:
        while self._answered:
            conn, answer = self._answered.popleft()
            if conn.phase == "answering":  # else closed, or answered late already
                self._send(conn, answer)

    def _send(self, conn: _Connection, answer: bytes) -> None:
        """Starts writing the answer (none: the connection is closed unanswered)."""
        if not answer:
            self._close(conn)
            return
        with contextlib.suppress(KeyError):
            self._selector.unregister(conn.sock)
        conn.phase = "writing"
        conn.answer = memoryview(answer)
        conn.deadline = time.monotonic() + WRITE_TIMEOUT
        self._write(conn)  # most answers fit the socket's buffer at once
        if conn.phase == "writing":
            self._selector.register(conn.sock, selectors.EVENT_WRITE, conn)

    def _write(self, conn: _Connection) -> None:
        try:
            sent = conn.sock.send(conn.answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset, or closed for reading: the client gave up
            self._close(conn)
            return
        conn.answer = conn.answer[sent:]
        if not conn.answer:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        with contextlib.suppress(KeyError):
            self._selector.unregister(conn.sock)
        self._withdraw(conn)
        conn.phase = "closed"
        del self._connections[conn]
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)  # the end of the answer, sent before the close
        conn.sock.close()

    def _shed(self, conn: _Connection) -> None:
        """Closes a request that waits for a thread, with a 503 that says why: its client
        would otherwise read an empty reply. Sent once, without waiting: a few hundred bytes
        that a socket nobody has written to takes whole."""
        self._withdraw(conn)
        conn.phase = "answering"  # out of its lane: no thread takes it now
        answer = self._answer(bytes(conn.head), conn.client_address, "shed")
        with contextlib.suppress(OSError):
            conn.sock.send(answer)
        self._close(conn)

    def _withdraw(self, conn: _Connection) -> None:
        """Takes the request back from its lane, if it waits there for a thread still."""
        if conn.phase == "queued" and conn.lane is not None:
            conn.lane.withdraw(conn)

    def _close_late(self) -> None:
        """A connection past its deadline is closed: one that has not sent its whole request
        READ_TIMEOUT after it was accepted is not answered. A request whose answer is not
        worked out ANSWER_TIMEOUT after it arrived is a 503 saying so: its thread, held by
        a stalled store, is let go on with it, and what it ends with is dropped."""
        now = time.monotonic()
        for conn in [c for c in self._connections if c.deadline <= now]:
            if conn.phase in ("queued", "answering"):
                self._withdraw(conn)
                self._send(conn, self._answer(bytes(conn.head), conn.client_address, "late"))
            else:
                self._close(conn)

    def _oldest_waiting(self) -> _Connection | None:
        """The connection accepted first of those still waiting on their client: sending
        the request or taking the answer."""
        return next((c for c in self._connections if c.phase in ("reading", "writing")), None)

    def _oldest_queued(self) -> _Connection | None:
        """The connection accepted first of those whose request waits for a thread."""
        return next((c for c in self._connections if c.phase == "queued"), None)

    def _listen(self, on: bool) -> None:
        if on != self._listening:
            if on:
                self._selector.register(self.listener, selectors.EVENT_READ)
            else:
                self._selector.unregister(self.listener)
            self._listening = on


def _path(head: bytearray) -> str:
    """The path the request asks for, without its query ("" for no request line)."""
    words = bytes(head).split(b"\n", 1)[0].split()
    if len(words) < 2:
        return ""
    return words[1].split(b"?", 1)[0].decode("latin-1")


def _head_complete(head: bytearray) -> bool:
    """Whether the request line and headers have all arrived: an empty line ends them, as
    http.server reads them (an empty request line is the whole of a request it ignores, and
    one with no version, HTTP/0.9's, has no headers)."""
    first = head.find(b"\n")
    if first == -1:
        return False
    if len(head[:first].split()) < 3:  # empty, or HTTP/0.9's `GET /path`: no headers follow
        return True
    return head.find(b"\n\n", first) != -1 or head.find(b"\n\r\n", first) != -1


def _report(error: BaseException) -> None:
    """An unexpected error (a bug) as one line on the worker's stderr, never a traceback."""
    text = clean(f"{type(error).__name__}: {error}")[:300]
    print(f"jobctl: metrics server: unexpected error: {text}", file=sys.stderr)


def _internal_error(exc: Exception) -> str:
    """What went wrong, for the one line of a 503: what the system refused (a file name is
    the server's own business), or an internal error, said in full on stderr (a bug)."""
    if isinstance(exc, OSError) and exc.strerror:
        return _system_error(exc)
    _report(exc)
    return "internal error (see the process's log)"


def _system_error(error: OSError) -> str:
    """What the system refused, without the file it was refused on: "too many open files"."""
    text = error.strerror or os.strerror(error.errno or 0)
    return clean(text[:1].lower() + text[1:])


class _Exchange(BaseHTTPRequestHandler):
    """One request, from its head as the serving thread read it to the whole answer it is
    to write: http.server's parsing and error answers, with no socket to wait on."""

    # http.server's own answers (a bad request, a request line too long) in plain text,
    # as every other answer: its default is an HTML page.
    error_content_type = _TEXT
    error_message_format = "%(code)d %(message)s\n"

    def __init__(
        self, server: MetricsServer, head: bytes, client_address: Any, refusal: Refusal | None
    ) -> None:
        """`refusal`: the answer is a 503 saying why the request gets no other, "late" when
        it waited its ANSWER_TIMEOUT, "shed" when it made room for a new connection."""
        # Not BaseRequestHandler's __init__: it reads and writes a socket.
        self.metrics_server = server
        self.refusal = refusal
        self.client_address = client_address
        self.rfile = io.BytesIO(head)
        self.answer = io.BytesIO()
        self.wfile = self.answer
        self.handle()

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        """As GET without the body: uptime checkers and load balancers may probe with HEAD,
        and took the 501 http.server gives by default for a worker down."""
        self._answer(with_body=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every method but GET and HEAD (POST, PUT, BREW, any token) is answered by
        _refuse_method: http.server said 501 to one it has no do_ method for, as if the
        server knew no such method, where every other got 405."""
        if name.startswith("do_"):
            return self._refuse_method
        raise AttributeError(name)

    def _refuse_method(self) -> None:
        """405 with the methods taken: what a client is to try instead."""
        body = b"method not allowed: GET or HEAD\n"
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", _TEXT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        kind = _TEXT
        try:
            if self.refusal is not None:
                why = self.metrics_server.late() if self.refusal == "late" else SHED
                status, body = 503, f"# jobctl: {why}\n"
                if path == HEALTH_PATH:
                    body = f"unhealthy: {why}\n"
            elif path == "/metrics":
                status, body = self.metrics_server.metrics()
                kind = "text/plain; version=0.0.4; charset=utf-8"
            elif path == HEALTH_PATH:
                status, body = self.metrics_server.health()
            elif path == LIVENESS_PATH:
                status, body = 200, "ok\n"
            else:
                status, body = 404, "not found\n"
        except Exception as exc:  # out of descriptors, a bug, a store error it does not name
            problem = _internal_error(exc)
            status, kind = 503, _TEXT
            body = f"unhealthy: {problem}\n" if path == HEALTH_PATH else f"# jobctl: {problem}\n"
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return  # scrapes are not events worth a log line

"""Wake-ups over pub/sub, as a file descriptor a worker can select() on."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

# ---------------------------------------------------------------------------------------------
# Wake-ups

_SUBSCRIBE_TIMEOUT = 10.0  # seconds, as for connecting


class PubSubListener:
    """Wake-ups through the namespace's pub/sub channel, behind a pipe that select() can
    wait on. A thread blocks on the subscription (no polling) and writes a byte for each
    message; it reconnects after a lost connection and then wakes the worker once, since
    a message may have been missed meanwhile. The pipe never changes, whatever the
    connection does."""

    def __init__(self, client: Any, channel: str) -> None:
        self._pubsub = client.pubsub()
        try:
            self._pubsub.subscribe(channel)
            # SUBSCRIBE only sends: its answer comes as the first message. Read here, so a
            # refusal (an ACL user without the channel) reaches the caller, which can say so,
            # instead of the thread, which would wait on a subscription that never was.
            answer = self._pubsub.get_message(timeout=_SUBSCRIBE_TIMEOUT)
            if answer is None or answer.get("type") != "subscribe":
                raise TimeoutError(f"no answer to SUBSCRIBE within {_SUBSCRIBE_TIMEOUT:g}s")
        except BaseException:
            self._pubsub.close()
            raise
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.control_pending = False
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="jobctl-wake", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._read

    def drain(self) -> None:
        """Empty the pipe; remember whether a control message (a cancel) came."""
        while True:
            try:
                data = os.read(self._read, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            if b"c" in data:
                self.control_pending = True

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._pubsub.close()
        self._thread.join(timeout=1.0)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _pump(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                message = self._pubsub.get_message(timeout=None)
            except Exception:
                if self._closed:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                self._signal(b"w")
                continue
            delay = 0.1
            if message is not None and message.get("type") == "message":
                self._signal(b"c" if message.get("data") == "c" else b"w")

    def _signal(self, byte: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, byte)

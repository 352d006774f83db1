"""Stop signals while a change sent to the server awaits its reply.

A change goes to Redis as one script, which the server completes whatever the client does
once it is sent: an interrupt that ended the command while it was in flight left the change
made in full with no word of it (exit 130, and a retried enqueue --batch stored every job
twice). So the first SIGINT, SIGTERM or SIGHUP that comes meanwhile is held until the
reply, and then acted on once the command has noted what it changed (jobctl.cli.main
STORED), as after a SQLite commit. A second one, to a server that does not answer (paused,
stalled, a host gone until the socket's timeout), ends the command at once, saying that
the change was sent and may or may not be done.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from jobctl.stopsignals import handlers_replaced


@contextlib.contextmanager
def in_flight(change: str) -> Iterator[None]:
    """Hold the stop signals while the script of `change` (`the cancel of 3 job(s)`) is
    sent and answered. Only a handler that ends the command (a one-shot command's, Python's
    Ctrl-C) or that notes the signal for later (prune's, between batches) is held: a
    daemon's own handlers, and signals ignored (nohup), are left as they are; outside the
    main thread, where no handler can be set, none is held."""
    entry = sys.modules.get("jobctl.cli.entry")
    held: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        if not held:
            held.append(signum)
            return
        note = f"{change} was sent to the server, and may or may not be done (jobctl list shows)"
        if entry is not None:
            entry.give_up(signum, note)
        raise KeyboardInterrupt(note)

    with handlers_replaced(hold, lambda old: _held_here(old, entry)) as previous:
        yield
    if held:
        _act_on(held[0], previous.get(held[0]), entry)


def _held_here(handler: object, entry: Any) -> bool:
    """Whether a signal with this handler is held while a change is in flight."""
    if entry is not None and handler is entry.stop:
        return True
    return handler is signal.default_int_handler or bool(getattr(handler, "notes_only", False))


def _act_on(signum: int, handler: Callable[..., Any] | None, entry: Any) -> None:
    """Act on a signal held until the change's reply: a one-shot command's stop waits for
    the command to note what it changed (entry.held), any other handler is run now."""
    if entry is not None and handler is entry.stop:
        entry.hold(signum)
        return
    signal.raise_signal(signum)

"""Stop signals while a change is being made: a SQLite commit, or a script sent to a Redis
server awaiting its reply.

A commit under way, or a script once sent (the server completes it whatever the client
does), ends with the change made: an interrupt that ended the command then left it made in
full with no word of it (exit 130, and a retried enqueue --batch stored every job twice).
So the first SIGINT, SIGTERM or SIGHUP that comes meanwhile is held until the change is
made, and then acted on once the command has noted what it changed (jobctl.cli.main
STORED). On Redis, a second one, to a server that does not answer (paused, stalled, a host
gone until the socket's timeout), ends the command at once, saying that the change was sent
and may or may not be done; a commit's signals are all held, as Python runs their handlers
only once SQLite has returned.
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
def in_flight(change: str | None) -> Iterator[None]:
    """Hold the stop signals while the script of `change` (`the cancel of 3 job(s)`) is
    sent and answered, or (None) while a commit is made. Only a handler that ends the
    command (a one-shot command's, Python's Ctrl-C) or that notes the signal for later
    (prune's, between batches) is held: a daemon's own handlers, and signals ignored
    (nohup), are left as they are; outside the main thread, where no handler can be set,
    none is held."""
    entry = sys.modules.get("jobctl.cli.entry")
    held: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        if not held or change is None:
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

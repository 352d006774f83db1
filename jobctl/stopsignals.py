"""The stop signals of a one-shot command (Ctrl-C, SIGTERM, SIGHUP), and the one way their
handlers are swapped for the length of a step an interrupt must not split (a batch of a
prune or a large cancel, a change in flight on a Redis server, a backup's copy)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def handlers_replaced(
    handler: Callable[[int, Any], None], takes: Callable[[Any], bool]
) -> Iterator[dict[int, Any]]:
    """Give each stop signal whose handler `takes` accepts to `handler` until the block
    ends, then put the old one back; yields those replaced (signal -> old handler). Outside
    the main thread, where no handler can be set, none is replaced."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        yield previous
        return
    for stop in STOP_SIGNALS:
        if takes(signal.getsignal(stop)):
            previous[stop] = signal.signal(stop, handler)
    try:
        yield previous
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def interrupts_held() -> Iterator[list[signal.Signals]]:
    """Hold Ctrl-C, SIGTERM and SIGHUP for the block to act on at a point of its choosing
    (the signals that came, in order). One ignored (under nohup) stays ignored; outside the
    main thread, where no handler can be set, none is held."""
    came: list[signal.Signals] = []

    def note(signum: int, _frame: object) -> None:
        came.append(signal.Signals(signum))

    # Held on by a change in flight on a Redis server, and given to this one at its reply.
    note.notes_only = True  # type: ignore[attr-defined]
    with handlers_replaced(note, lambda old: old not in (signal.SIG_IGN, None)):  # None: C's
        yield came

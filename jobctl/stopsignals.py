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

# What a worker, `up` and the cron daemon act on: SIGTERM and SIGINT stop, SIGQUIT stops at
# once, SIGHUP re-reads the config. The one list: the init of jobctl as PID 1 passes on these.
SERVICE_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
# Sent out of habit (a logrotate postrotate, `docker kill -s USR1` to reopen logs): by default
# they killed a worker mid-job, its jobs' processes left running unsupervised to be run again
# beside themselves once their leases ended. A service ignores them (a worker says so).
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


def keep_exit_statuses() -> None:
    """Undo an ignored SIGCHLD, inherited from a parent that set it (exec keeps it): the
    kernel then reaps every child at once and their exit statuses are lost, so that a job's
    success was taken for a failure (run again), and the init of jobctl as PID 1 exited 1
    whatever jobctl's code was."""
    if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def ignored_and_said(say: Callable[[str], None]) -> Callable[[int, Any], None]:
    """A handler for IGNORED_SIGNALS that has `say` told each one's name. It is told from a
    thread of its own: a handler may interrupt the main thread inside the event log's lock,
    which a line written from the handler itself would wait on for ever."""

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        with contextlib.suppress(RuntimeError):  # no thread to be had (a pids limit): unsaid
            threading.Thread(target=say, args=(name,), name="signal-note", daemon=True).start()

    return handler


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

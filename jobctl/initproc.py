"""jobctl as a container's PID 1. The kernel makes PID 1 the parent of every orphan in the
container, and a worker cannot reap them itself: a wait for any child would take the exit
statuses its jobs' own waits need. So, as tini does, jobctl forks at its start: the parent
stays PID 1, passes the stop and reload signals on, reaps every child that ends and exits
as jobctl did; the child runs jobctl."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

# What a service manager, `docker stop`/`kill` or a user sends to stop or reload jobctl.
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def run_behind_init() -> None:
    """As PID 1, fork: the parent becomes the init and never returns, the child returns to
    run the command. Elsewhere nothing. Call it before any thread or store is opened: the
    parent keeps none of them, and a fork copies no thread but the caller."""
    if os.getpid() != 1:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # else both processes would write what is buffered
    foreground = _terminal_is_ours()
    # Held from before the fork until the parent's handlers are in: none is lost meanwhile.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.fork()
    if child == 0:
        _own_process_group(foreground)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return
    _serve_as_init(child, held)


def _serve_as_init(child: int, held: set[int | signal.Signals]) -> NoReturn:
    """Forward the signals to `child`, reap whatever ends, and exit with `child`'s status
    (128 + N for a death by signal N, as a shell says it)."""

    def forward(number: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just ended: its status comes
            os.kill(child, number)

    for number in FORWARDED:
        signal.signal(number, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # a handler runs, then the wait goes on
        except ChildProcessError:  # cannot be while the child lives: it is gone
            os._exit(1)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


def _terminal_is_ours() -> bool:
    """Whether stdin is a terminal whose foreground is this process's group (`docker run
    -it`): Ctrl-C there must reach jobctl once, not also as the init's forward of it."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _own_process_group(foreground: bool) -> None:
    """Put the child in a process group of its own, the terminal's foreground when the
    init's group was: the terminal's signals then reach the child alone, as under tini."""
    try:
        os.setpgid(0, 0)
        if foreground:
            # A background group that sets the foreground is sent SIGTTOU, which would stop it.
            previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            try:
                os.tcsetpgrp(0, os.getpgrp())
            finally:
                signal.signal(signal.SIGTTOU, previous)
    except OSError:
        pass

"""jobctl as a container's PID 1. The kernel makes PID 1 the parent of every orphan in the
container, and a worker cannot reap them itself: a wait for any child would take the exit
statuses its jobs' own waits need. So, as tini does, jobctl forks at its start: the parent
stays PID 1, passes the stop and reload signals on, reaps every child that ends and exits
as jobctl did; the child runs jobctl. Signals jobctl gives no meaning (SIGUSR1, SIGUSR2) it
does not pass on: the kernel drops them, as it drops any PID 1 has no handler for."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from jobctl.stopsignals import SERVICE_SIGNALS, keep_exit_statuses
from jobctl.text import say

# What a service manager, `docker stop`/`kill` or a user sends to stop or reload jobctl.
FORWARDED = SERVICE_SIGNALS
# The terminal's stops (Ctrl-Z, a read or write from the background): PID 1 is not stopped by
# them, but jobctl behind it is, and a container has no shell to run `fg`.
TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


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
    keep_exit_statuses()  # the init's wait needs jobctl's, to exit with it
    # Held from before the fork until the parent's handlers are in: none is lost meanwhile.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        child = os.fork()
    except OSError as exc:  # EAGAIN at a pids limit
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        say(
            f"jobctl: warning: cannot fork the init that reaps the orphans of jobs"
            f" ({exc.strerror}: the host allows no more processes): jobctl runs as PID 1"
            " without it, and the processes its jobs leave behind stay zombies"
        )
        return
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
            pid, status = os.waitpid(-1, os.WUNTRACED)  # a handler runs, then the wait goes on
        except ChildProcessError:  # cannot be while the child lives: it is gone
            os._exit(1)
        if pid != child:
            continue
        if os.WIFSTOPPED(status):
            _continue_stopped(child, os.WSTOPSIG(status))
            continue
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)


def _continue_stopped(child: int, number: int) -> None:
    """Continue jobctl stopped by the terminal (Ctrl-Z under `docker run -it`), which nothing
    in a container could resume: its leases would run out and its jobs run again elsewhere.
    A SIGSTOP someone sent on purpose is left alone."""
    if number not in TERMINAL_STOPS:
        return
    say(
        f"jobctl: note: {signal.Signals(number).name} does not stop jobctl in a container (nothing"
        " could resume it): it goes on; stop it with Ctrl-C"
    )
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGCONT)


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

"""Idle cost: CPU time of an idle `jobctl run-worker` (and `jobctl up`, and a cron daemon
standing by beside it) over 20 seconds.

Each daemon starts on an empty database of its own and settles; then utime + stime from
/proc/PID/stat is read at the start and the end of the window (20 s, 5 s with --quick).
All of them idle at the same time, so the window is paid once. An idle Huey consumer
(2 threads, its default polling) is measured alongside as a peer. Target: <= 1% of one core.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from benchlib import (
    INFO,
    Row,
    Sandbox,
    cpu_seconds,
    parse_args,
    report,
    say,
    unavailable_row,
    verdict,
    wait_until,
    wake_socket_ready,
)
from peers import ensure_huey

TITLE = "Idle cost"
TARGET_SHARE = 0.01
SETTLE_SECONDS = 1.0


@dataclass
class Idler:
    """A daemon left idle: its process, and what it cost over the window."""

    label: str
    log_name: str
    is_peer: bool = False
    proc: subprocess.Popen[bytes] | None = None
    cpu_at_start: float = 0.0
    share: float | None = None
    failure: str = ""


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    window = 5.0 if args.quick else 20.0
    with Sandbox("idle", keep=args.keep) as sandbox:
        rows = measure(sandbox, window)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, window: float) -> list[Row]:
    idlers = start_idlers(sandbox)
    time.sleep(SETTLE_SECONDS)
    running = [i for i in idlers if still_running(i, sandbox)]
    for idler in running:
        assert idler.proc is not None
        idler.cpu_at_start = cpu_seconds(idler.proc.pid)
    started = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - started
    for idler in running:
        if still_running(idler, sandbox):
            assert idler.proc is not None
            idler.share = (cpu_seconds(idler.proc.pid) - idler.cpu_at_start) / elapsed
            say(f"   {idler.label}: {idler.share:.3%} of one core over {elapsed:.1f} s")
    return [row_for(idler, window) for idler in idlers]


def start_idlers(sandbox: Sandbox) -> list[Idler]:
    worker = Idler("`jobctl run-worker`", "worker.log")
    worker.proc = sandbox.start("run-worker", db=sandbox.root / "worker.db", log_name="worker.log")
    up = Idler("`jobctl up`", "up.log")
    up.proc = sandbox.start("up", db=sandbox.root / "up.db", log_name="up.log")
    # A second cron daemon on up's database stands by for its leader lock: idle as well.
    wait_until(lambda: "scheduler.leader" in sandbox.log_tail("up.log", lines=50), timeout=30)
    standby = Idler("`jobctl schedule-daemon`, standing by", "standby.log")
    standby.proc = sandbox.start(
        "schedule-daemon", db=sandbox.root / "up.db", log_name="standby.log"
    )
    huey = Idler("Huey consumer, 2 threads", "huey.log", is_peer=True)
    available = ensure_huey()
    if available.ok:
        assert available.path is not None
        argv = [sys.executable, available.path, "idle", "--db", str(sandbox.root / "huey.db")]
        huey.proc = sandbox.spawn(argv, log_name="huey.log")
    else:
        huey.failure = available.reason
    wait_until(lambda: wake_socket_ready(sandbox.root / "worker.db"), timeout=30)
    return [worker, up, standby, huey]


def still_running(idler: Idler, sandbox: Sandbox) -> bool:
    if idler.proc is None:
        return False
    code = idler.proc.poll()
    if code is None:
        return True
    if not idler.failure:
        tail = sandbox.log_tail(idler.log_name, lines=1)
        idler.failure = f"exited {code}" + (f": {tail}" if tail else "")
    return False


def row_for(idler: Idler, window: float) -> Row:
    figure = f"idle cost, {idler.label}, {window:g} s"
    target = f"<= {TARGET_SHARE:.0%} of a core"
    if idler.share is None:
        return unavailable_row(figure, idler.failure or "not measured", target)
    measured = f"{idler.share:.2%} of a core"
    if idler.is_peer:
        return Row(figure, measured, result=INFO, note="peer, no target")
    return Row(figure, measured, target=target, result=verdict(idler.share <= TARGET_SHARE))


if __name__ == "__main__":
    sys.exit(main())

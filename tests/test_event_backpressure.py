"""A reader of stderr that stalls (a full pipe) must not stop a worker: event lines that the
pipe cannot take wait in a bounded buffer, the rest are dropped and counted."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import time
from typing import Any

import pytest
from conftest import JOBCTL, Env

# The longest names a job type and a queue may have: each job's two lines, which name both,
# take some 430 bytes (more in json), so fewer jobs fill the pipe and the pending bytes.
NAME = "quick-" + "q" * 58
QUEUE = "queue-" + "u" * 58
QUICK = f'[jobs.{NAME}]\ncommand = ["true"]\nqueue = "{QUEUE}"\n'
# 340 KiB of lines, more than a 4 KiB pipe and 256 KiB pending (1,300 jobs of 195 bytes
# each, 250 KiB, were not)
JOBS = 800


def _counts(env: Env) -> dict[str, Any]:
    doc = json.loads(env.run("status", "--json", check=True).stdout)
    counts: dict[str, Any] = doc["queues"][0]["counts"]
    return {"workers": len(doc["workers"]), **counts}


def _read_until_closed(fd: int, timeout: float) -> bytes:
    """What the pipe holds and is still written to it, until its last writer closes it."""
    got = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            return bytes(got)
        got += chunk
    raise AssertionError(f"stderr still open after {timeout}s; read {len(got)} bytes")


def _event(line: str) -> tuple[str, dict[str, Any]]:
    """A text or JSON event line's event name and its dropped count and reason, if any."""
    if line.startswith("{"):
        record = json.loads(line)
        return record["event"], record
    words = line.split()
    level = words[1] if words[1] in ("WARNING", "ERROR") else "INFO"
    event = words[2] if level != "INFO" else words[1]
    found: dict[str, Any] = {"level": level.lower()}
    if event == "log.dropped":
        found["dropped"] = int(line.split("dropped=")[1].split()[0])
        found["reason"] = line.split("reason=")[1].strip('"')
    return event, found


@pytest.mark.parametrize(
    "command",
    [["run-worker", "--concurrency", "2"], ["--log-format", "json", "up", "--concurrency", "2"]],
    ids=["run-worker", "up-json"],
)
def test_a_worker_whose_stderr_is_not_read_runs_every_job_and_stops(
    env: Env, command: list[str]
) -> None:
    env.write_config(QUICK)
    batch = f'{{"job":"{NAME}"}}\n' * JOBS
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # the smallest pipe: fewer jobs fill it
    try:
        worker = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=write_end,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
        env.procs.append(worker)  # type: ignore[arg-type]
        os.close(write_end)
        write_end = -1

        # Nothing reads the pipe: every job still runs, at a worker's pace.
        env.wait_for(lambda: _counts(env)["succeeded"] == JOBS, timeout=60, interval=0.5)
        assert _counts(env)["dead"] == 0

        worker.send_signal(signal.SIGTERM)
        env.wait_for(lambda: _counts(env)["workers"] == 0, timeout=20)
        # Its lines pending at exit wait a few seconds for a reader, then give up.
        text = _read_until_closed(read_end, timeout=20).decode()
        assert worker.wait(timeout=10) == 0
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)

    events = [_event(line) for line in text.splitlines()]
    assert events[0][0] in ("worker.started", "scheduler.started", "scheduler.leader")
    dropped = [fields for event, fields in events if event == "log.dropped"]
    assert dropped, text[-2000:]
    assert all(f["level"] == "warning" and f["reason"] == "stderr was not read" for f in dropped)
    said = sum(fields["dropped"] for fields in dropped)
    kept = sum(1 for event, _ in events if event in ("job.started", "job.succeeded"))
    # Each line written whole or counted (a few of the worker's own among them), none lost unsaid.
    assert 2 * JOBS <= kept + said <= 2 * JOBS + 10
    assert events[-1][0] in ("worker.stopped", "scheduler.stopped", "log.dropped")

"""How an attempt's processes are stopped: the leftovers of a job that ended, wherever they
are in its session, and a job stopped (SIGSTOP) when its timeout or a cancel comes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env


def process_alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


# A process left behind in a group of its own, its output sent elsewhere: nothing of the job's
# holds it. The leader exits once the process has its group (coreutils `timeout` makes it before
# it starts the command; a shell with job control before the background job runs).
LEFT_IN_OWN_GROUP = {
    "timeout": (
        "sh",
        "timeout 300 sh -c 'echo $$ > grandchild.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &",
    ),
    "job control": (
        "bash",
        "set -m; sh -c 'echo $$ > grandchild.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &",
    ),
}
WAIT_FOR_PID = "while [ ! -s grandchild.pid ]; do sleep 0.01; done"


@pytest.mark.parametrize("lived", ["a moment", "over a second"])
@pytest.mark.parametrize("wrapper", sorted(LEFT_IN_OWN_GROUP))
def test_a_leftover_in_a_group_of_its_own_not_holding_output_is_stopped(
    env: Env, wrapper: str, lived: str
) -> None:
    """Only the leader's group was looked at when no process held the job's output: the
    job succeeded while its `timeout`-wrapped command ran on in the job's session."""
    shell, leave = LEFT_IN_OWN_GROUP[wrapper]
    script = f"{leave} {WAIT_FOR_PID}" + ("; sleep 1.2" if lived == "over a second" else "")
    command = json.dumps([shell, "-c", script])
    env.write_config(f'[jobs.leaves]\ncommand = {command}\nkill_grace = "300ms"\n')
    job_id = env.enqueue("leaves")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert env.show(job_id)["state"] == "succeeded"
    grandchild = read_pid(env.root / "grandchild.pid")
    assert grandchild is not None
    try:
        env.wait_for(lambda: not process_alive(grandchild), timeout=5)
    finally:
        if process_alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


STOPPABLE = (
    "trap 'echo graceful cleanup; exit 0' TERM; echo $$ > leader.pid; while :; do sleep 0.1; done"
)


@contextlib.contextmanager
def stopped_job(env: Env) -> Iterator[int]:
    """SIGSTOP the job's process group (as an operator's `kill -STOP` or a debugger does)
    once it has set its trap; its pid. A test that fails leaves no stopped job behind: it
    runs in a session of its own, out of reach of the sandbox's clean-up."""
    env.wait_for(lambda: read_pid(env.root / "leader.pid") is not None, timeout=20)
    leader = read_pid(env.root / "leader.pid")
    assert leader is not None
    os.killpg(leader, signal.SIGSTOP)
    try:
        yield leader
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader, signal.SIGKILL)
        raise


def test_a_stopped_job_that_is_cancelled_is_continued_and_cleans_up(env: Env) -> None:
    """It was sent SIGTERM alone, which a stopped process leaves pending: its trap never ran,
    and the cancel took the whole kill_grace, then SIGKILL."""
    env.write_config(
        f'[jobs.stoppable]\ncommand = ["sh", "-c", {json.dumps(STOPPABLE)}]\n'
        'kill_grace = "20s"\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("stoppable")
    worker = env.start("run-worker")
    with stopped_job(env) as leader:
        started = time.monotonic()
        env.run("cancel", str(job_id), check=True)
        env.run("wait", str(job_id), timeout=60)
        assert time.monotonic() - started < 10, "the cancel waited out kill_grace"
        assert not process_alive(leader)
    (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
    assert attempt["signal"] is None, attempt
    assert "graceful cleanup" in env.run("logs", str(job_id), check=True).stdout
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_a_stopped_job_that_times_out_is_continued_and_cleans_up(env: Env) -> None:
    env.write_config(
        f'[jobs.stoppable]\ncommand = ["sh", "-c", {json.dumps(STOPPABLE)}]\n'
        'timeout = "2s"\nkill_grace = "20s"\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("stoppable")
    worker = env.start("run-worker", "--burst")
    with stopped_job(env):
        assert worker.wait(timeout=60) == 0
    job = env.show(job_id)
    assert str(job["error"]).startswith("timeout after 2s"), job
    (attempt,) = job["attempts_history"]  # type: ignore[misc]
    assert attempt["signal"] is None, attempt
    assert attempt["duration_s"] < 10, "the timeout waited out kill_grace"
    assert "graceful cleanup" in env.run("logs", str(job_id), check=True).stdout

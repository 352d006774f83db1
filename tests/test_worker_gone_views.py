"""Every view of a running job says when its worker is gone, and `status` says when its
Running list is cut: the real CLI on a real SQLite file, the jobs claimed through the real
store (a thousand running jobs without a thousand processes) or by a real worker killed
with SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

from conftest import Env
from test_observe_support import opened

from jobctl.models import NewJob, WorkerInfo

ALIVE = "elsewhere:1:live"
GONE = "elsewhere:2:dead"


def _register(env: Env, worker: str, heartbeat_age: float) -> None:
    """A worker of another host whose last heartbeat was `heartbeat_age` seconds ago, its
    heartbeats an hour apart: alive while the test runs, or gone (after three hours)."""
    now = time.time()
    with opened(env) as store:
        store.register_worker(
            WorkerInfo(
                id=worker,
                host="elsewhere",
                pid=1,
                queues=("*",),
                concurrency=2000,
                started_at=now - heartbeat_age - 60,
                heartbeat_at=now - heartbeat_age,
                interval=3600.0,
            )
        )


def _claim(env: Env, worker: str, count: int) -> list[int]:
    """Claim `count` ready jobs (the oldest first) for `worker`, with an hour's lease."""
    with opened(env) as store:
        claims = store.claim(worker, None, time.time(), 3600.0, limit=count)
    assert len(claims) == count
    return [claim.job.id for claim in claims]


def _status(env: Env) -> tuple[dict[str, Any], list[str]]:
    """`status --json`'s document, and the lines of `status` piped."""
    document = json.loads(env.run("status", "--json", check=True).stdout)
    return document, env.run("status", check=True).stdout.splitlines()


def test_status_says_how_many_running_jobs_it_leaves_out_and_every_gone_worker_s_job(
    env: Env,
) -> None:
    """With 1,100 jobs running, `status` listed the 1,000 with the lowest ids and said
    nothing of the rest, in the table or in --json; and a job of a dead worker past them
    went unsaid in the worker-gone note."""
    env.write_config('[jobs.nap]\ncommand = ["sleep", "90"]\n')
    with opened(env) as store:
        store.enqueue([NewJob(job="nap", payload={}) for _ in range(1103)], time.time())
    _register(env, ALIVE, heartbeat_age=0)
    _register(env, GONE, heartbeat_age=86400)

    listed = _claim(env, ALIVE, 1000)
    document, lines = _status(env)
    assert len(document["running"]) == 1000 and document["running_left_out"] == 0
    assert not any("more running" in line for line in lines), lines[-5:]
    assert not any(line.startswith("(worker gone") for line in lines), lines[-5:]

    _claim(env, ALIVE, 100)
    gone = _claim(env, GONE, 3)
    document, lines = _status(env)
    assert [entry["id"] for entry in document["running"]] == listed
    assert document["running_left_out"] == 103
    (queue,) = document["queues"]
    assert queue["counts"]["running"] == 1103
    rows = [int(line.split()[0]) for line in lines if line[:1].isdigit()]
    assert rows == listed, rows[-3:]
    assert "... and 103 more running (jobctl list --state running --limit 0)" in lines
    (note,) = [line for line in lines if line.startswith("(worker gone")]
    for job_id in gone:
        assert re.search(rf"job {job_id} runs again when its lease ends at ", note), note


def test_show_and_logs_say_a_running_job_s_worker_is_gone_as_status_does(env: Env) -> None:
    """After a kill -9 of its worker, `status` said `worker gone` and when the job runs
    again, while `show ID` said only `state running`, naming the dead worker as if alive,
    and `logs` with no id said the job had "started 2s ago" as of one still running."""
    (env.root / "hold.sh").write_text("until [ -e go ]; do sleep 0.02; done\n")
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    worker = env.start("run-worker", "--worker-name", "doomed")
    job = env.enqueue("--exec", "--max-attempts", "3", "--", "sh", "hold.sh")
    env.wait_for(lambda: env.show(job)["state"] == "running", timeout=20)
    try:
        state = next(
            x
            for x in env.run("show", str(job), check=True).stdout.splitlines()
            if x.startswith("state")
        )
        assert state.split() == ["state", "running"], state
        picked = env.run("logs")
        assert f"jobctl: job {job} (sh hold.sh), started " in picked.stderr, picked.stderr
        assert "gone" not in picked.stderr, picked.stderr

        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)
        fate = (
            rf"\(worker gone: job {job} runs again when its lease ends at [0-9:]+"
            r" \(in [^)]+\), as attempt 2/3\)"
        )
        status = env.run("status", check=True).stdout
        assert re.search(rf"^{fate}$", status, re.MULTILINE), status
        shown = env.run("show", str(job), check=True).stdout.splitlines()
        state = next(x for x in shown if x.startswith("state"))
        assert re.fullmatch(rf"state +running {fate}", state), state
        assert any(x.split() == ["worker", "doomed"] for x in shown), shown
        picked = env.run("logs")
        assert re.search(
            rf"^jobctl: job {job} \(sh hold.sh\), started .* ago {fate}$",
            picked.stderr,
            re.MULTILINE,
        ), picked.stderr
        # --json stays as it was: `status --json` has worker_gone.
        assert json.loads(env.run("show", str(job), "--json", check=True).stdout)["state"] == (
            "running"
        )
    finally:
        (env.root / "go").touch()  # the job's loop ends: its worker is gone


def test_list_says_in_when_that_a_running_job_s_worker_is_gone(env: Env) -> None:
    """`list` showed a gone worker's job as plainly running, `started 2s ago`, where status
    and show say that nothing runs it any more: its WHEN says so, its STATE stays running
    (the state `--state running` selects it by)."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    for _ in range(2):
        env.enqueue("ok")
    _register(env, ALIVE, heartbeat_age=0.0)
    _register(env, GONE, heartbeat_age=3 * 3600.0)
    (kept,) = _claim(env, ALIVE, 1)
    (lost,) = _claim(env, GONE, 1)
    rows = {
        int(line.split()[0]): line
        for line in env.run("list", "--state", "running", check=True).stdout.splitlines()[1:]
    }
    assert set(rows) == {kept, lost}
    assert ", worker gone" in rows[lost] and "worker gone" not in rows[kept]
    assert rows[lost].split()[3] == "running"

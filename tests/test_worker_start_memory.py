"""A worker's memory at start does not grow with the jobs waiting in its database.

Its start counts the waiting jobs per queue and job type (to warn of types the config lacks):
a count that sorted every waiting job's row in memory kept the worker's peak, and its RSS,
some 24 MB higher on 500,000 queued jobs than on one.
"""

from __future__ import annotations

import json

from conftest import Env

JOBS = 150_000
# The sort took ~9.5 MB at 200,000 jobs, ~4.9 MB at 100,000. The count reads the rows it
# counts through SQLite's page cache, which fills to its default 2,000 KiB on any database
# bigger than that and stays there: 2,076-2,104 KiB measured at 100,000 jobs.
ALLOWED_GROWTH_KIB = 4 * 1024


def _peak_after_start(env: Env, jobs: int) -> int:
    """VmHWM (KiB) of a worker serving no queue with jobs, once it has warned of the waiting
    jobs of a type its config lacks: the warning follows the count."""
    env.write_config('[jobs.gone]\ncommand = ["true"]\n')
    lines = (json.dumps({"job": "gone"}) + "\n") * jobs
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    env.write_config('[jobs.other]\ncommand = ["true"]\n')
    worker = env.start("run-worker", "-q", "nothing")
    assert worker.stderr is not None
    for line in worker.stderr:
        if "worker.unknown_jobs" in line:
            assert f"jobs=gone:{jobs}" in line
            break
    else:
        raise AssertionError(f"the worker exited {worker.wait()} without the warning")
    with open(f"/proc/{worker.pid}/status") as status:
        (peak,) = [int(x.split()[1]) for x in status if x.startswith("VmHWM:")]
    worker.terminate()
    worker.communicate(timeout=30)
    return peak


def test_worker_start_peak_does_not_grow_with_waiting_jobs(env: Env) -> None:
    small = _peak_after_start(env, 1)
    env.db = env.root / "big.db"
    big = _peak_after_start(env, JOBS)
    assert big - small < ALLOWED_GROWTH_KIB, (small, big)

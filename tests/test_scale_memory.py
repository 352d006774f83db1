"""Commands over a large database hold what they need, not every job or id it has: `dead
list --limit 0 --json` writes its array as it reads the dead jobs, `wait --all` holds each
active job's id in 8 bytes, and a worker claims its first job before it counts the jobs of
types its config lacks.

The memory bounds are loose, and far from the figures before: 1.1 GB for `dead list` of
200,000 dead jobs, some 240 bytes an id for `wait` (48 MB over 200,000 jobs).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from conftest import JOBCTL, Env
from test_store_contract import LEASE, T0, failed, job, make_store  # noqa: F401 (a fixture)

from jobctl.models import State
from jobctl.store import Finish, Store

CONFIG = '[jobs.ok]\ncommand = ["true"]\n'

# Run a command and print its peak RSS (KiB): the children of pytest itself include every
# `enqueue --batch` run before.
PEAK = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _batch(env: Env, lines: int, **fields: object) -> None:
    text = "".join(
        json.dumps({"job": "ok", **fields, "payload": {"n": n}}) + "\n" for n in range(lines)
    )
    env.run("enqueue", "--batch", "-", input=text, check=True, timeout=300)


def _peak_kib(env: Env, *args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *JOBCTL, *env.global_args(True, args), *args],
        capture_output=True, text=True, env=env.env, cwd=env.root, timeout=300, check=True,
    )  # fmt: skip
    return int(done.stdout)


def test_dead_list_of_every_dead_job_as_json_streams_them(env: Env) -> None:
    """5,000 jobs dead at one instant (those waiting --after a job that was cancelled): the
    listing pages through them by death and id, the same array as before, byte for byte (and
    as `list --state dead` writes it: at one instant, dead list orders them by id too)."""
    env.write_config(CONFIG)
    first = env.enqueue("ok", "--delay", "1h")
    env.run("cancel", str(first), check=True)
    _batch(env, 5_000, after=first)
    dead = env.run("dead", "list", "--limit", "0", "--json", check=True, timeout=300).stdout
    listed = env.run("list", "-s", "dead", "--limit", "0", "--json", check=True, timeout=300)
    assert dead == listed.stdout
    ids = [job["id"] for job in json.loads(dead)]
    assert ids == list(range(first + 5_000, first, -1))
    # Held whole, they took some 5.5 KB each (27 MB over a one-job list's 22 MB); streamed,
    # what a one-job list takes.
    assert _peak_kib(env, "dead", "list", "--limit", "0", "--json") < 35 * 1024


def test_dead_list_pages_keep_the_order_of_deaths(env: Env) -> None:
    """Jobs that died at many instants, several pages of them, some at one instant across a
    page's end: the streamed array is the one a listing read whole gives."""
    env.write_config('[jobs.ok]\ncommand = ["false"]\nmax_attempts = 1\n')
    for _ in range(3):
        first = env.enqueue("ok", "--delay", "1h")
        env.run("cancel", str(first), check=True)
        _batch(env, 700, after=first)
    _batch(env, 150)
    env.run("run-worker", "--burst", "--concurrency", "4", check=True, timeout=300)
    whole = env.run("dead", "list", "--limit", "5000", "--json", check=True).stdout
    streamed = env.run("dead", "list", "--limit", "0", "--json", check=True).stdout
    assert streamed == whole
    assert len(json.loads(whole)) == 3 * 700 + 150
    since = env.run("dead", "list", "--limit", "0", "--json", "--since", "1h", check=True)
    assert since.stdout == whole


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:  # noqa: F811 (make_store: a fixture)
    return make_store()


def test_finished_jobs_beyond_a_job_is_the_next_page(store: Store) -> None:
    """Pages of the dead-letter list, by death then id, on both stores: deaths at one instant
    split across pages come once each, in order."""
    ids = [r.id for r in store.enqueue([job(max_attempts=1) for _ in range(7)], T0)]
    claims = store.claim("w", None, T0, LEASE, limit=7)
    ends = [T0 + 5, T0 + 3, T0 + 5, T0 + 1, T0 + 5, T0 + 9, T0 + 3]
    for claim, at in zip(claims, ends, strict=True):
        store.finish([Finish(claim, failed())], at)
    whole = [j.id for j in store.finished_jobs([State.DEAD])]
    assert whole == [ids[5], ids[4], ids[2], ids[0], ids[6], ids[1], ids[3]]
    pages: list[int] = []
    beyond = None
    while True:
        page = store.finished_jobs([State.DEAD], limit=2, beyond=beyond)
        pages += [j.id for j in page]
        if len(page) < 2:
            break
        beyond = (page[-1].finished_at or 0.0, page[-1].id)
    assert pages == whole
    at_five = store.finished_jobs([State.DEAD], beyond=(T0 + 5, ids[4]), finished_after=T0 + 2)
    assert [j.id for j in at_five] == [ids[2], ids[0], ids[6], ids[1]]


def _wait_peak_kib(env: Env) -> int:
    """VmHWM of `wait --all` once it has listed the active jobs (its note about no worker
    follows the listing), then interrupted."""
    waiting = env.start("wait", "--all")
    assert waiting.stderr is not None
    assert "no live worker serves queue" in waiting.stderr.readline()
    with open(f"/proc/{waiting.pid}/status") as status:
        (peak,) = [int(x.split()[1]) for x in status if x.startswith("VmHWM:")]
    waiting.send_signal(signal.SIGINT)
    assert waiting.wait(timeout=60) == 130
    return peak


def test_wait_all_holds_each_active_id_in_a_few_bytes(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    small = _wait_peak_kib(env)
    env.db = env.root / "big.db"
    _batch(env, 50_000)
    big = _wait_peak_kib(env)
    # 8 bytes an id: 0.4 MB, and a batch's jobs: 3 MB in all (240 bytes an id took 12 MB more)
    assert big - small < 6 * 1024, (small, big)


def test_a_worker_starts_its_first_job_before_it_counts_jobs_of_unknown_types(env: Env) -> None:
    """The count reads every waiting job (0.8 s on 850,000): the first job does not wait for
    it, and the warning still comes."""
    env.write_config('[jobs.old]\ncommand = ["true"]\n' + CONFIG)
    env.enqueue("old", "--delay", "1h")
    env.write_config(CONFIG)
    job_id = env.enqueue("ok")
    lines = env.run("run-worker", "--burst", check=True).stderr.splitlines()
    started = [n for n, line in enumerate(lines) if "job.started" in line]
    warned = [n for n, line in enumerate(lines) if "worker.unknown_jobs" in line]
    assert len(warned) == 1 and "jobs=old:1" in lines[warned[0]], lines
    assert started and started[0] < warned[0], lines
    assert env.show(job_id)["state"] == "succeeded"

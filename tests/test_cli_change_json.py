"""`--json` of the commands that change jobs or queues (cancel, retry, pause, resume, prune,
dead retry, dead purge): one JSON document on stdout in every outcome once the command has
acted, jobs under the keys `show --json` gives them, exit codes as without it. Each runs the
real CLI against a real SQLite file."""

from __future__ import annotations

import json
from typing import Any

from conftest import Env
from test_ops_support import burst, job, start_worker, wait_state

# A job's keys, as `show --json` and `list --json` give them (test_ops_json pins them).
JOB = {
    "after",
    "id", "job", "queue", "state", "priority", "attempts", "max_attempts", "payload", "key",
    "command", "cwd", "run_at", "created_at", "started_at", "finished_at", "exit_code", "error",
    "worker", "schedule", "fire_time",
}  # fmt: skip


def _as_shown(env: Env, job_id: int) -> dict[str, Any]:
    """The job as `show --json` gives it, without its attempts."""
    shown = env.show(job_id)
    del shown["attempts_history"]
    return shown


def test_cancel_json_names_each_id_cancelled_or_not_and_why(env: Env) -> None:
    gate = env.root / "gate"
    env.write_config(
        '[jobs.hi]\ncommand = ["true"]\n'
        f'[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'
        'queue = "slow"\n'
    )
    done = env.enqueue("hi")
    burst(env)
    queued = env.enqueue("hi")
    later = env.enqueue("hi", "--delay", "1h")
    start_worker(env, "-q", "slow")  # leaves `queued` waiting
    running = env.enqueue("slow")
    wait_state(env, running, "running")

    asked = [queued, later, running, done, 999, queued]  # the second `queued` is said once
    result = env.run("cancel", *map(str, asked), "--json")
    assert result.returncode == 1  # as without --json
    assert result.stderr.splitlines() == [
        f"jobctl: job {done} already ended succeeded; not cancelled",
        "jobctl: job 999 does not exist; not cancelled",
        "jobctl: 2 job(s) not cancelled",
    ]
    outcomes = json.loads(result.stdout)
    assert [o["id"] for o in outcomes] == [queued, later, running, done, 999]
    for outcome in outcomes[:4]:
        assert set(outcome) == JOB | {"cancelled", "was", "reason"}
    assert [(o["cancelled"], o["was"], o["reason"]) for o in outcomes] == [
        (True, "queued", None),
        (True, "scheduled", None),
        (True, "running", None),
        (False, "succeeded", "already ended succeeded"),
        (False, None, "does not exist"),
    ]
    assert outcomes[4] == {
        "id": 999,
        "state": None,
        "cancelled": False,
        "was": None,
        "reason": "does not exist",
    }
    assert [o["state"] for o in outcomes[:4]] == ["cancelled"] * 3 + ["succeeded"]
    # The job as it is after the call, with every value as `show --json` has it.
    wait_state(env, running, "cancelled")
    settled = {k: v for k, v in outcomes[3].items() if k in JOB}
    assert settled == _as_shown(env, done)
    queued_now = {k: v for k, v in outcomes[0].items() if k in JOB}
    assert queued_now == _as_shown(env, queued)

    # One id, refused: the document still says it, and the exit is still 1.
    alone = env.run("cancel", "999", "--json")
    assert (alone.returncode, alone.stderr) == (
        1,
        "jobctl: job 999 does not exist; not cancelled\n",
    )
    assert [o["reason"] for o in json.loads(alone.stdout)] == ["does not exist"]


def test_retry_json_answers_as_enqueue_json_does(env: Env) -> None:
    env.write_config('[jobs.sync]\ncommand = ["true"]\n')
    first = env.enqueue("sync", "--key", "k1")
    burst(env)
    again = env.run("retry", str(first), "--json", check=True)
    stored = json.loads(again.stdout)
    assert set(stored) == JOB | {"created"}
    assert stored["created"] is True and stored["id"] != first
    assert {k: v for k, v in stored.items() if k != "created"} == _as_shown(env, stored["id"])

    # Its key is held by the job just stored: that job is the answer, exit 0.
    held = env.run("retry", str(first), "--json")
    assert held.returncode == 0
    holder = json.loads(held.stdout)
    assert (holder["id"], holder["state"], holder["created"]) == (stored["id"], "queued", False)

    # An error before anything is stored: nothing on stdout, as from `show --json`.
    for refused in (env.run("retry", "999", "--json"), env.run("show", "999", "--json")):
        assert (refused.returncode, refused.stdout, refused.stderr) == (
            1,
            "",
            "jobctl: no job 999\n",
        )


def test_dead_retry_json_names_each_job_retried_or_left_dead(env: Env) -> None:
    env.write_config(
        '[jobs.a]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.b]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    gone, dead, other = env.enqueue("a"), env.enqueue("b"), env.enqueue("b")
    fine = env.enqueue("ok")
    burst(env)
    env.write_config(
        '[jobs.b]\ncommand = ["false"]\nmax_attempts = 1\n[jobs.ok]\ncommand = ["true"]\n'
    )

    result = env.run("dead", "retry", str(dead), str(fine), str(gone), "999", "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "jobctl: 3 job(s) not retried"
    outcomes = json.loads(result.stdout)
    assert [o["id"] for o in outcomes] == [dead, fine, gone, 999]
    assert [set(o) for o in outcomes[:3]] == [JOB | {"retried", "reason"}] * 3
    assert [(o["state"], o["retried"], o["reason"]) for o in outcomes] == [
        ("queued", True, None),
        ("succeeded", False, "is succeeded, not dead"),
        (
            "dead",
            False,
            f"cannot run again (unknown job 'a' in {env.config}; defined jobs: b, ok)",
        ),
        (None, False, "does not exist"),
    ]
    assert outcomes[0]["attempts"] == 0
    assert {k: v for k, v in outcomes[0].items() if k in JOB} == _as_shown(env, dead)

    # --all: each dead job it looked at, by id; exit 1 while one is left dead.
    every = env.run("dead", "retry", "--all", "--json")
    assert every.returncode == 1
    assert [(o["id"], o["state"], o["retried"]) for o in json.loads(every.stdout)] == [
        (gone, "dead", False),
        (other, "queued", True),
    ]
    # Nothing to do: an empty array, exit 0.
    none = env.run("dead", "retry", "--all", "--job", "b", "--json")
    assert (none.returncode, json.loads(none.stdout)) == (0, [])


def test_dead_purge_json_gives_the_ids_deleted_and_why_others_were_not(env: Env) -> None:
    env.write_config('[jobs.bad]\ncommand = ["sh", "-c", "echo out; exit 3"]\nmax_attempts = 1\n')
    first, second, third = (env.enqueue("bad") for _ in range(3))
    burst(env)
    alive = env.enqueue("bad", "--delay", "1h")

    result = env.run("dead", "purge", str(second), str(alive), "999", str(first), "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"jobctl: job {alive} is scheduled, not dead; not purged",
        "jobctl: job 999 does not exist; not purged",
        "jobctl: 2 job(s) not purged",
    ]
    purged = json.loads(result.stdout)
    assert set(purged) == {"purged", "logs_removed", "not_purged"}
    assert (purged["purged"], purged["logs_removed"]) == ([first, second], 2)
    kept = purged["not_purged"]
    assert [(o["id"], o["state"], o["purged"], o["reason"]) for o in kept] == [
        (alive, "scheduled", False, "is scheduled, not dead"),
        (999, None, False, "does not exist"),
    ]
    assert set(kept[0]) == JOB | {"purged", "reason"}
    assert job(env, first) is None and job(env, third) is not None

    every = env.run("dead", "purge", "--all", "--json")
    assert every.returncode == 0
    assert json.loads(every.stdout) == {"purged": [third], "logs_removed": 1, "not_purged": []}
    nothing = env.run("dead", "purge", "--all", "--json", check=True)
    assert json.loads(nothing.stdout) == {"purged": [], "logs_removed": 0, "not_purged": []}


def test_pause_resume_and_prune_json(env: Env) -> None:
    env.write_config(
        '[jobs.ok]\ncommand = ["echo", "hi"]\n[jobs.mail]\ncommand = ["true"]\nqueue = "mail"\n'
    )
    done = [env.enqueue("ok"), env.enqueue("ok")]
    burst(env)
    paused = env.run("pause", "mail", "default", "--json", check=True)
    assert json.loads(paused.stdout) == [
        {"queue": "mail", "paused": True, "running": 0, "changed": True},
        {"queue": "default", "paused": True, "running": 0, "changed": True},
    ]
    status = json.loads(env.run("status", "--json", check=True).stdout)
    queues = {q["queue"]: q["paused"] for q in status["queues"]}
    assert queues == {"default": True, "mail": True}
    resumed = env.run("resume", "--all", "--json", check=True)
    assert json.loads(resumed.stdout) == [
        {"queue": "default", "paused": False, "running": 0, "changed": True},
        {"queue": "mail", "paused": False, "running": 0, "changed": True},
    ]

    kept = env.run("prune", "--older-than", "1h", "--json", check=True)
    assert json.loads(kept.stdout) == {"pruned": [], "logs_removed": 0, "not_pruned": []}
    pruned = env.run("prune", "--older-than", "0s", "--json", check=True)
    assert json.loads(pruned.stdout) == {"pruned": done, "logs_removed": 2, "not_pruned": []}


def test_a_change_refused_before_it_starts_prints_nothing_on_stdout(env: Env) -> None:
    """As `show --json` and `wait --json` do: a usage error (2) or a database that cannot be
    used (3) leaves stdout empty, the one error line on stderr."""
    missing = env.run("cancel", "1", "--json")
    assert (missing.returncode, missing.stdout) == (3, "")
    assert missing.stderr.startswith("jobctl: ") and len(missing.stderr.splitlines()) == 1
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    for args in (
        ["dead", "retry", "--json"],
        ["dead", "purge", "1", "--all", "--json"],
        ["pause", "nowhere", "--json"],
        ["prune", "--older-than", "soon", "--json"],
    ):
        result = env.run(*args)
        assert (result.returncode, result.stdout) == (2, ""), args
        assert len(result.stderr.splitlines()) == 1, args

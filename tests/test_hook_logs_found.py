"""Hook logs are found beside their attempt's recorded log, wherever the reader's config (or
none, with --db alone) puts logs: show, logs --hook, dead purge and prune see them; and
logs --hook names runs as show does. Real workers, real hooks, real files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conftest import Env
from test_ops_support import burst

ALERTING = (
    '[settings]\nlog_dir = "logs"\non_dead = "echo alert-text"\n'
    '[jobs.f]\ncommand = ["sh", "-c", "echo out; false"]\nmax_attempts = 1\n'
)


def _elsewhere(env: Env) -> Path:
    """A folder with no config in it: a cron or CI script that only has --db."""
    folder = env.root / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def test_show_and_logs_hook_with_db_alone_find_the_hook_log_beside_the_attempts(
    env: Env,
) -> None:
    env.write_config(ALERTING)
    job_id = env.enqueue("f")
    burst(env)
    hook_log = env.root / "logs" / "hooks" / f"{job_id}.1.dead.log"
    assert hook_log.read_text() == "alert-text\n"
    where = _elsewhere(env)

    shown = env.run("show", str(job_id), config=False, cwd=where, check=True).stdout
    assert shown.endswith(f"  run 1  on_dead     {hook_log}  (11 bytes)\n")
    document = json.loads(
        env.run("show", str(job_id), "--json", config=False, cwd=where, check=True).stdout
    )
    assert document["attempts_history"][0]["hooks"] == [
        {"kind": "dead", "log_path": str(hook_log), "size": 11}
    ]
    printed = env.run("logs", str(job_id), "--hook", "dead", config=False, cwd=where)
    assert (printed.returncode, printed.stdout, printed.stderr) == (0, "alert-text\n", "")


def test_dead_purge_and_prune_with_db_alone_remove_the_hook_logs(env: Env) -> None:
    env.write_config(ALERTING)
    purged, pruned = env.enqueue("f"), env.enqueue("f")
    burst(env)
    hooks = env.root / "logs" / "hooks"
    assert sorted(p.name for p in hooks.iterdir()) == [
        f"{purged}.1.dead.log",
        f"{pruned}.1.dead.log",
    ]
    where = _elsewhere(env)

    env.run("dead", "purge", str(purged), "--yes", config=False, cwd=where, check=True)
    assert sorted(p.name for p in hooks.iterdir()) == [f"{pruned}.1.dead.log"]
    env.run("prune", "--older-than", "0s", "--yes", config=False, cwd=where, check=True)
    assert list(hooks.iterdir()) == []
    assert not (env.root / "logs" / f"{pruned // 1000:05d}" / f"{pruned}.1.log").exists()


def test_logs_hook_of_a_silent_attempt_does_not_say_no_hook_ran(env: Env) -> None:
    # It wrote nothing, so no log of its own says where its worker kept logs: the folder
    # looked in is only a guess, and a hook may have written elsewhere.
    env.write_config(ALERTING.replace('"echo out; false"', '"false"'))
    job_id = env.enqueue("f")
    burst(env)
    assert (env.root / "logs" / "hooks" / f"{job_id}.1.dead.log").exists()
    guessed = env.root / "q.db.logs" / "hooks" / f"{job_id}.1.dead.log"
    result = env.run("logs", str(job_id), "--hook", "dead", config=False, cwd=_elsewhere(env))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"jobctl: found no on_dead hook log of job {job_id} run 1 ({guessed}); it wrote nothing,"
        " so it recorded no log to say which folder its worker kept logs in: a hook may have"
        " run and written to another (that worker's log_dir)\n"
    )


def test_logs_hook_names_the_run_and_the_earlier_runs_that_have_one(env: Env) -> None:
    ok = env.root / "ok"
    env.write_config(
        '[settings]\non_dead = "echo gave up"\n'
        f'[jobs.f]\ncommand = ["sh", "-c", "echo try; test -e {ok}"]\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("f")
    burst(env)
    for _ in range(2):
        env.run("dead", "retry", str(job_id), check=True)
        if _ == 1:
            ok.touch()
        burst(env)
    assert env.show(job_id)["state"] == "succeeded"
    hooks = env.root / "q.db.logs" / "hooks"

    last = env.run("logs", str(job_id), "--hook", "dead")
    assert (last.returncode, last.stdout) == (1, "")
    assert last.stderr == (
        f"jobctl: job {job_id} run 3 has no on_dead hook log ({hooks / f'{job_id}.3.dead.log'}):"
        " no on_dead hook ran for it, or it wrote nothing; runs 1 and 2 have one (--run N)\n"
    )
    assert env.run("logs", str(job_id), "--hook", "dead", "--run", "2").stdout == "gave up\n"
    (hooks / f"{job_id}.1.dead.log").unlink()
    assert env.run("logs", str(job_id), "--hook", "dead").stderr.endswith(
        "; run 2 has one (--run 2)\n"
    )
    # Asked for by --run, it is that run's alone.
    chosen = env.run("logs", str(job_id), "--hook", "dead", "--run", "1").stderr
    assert chosen.endswith("it wrote nothing\n")
    assert f"job {job_id} run 1 has no on_dead hook log" in chosen


def test_a_backup_put_back_shows_no_hook_log_of_the_timeline_it_undid(env: Env) -> None:
    """Hook logs are found by id and run: after a restore, the new job 2 (which succeeded)
    was shown with the on_failure and on_dead logs of the job 2 the restore threw away."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n'
        '[jobs.fail]\ncommand = ["sh", "-c", "exit 3"]\nmax_attempts = 1\n'
        'on_failure = "echo failure-hook $JOBCTL_JOB_ID"\n'
        'on_dead = "echo dead-hook $JOBCTL_JOB_ID"\n'
    )
    env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)
    saved = env.root / "saved.db"
    env.run("backup", str(saved), check=True)
    undone = env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", str(undone), "--hook", "dead").stdout == f"dead-hook {undone}\n"
    for hook_log in env.root.rglob(f"hooks/{undone}.1.*.log"):  # written a minute before
        os.utime(hook_log, (time.time() - 60, time.time() - 60))
    for leftover in (env.db, Path(f"{env.db}-wal"), Path(f"{env.db}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(saved, env.db)
    again = env.enqueue("ok")
    assert again == undone
    env.run("run-worker", "--burst", check=True)
    shown = env.run("show", str(again), "--json", check=True)
    assert json.loads(shown.stdout)["attempts_history"][0]["hooks"] == []
    assert env.run("logs", str(again), "--hook", "dead").returncode == 1

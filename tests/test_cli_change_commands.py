"""The commands that change jobs or queues answer alike: a database that does not exist is
exit 3 for all of them, `--all` is `-a` wherever it is taken, each says which jobs it changed
and why it left one alone in the same words, the two that delete history ask first on a
terminal, and their help examples run as pasted against jobs.toml.example.

Every test drives the real CLI on a real database.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import Env
from test_ops_dead import _on_a_terminal
from test_ops_support import burst, job

FAILING = '[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'


def _dead(env: Env, count: int) -> list[int]:
    """`count` dead jobs of type `bad`, by id."""
    lines = '{"job": "bad"}\n' * count
    stored = env.run("enqueue", "--batch", "-", input=lines, check=True)
    ids = [int(i) for i in stored.stdout.split()]
    burst(env, "--concurrency", "4")
    return ids


def test_pause_and_resume_refuse_a_database_that_does_not_exist(env: Env) -> None:
    """A --db typo made a new database for `pause` (exit 0), and `resume` printed that it
    resumed a queue it had not: both exit 3 now, with cancel's line, and make nothing."""
    env.write_config(FAILING)
    cancelled = env.run("cancel", "1")
    assert cancelled.returncode == 3
    for args in (["pause", "default"], ["resume", "default"], ["resume", "--all", "--json"]):
        result = env.run(*args)
        assert (result.returncode, result.stdout, result.stderr) == (3, "", cancelled.stderr)
        assert list(env.db.parent.glob(env.db.name + "*")) == [], args
    # A name nobody knows is still said as such first: a usage error.
    assert env.run("pause", "nosuch").returncode == 2


def test_schedule_pause_and_resume_refuse_a_missing_database_and_schedule_run_says_it_made_one(
    env: Env,
) -> None:
    """A --db typo made a new database for `schedule pause` (exit 0) while the cron daemon
    kept firing the schedule: pause and resume refuse it as `pause QUEUE` does (exit 3,
    nothing made); `schedule run`, which enqueues, makes it, with enqueue's note."""
    env.write_config(FAILING + '[schedules.tick]\njob = "bad"\ncron = "*/5 * * * *"\n')
    queue_pause = env.run("pause", "default")
    assert queue_pause.returncode == 3
    for command in ("pause", "resume"):
        result = env.run("schedule", command, "tick")
        assert (result.returncode, result.stdout, result.stderr) == (3, "", queue_pause.stderr)
        assert list(env.db.parent.glob(env.db.name + "*")) == [], command
    ran = env.run("schedule", "run", "tick", check=True)
    assert ran.stdout == "1\n"
    assert ran.stderr == (
        f"jobctl: note: {env.db} is a new database, which no worker serves yet (a worker takes"
        " jobs from the database its --db, $JOBCTL_DB or jobs.toml names)\n"
    )
    again = env.run("schedule", "run", "tick", check=True)  # an active run: skipped, no note
    assert "new database" not in again.stderr


def test_resume_says_a_queue_that_was_not_paused_on_stderr_alone(env: Env) -> None:
    env.write_config(FAILING + 'queue = "slow"\n')
    burst(env)  # a worker makes the database
    alone = env.run("resume", "slow", check=True)
    assert (alone.stdout, alone.stderr) == (
        "",
        "jobctl: note: queue slow was not paused; nothing to resume\n",
    )
    env.run("pause", "slow", check=True)
    both = env.run("resume", "default", "slow", check=True)
    assert (both.stdout, both.stderr) == (
        "resumed queue slow\n",
        "jobctl: note: queue default was not paused; nothing to resume\n",
    )
    every = env.run("resume", "-a", check=True)
    assert (every.stdout, every.stderr) == (
        "",
        "jobctl: note: no queue was paused; nothing to resume\n",
    )


def test_dead_retry_and_purge_take_a_for_all_and_name_the_jobs_they_changed(env: Env) -> None:
    """`-a` is `--all` there as in `wait`, `pause` and `resume`; the line names the jobs, as
    `cancel` and `edit` do, the first 20 and then how many more."""
    env.write_config(FAILING)
    ids = _dead(env, 22)
    named = ", ".join(map(str, ids[:20]))
    retried = env.run("dead", "retry", "-a", check=True)
    assert retried.stdout == f"retried 22 dead job(s): {named} and 2 more\n"
    burst(env, "--concurrency", "4")
    purged = env.run("dead", "purge", "-a", "-y", check=True)
    assert purged.stdout.startswith(f"purged 22 dead job(s): {named} and 2 more; removed ")
    assert all(job(env, i) is None for i in ids)
    fewer = _dead(env, 2)
    one = env.run("dead", "retry", str(fewer[1]), check=True)
    assert one.stdout == f"retried 1 dead job(s): {fewer[1]}\n"
    nothing = env.run("dead", "retry", "--all", "--job", "bad", check=True)
    assert nothing.stdout == f"retried 1 dead job(s): {fewer[0]}\n"
    assert env.run("dead", "purge", "-a", "-y", check=True).stdout.startswith(
        "purged 0 dead job(s); removed 0 log file(s)"
    )


def test_prune_asks_on_a_terminal_unless_yes(env: Env) -> None:
    """`prune` deleted at once where `dead purge` asks, and refused the `--yes` a script
    gives every deleting call."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    ids = [env.enqueue("ok"), env.enqueue("ok")]
    burst(env)
    declined = _on_a_terminal(env, b"n\n", "prune", "--older-than", "0s")
    assert (declined.returncode, declined.stdout) == (1, "")
    assert declined.stderr == (
        "Delete 2 finished job(s) and their logs? [y/N] jobctl: nothing deleted\n"
    )
    assert all(job(env, i) is not None for i in ids)
    accepted = _on_a_terminal(env, b"y\n", "prune", "--older-than", "0s")
    assert accepted.returncode == 0 and accepted.stdout.startswith("pruned 2 job(s)")
    assert all(job(env, i) is None for i in ids)

    more = env.enqueue("ok")
    burst(env)
    forced = _on_a_terminal(env, b"", "prune", "--older-than", "0s", "-y")
    assert (forced.returncode, forced.stderr) == (0, "")
    assert forced.stdout.startswith("pruned 1 job(s)") and job(env, more) is None
    # Nothing to delete: nothing asked.
    empty = _on_a_terminal(env, b"", "prune", "--older-than", "0s")
    assert (empty.returncode, empty.stderr) == (0, "")
    # Not a terminal: no question, as for `dead purge`.
    last = env.enqueue("ok")
    burst(env)
    piped = env.run("prune", "--older-than", "0s", "--yes", input="", check=True)
    assert piped.stderr == "" and job(env, last) is None
    assert env.run("prune", "--older-than", "0s", input="n\n", check=True).stderr == ""


def test_cancel_and_edit_say_a_missing_job_as_the_dead_commands_do(env: Env) -> None:
    """The README gives an outcome's `reason` in the words of its line on stderr: `cancel`
    and `edit` said `no job 999` where their reason is `does not exist`."""
    env.write_config(FAILING)
    env.enqueue("bad", "--delay", "1h")
    for args, verb in (
        (["cancel", "999"], "cancelled"),
        (["edit", "999", "--priority", "1"], "edited"),
        (["dead", "retry", "999"], "retried"),
        (["dead", "purge", "999", "--yes"], "purged"),
    ):
        result = env.run(*args)
        assert (result.returncode, result.stderr) == (
            1,
            f"jobctl: job 999 does not exist; not {verb}\n",
        ), args


def _examples(env: Env, *command: str) -> list[list[str]]:
    """The jobctl lines a command's --help gives as examples, each as its words."""
    text = env.run(*command, "--help", check=True).stdout
    epilog = " ".join(re.split(r"Examples?:", text, maxsplit=1)[1].split())
    found = re.findall(r"jobctl ([^|()]+)", epilog)
    assert found, command
    return [shlex.split(line) for line in found]


def test_help_examples_run_as_pasted_against_the_example_config(env: Env) -> None:
    """`pause reports` and `resume reports` were refused (no queue of that name in
    jobs.toml.example), and `run-worker -q mail` warned of a queue named nowhere."""
    example = Path(__file__).resolve().parent.parent / "jobs.toml.example"
    env.write_config(example.read_text())
    env.enqueue("greet", "--arg", "name=Ada")
    pasted = [
        *_examples(env, "pause"),
        *_examples(env, "resume"),
        *[e for e in _examples(env, "run-worker") if "--burst" in e],
    ]
    assert [e[0] for e in pasted] == ["pause", "resume", "resume", "run-worker"]
    for words in pasted:
        result = env.run(*words)
        assert result.returncode == 0, (words, result.stderr)
        assert "warning" not in result.stderr and "unknown" not in result.stderr, words

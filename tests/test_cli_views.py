"""What people see: pause/resume refuse a queue nobody knows, `list` says when its limit left
jobs out and which time it filters on, the `stats` table adds up, and
help names what each option takes.

Every test drives the real CLI on a real database; stdout is a pipe, so tables are plain text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Env
from test_observe_support import enqueue_at, opened
from test_ops_support import burst, start_worker, wait_attempt_over, wait_state

from jobctl.models import AttemptResult, NewJob, Outcome, WorkerInfo
from jobctl.store import Finish

QUEUES = (
    '[jobs.mail]\ncommand = ["true"]\nqueue = "mail"\n'
    '[jobs.ok]\ncommand = ["true"]\n'
    '[schedules.nightly]\njob = "ok"\ncron = "0 3 * * *"\nqueue = "reports"\n'
)


def _queues(env: Env) -> dict[str, bool]:
    doc = json.loads(env.run("status", "--json", check=True).stdout)
    return {q["queue"]: q["paused"] for q in doc["queues"]}


# ---------------------------------------------------------------------------------------------
# pause / resume


def test_pause_refuses_a_queue_nobody_knows_and_takes_those_the_config_names(env: Env) -> None:
    env.write_config(QUEUES)
    typo = env.run("pause", "defualt")
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr == (
        "jobctl: unknown queue 'defualt' (did you mean 'default'?): "
        "known queues are default, mail, reports\n"
    )
    made_up = env.run("resume", "nosuch")
    assert made_up.returncode == 2 and made_up.stdout == ""
    assert made_up.stderr == (
        "jobctl: unknown queue 'nosuch': known queues are default, mail, reports\n"
    )
    # Nothing was stored under either name: not even a database was made.
    assert not env.db.exists()

    # A queue the config names pauses before it has a job: a job type's, the default, a
    # schedule's (once a worker has made the database).
    burst(env)
    for queue in ("mail", "default", "reports"):
        assert env.run("pause", queue, check=True).stdout == f"paused queue {queue}\n"
    assert _queues(env) == {"default": True, "mail": True, "reports": True}
    held = env.enqueue("mail")
    burst(env)
    assert env.show(held)["state"] == "queued"
    assert env.run("resume", "mail", check=True).stdout == "resumed queue mail\n"
    burst(env)
    assert env.show(held)["state"] == "succeeded"


def test_a_queue_only_the_database_knows_can_be_paused(env: Env) -> None:
    env.write_config(QUEUES)
    job_id = env.enqueue("--queue", "adhoc", "--exec", "--", "true")
    assert env.run("pause", "adhoc", check=True).stdout == "paused queue adhoc\n"
    burst(env)
    assert env.show(job_id)["state"] == "queued"
    # Once in the database, a queue stays known: the one line lists it too.
    refused = env.run("pause", "adhok")
    assert refused.returncode == 2
    assert refused.stderr.startswith("jobctl: unknown queue 'adhok' (did you mean 'adhoc'?)")
    assert "known queues are adhoc, default, mail, reports" in refused.stderr


def test_pause_all_and_several_queues_check_every_name_first(env: Env) -> None:
    """`pause --all` holds every queue known (pueue's `pause --all`); several names are all
    checked before any queue changes, so a typo among them pauses nothing."""
    env.write_config(QUEUES)
    env.enqueue("--queue", "adhoc", "--exec", "--", "true")
    one_typo = env.run("pause", "mail", "reprots")
    assert one_typo.returncode == 2 and one_typo.stdout == ""
    assert one_typo.stderr.startswith("jobctl: unknown queue 'reprots' (did you mean 'reports'?)")
    assert _queues(env) == {"adhoc": False}
    paused = env.run("pause", "--all", check=True)
    assert paused.stdout.splitlines() == [
        f"paused queue {q}" for q in ("adhoc", "default", "mail", "reports")
    ]
    assert _queues(env) == dict.fromkeys(("adhoc", "default", "mail", "reports"), True)
    resumed = env.run("resume", "mail", "reports", check=True)
    assert resumed.stdout == "resumed queue mail\nresumed queue reports\n"
    assert env.run("resume", "-a", check=True).returncode == 0
    assert not any(_queues(env).values())
    for words, said in (
        (["pause"], "name the queues to pause, or give --all"),
        (["resume"], "name the queues to resume, or give --all"),
        (["resume", "--all", "mail"], "name the queues, or give --all, not both"),
    ):
        refused = env.run(*words)
        assert (refused.returncode, refused.stderr) == (2, f"jobctl: {said}\n")


def test_a_queue_declared_only_by_its_limit_is_known_to_every_command(env: Env) -> None:
    """A queue for ad-hoc commands, declared by its limit alone, is known before its first
    job: listed, waited on and served without a word, and paused (pueue's habit with a fresh
    group) before anything is queued there."""
    env.write_config(QUEUES + "[queues.slow]\nmax_running = 1\n")
    env.enqueue("ok")  # a database that knows nothing of the queue yet
    assert env.run("list", "--queue", "slow").stderr == ""
    waited = env.run("wait", "--queue", "slow")
    assert (waited.returncode, waited.stderr) == (
        0,
        "jobctl: note: no job is active there: nothing to wait for\n",
    )
    served = env.run("run-worker", "--burst", "--queue", "slow", check=True)
    assert "warning" not in served.stderr
    refused = env.run("pause", "slwo")
    assert refused.returncode == 2
    assert refused.stderr == (
        "jobctl: unknown queue 'slwo' (did you mean 'slow'?): known queues are default, mail,"
        " reports, slow\n"
    )
    paused = env.run("pause", "--all", check=True)
    assert paused.stdout.splitlines() == [
        f"paused queue {q}" for q in ("default", "mail", "reports", "slow")
    ]
    env.run("resume", "--all", check=True)

    assert env.run("pause", "slow", check=True).stdout == "paused queue slow\n"
    held = env.enqueue("--queue", "slow", "--exec", "--", "true")
    burst(env)
    assert env.show(held)["state"] == "queued"
    assert env.run("resume", "slow", check=True).stdout == "resumed queue slow\n"
    burst(env)
    assert env.show(held)["state"] == "succeeded"


# ---------------------------------------------------------------------------------------------
# list: the limit


def _enqueue_many(env: Env, count: int) -> list[int]:
    lines = "".join('{"job": "ok"}\n' for _ in range(count))
    result = env.run("enqueue", "--batch", "-", "--json", input=lines, check=True)
    return [entry["id"] for entry in json.loads(result.stdout)]


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()[1:]]


def test_list_says_on_stderr_when_its_limit_left_jobs_out(env: Env) -> None:
    env.write_config(QUEUES)
    ids = _enqueue_many(env, 52)
    default = env.run("list", check=True)
    assert [int(row[0]) for row in _rows(default.stdout)] == ids[::-1][:50]
    assert default.stderr == (
        "jobctl: showing the newest 50 of more than 50 matching jobs; "
        "--limit N shows more, --limit 0 all\n"
    )
    oldest = env.run("list", "--limit", "3", "--oldest-first", check=True)
    assert [int(row[0]) for row in _rows(oldest.stdout)] == ids[:3]
    assert oldest.stderr.startswith("jobctl: showing the oldest 3 of more than 3 matching jobs")
    # Exactly as many as the limit, or no limit: nothing was left out, nothing is said.
    assert env.run("list", "--limit", "52", check=True).stderr == ""
    every = env.run("list", "--limit", "0", check=True)
    assert len(_rows(every.stdout)) == 52 and every.stderr == ""


def test_list_json_keeps_its_array_and_notes_the_limit_on_stderr(env: Env) -> None:
    env.write_config(QUEUES)
    ids = _enqueue_many(env, 4)
    cut = env.run("list", "--limit", "3", "--json", check=True)
    assert [job["id"] for job in json.loads(cut.stdout)] == ids[::-1][:3]
    assert cut.stderr.startswith("jobctl: showing the newest 3 of more than 3 matching jobs")
    whole = env.run("list", "--limit", "4", "--json", check=True)
    assert [job["id"] for job in json.loads(whole.stdout)] == ids[::-1]
    assert whole.stderr == ""


# ---------------------------------------------------------------------------------------------
# list: which time


def test_list_shows_the_creation_time_that_since_filters_on(env: Env) -> None:
    env.write_config(QUEUES + '[jobs.hold]\ncommand = ["sleep", "60"]\nqueue = "slow"\n')
    done = env.enqueue("ok")
    burst(env)
    later = env.enqueue("ok", "--delay", "1h")
    waiting = env.enqueue("mail")
    start_worker(env, "--queue", "slow")
    running = env.enqueue("hold")
    wait_state(env, running, "running")

    text = env.run("list", check=True).stdout
    header = text.splitlines()[0].split()
    assert header[header.index("CREATED") + 1] == "WHEN"
    rows = {int(line.split()[0]): line for line in text.splitlines()[1:]}
    start = text.splitlines()[0].index("CREATED")
    when = text.splitlines()[0].index("WHEN")
    for job_id in (done, later, waiting, running):  # piped: when, as `show` gives it
        assert rows[job_id][start:when].strip() == env.show(job_id)["created_at"], rows[job_id]
    assert rows[done][when:].startswith("ended ")
    assert rows[later][when:].split()[:2] == ["due", env.show(later)["run_at"]]
    assert rows[running][when:].startswith("started ")
    assert rows[waiting][when:].split()[0] == "-"  # queued: CREATED says all there is
    assert "Only jobs created within this duration" in " ".join(
        env.run("list", "--help", check=True).stdout.split()
    )
    env.run("cancel", str(running), check=True)
    wait_attempt_over(env, running)


# ---------------------------------------------------------------------------------------------
# stats


def test_stats_table_shows_cancelled_jobs_and_says_what_success_is(env: Env) -> None:
    env.write_config('[jobs.nap]\ncommand = ["sleep", "{secs}"]\n')
    start_worker(env, "--concurrency", "2")
    held = [env.enqueue("nap", "--arg", "secs=60") for _ in range(2)]
    for job_id in held:
        wait_state(env, job_id, "running")
    env.run("cancel", *map(str, held), check=True)
    for job_id in held:
        wait_attempt_over(env, job_id)
    quick = env.enqueue("nap", "--arg", "secs=0")
    wait_state(env, quick, "succeeded")

    def row() -> dict[str, object]:
        [only] = json.loads(env.run("stats", "--json", check=True).stdout)
        return only  # type: ignore[no-any-return]

    env.wait_for(lambda: row()["processed"] == 3)
    assert (row()["succeeded"], row()["cancelled"], row()["success_rate"]) == (1, 2, 1.0)

    lines = env.run("stats", check=True).stdout.splitlines()
    assert lines[0].startswith("last 24h, whole hours since ")  # (the hour: test_observe_stats)
    assert lines[0].endswith("; SUCCESS = OK / (OK + DEAD)")
    assert lines[1].split()[6:9] == ["DEAD", "CANCELLED", "PENDING"]  # the full header:
    # test_observe_stats. PROCESSED 3 = OK 1 + FAILED 0 + CANCELLED 2: the reader's sum holds.
    assert lines[2].split()[:10] == ["default", "nap", "3", "3", "1", "0", "0", "2", "0", "100.0%"]
    help_text = " ".join(env.run("stats", "--help", check=True).stdout.split())
    assert "succeeded / (succeeded + dead)" in help_text


def test_dead_list_says_when_its_limit_left_jobs_out(env: Env) -> None:
    env.write_config('[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n')
    for _ in range(4):
        env.enqueue("bad")
    burst(env)
    capped = env.run("dead", "list", "--limit", "3", check=True)
    assert capped.stderr == (
        "jobctl: showing the latest 3 of more than 3 matching jobs; "
        "--limit N shows more, --limit 0 all\n"
    )
    assert env.run("dead", "list", "--limit", "4", check=True).stderr == ""
    as_json = env.run("dead", "list", "--limit", "3", "--json", check=True)
    assert len(json.loads(as_json.stdout)) == 3 and "more than 3" in as_json.stderr
    env.write_config('[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n')
    empty = env.run("--db", str(env.root / "other.db"), "enqueue", "bad", check=True)
    assert empty.returncode == 0
    none = env.run("--db", str(env.root / "other.db"), "dead", "list").stdout
    heading = ["ID", "JOB", "QUEUE", "TRIES", "FAILED", "ERROR", "COMMAND"]
    assert none.split() == heading  # the heading alone


def test_piped_tables_keep_whole_commands_and_errors(env: Env) -> None:
    """A terminal's table cuts long cells; one piped into grep must not, or a search for the
    end of an error misses its row."""
    error = "the first part of a long complaint " * 3 + "THE END"
    env.write_config(
        f'[jobs.fail]\ncommand = ["sh", "-c", "echo \\"{error}\\" >&2; exit 3"]\nmax_attempts = 1\n'
    )
    env.enqueue("fail")
    command = ["sh", "-c", "true " + "word " * 12 + "LAST"]
    env.run("enqueue", "--exec", "--", *command, check=True)
    burst(env)
    listed = env.run("list", check=True).stdout
    assert f"{error}" in listed and "LAST" in listed and "…" not in listed
    dead = env.run("dead", "list", check=True).stdout
    assert "THE END" in dead and "…" not in dead


def test_commands_are_shown_quoted_as_a_shell_would_need_them(env: Env) -> None:
    """`printf '[%s]\\n' 'a b' '' x` must not read as `printf [%s]\\n a b  x`: words with
    spaces, empty words and shell characters are quoted, so the command can be pasted."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    command = ["printf", "[%s]\\n", "a b", "", "x"]
    job_id = env.enqueue("--exec", "--", *command)
    shown = "printf '[%s]\\n' 'a b' '' x"
    detail = env.run("show", str(job_id), check=True).stdout.splitlines()
    assert f"command    {shown}" in detail
    assert f"directory  {env.root}" in detail  # where an --exec command runs
    assert shown in env.run("list", check=True).stdout
    document = json.loads(env.run("show", str(job_id), "--json", check=True).stdout)
    assert (document["command"], document["cwd"]) == (command, str(env.root))


def test_a_shown_command_with_newlines_tabs_or_spaces_runs_as_the_job_did(env: Env) -> None:
    """Newlines and tabs were folded into one space, and so were repeated spaces: the line
    shown was another command. Now it is bash's $'...' form, and pasted it does the same."""
    import shutil
    import subprocess

    if shutil.which("bash") is None:
        pytest.skip("no bash")
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    command = ["printf", "[%s]\t|\n", "x  y", "it's", "a\\b\nc"]
    job_id = env.enqueue("--exec", "--", *command)
    listed = env.run("list", check=True).stdout.splitlines()[1]
    shown = "printf $'[%s]\\t|\\n' 'x  y' 'it'\"'\"'s' $'a\\\\b\\nc'"
    assert shown in listed
    assert f"command    {shown}" in env.run("show", str(job_id), check=True).stdout
    env.run("run-worker", "--burst", check=True)
    pasted = subprocess.run(["bash", "-c", shown], capture_output=True, text=True, check=True)
    assert pasted.stdout == env.run("logs", str(job_id), check=True).stdout


def test_a_refused_pause_creates_no_database(env: Env) -> None:
    env.write_config(QUEUES)
    refused = env.run("pause", "nosuch")
    assert refused.returncode == 2
    assert not env.db.exists() and list(env.db.parent.glob(env.db.name + "*")) == []
    burst(env)
    assert env.run("pause", "mail", check=True).stdout == "paused queue mail\n"
    assert _queues(env) == {"mail": True}


def test_a_shown_command_pastes_back_to_its_exact_words(env: Env) -> None:
    """DEL, C1, zero-width and bidi characters were shown bare (`\\x7f`), which bash reads as
    other words, and U+0085 as `$'\\x85'`, a byte that is no character."""
    import shutil
    import subprocess

    if shutil.which("bash") is None:
        pytest.skip("no bash")
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    words = ["x", "\x7f", "\u200b", "\u202e", "\ufeff", "\x85", "\x9b", "a\\b\n", "it's", "é"]
    env.enqueue("--exec", "--", *words)
    heading, row = env.run("list", check=True).stdout.splitlines()
    shown = row[heading.index("COMMAND") :]  # piped, an --exec job's command comes last
    pasted = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {shown}"],
        capture_output=True,
        env={**env.env, "LC_ALL": "C.UTF-8"},
        check=True,
    )
    assert pasted.stdout.decode("utf-8").split("\0")[:-1] == words


# ---------------------------------------------------------------------------------------------
# Help: every option's value is named for what it takes


def test_every_option_that_takes_a_value_names_what_it_takes(env: Env) -> None:
    # `--delay <str>` said nothing a user did not know; `--delay DURATION` says the format.
    import typer.main

    from jobctl.cli.app import app
    from jobctl.cli.main import ALL_MODULES

    for module in ALL_MODULES:
        __import__(f"jobctl.cli.{module}")
    unnamed: list[str] = []

    def walk(command: Any, path: str) -> None:  # typer's own copy of click's classes
        for param in command.params:
            if param.param_type_name == "option" and not param.is_flag and not param.metavar:
                unnamed.append(f"{path} {param.opts[-1]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "jobctl")
    assert unnamed == []
    help_text = env.run("enqueue", "--help", check=True).stdout
    assert "--delay DURATION" in help_text and "--payload-file FILE" in help_text
    assert "<str>" not in help_text and "<int>" not in help_text


def test_list_of_a_queue_nobody_knows_says_so_as_for_a_job_type(env: Env) -> None:
    env.write_config(QUEUES)
    env.enqueue("mail")
    typo = env.run("list", "--queue", "mial")  # a usage error, as in wait
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr == (
        "jobctl: --queue: unknown queue 'mial' (did you mean 'mail'?): known queues"
        " are default, mail, reports\n"
    )
    assert env.run("list", "--queue", "reports").stderr == ""  # known, if empty: no word


def test_an_id_that_is_no_number_is_said_so_in_words_people_use(env: Env) -> None:
    env.write_config(QUEUES)
    for args in (
        ["show", "abc"],
        ["cancel", "1", "x"],
        ["wait", "abc"],
        ["enqueue", "ok", "--priority", "1.5"],  # an option: "not a valid int" it said
    ):
        result = env.run(*args)
        assert result.returncode == 2
        assert "is not a whole number" in result.stderr and "valid int" not in result.stderr


def test_up_without_a_config_points_at_run_worker_for_exec_jobs(env: Env) -> None:
    result = env.run("up", config=False)
    assert result.returncode == 2
    assert result.stderr.endswith("(for --exec jobs alone, run-worker needs none)\n")


def test_list_of_a_job_name_neither_the_config_nor_the_database_knows_exits_2(env: Env) -> None:
    """`list --job fial` listed nothing and exited 0 with a warning, where the exit codes
    promise 2 for an unknown name; `wait --job` already exited 2."""
    env.write_config('[jobs.fail]\ncommand = ["false"]\nmax_attempts = 1\n')
    env.enqueue("fail")
    typo = env.run("list", "--job", "fial")
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr == (
        f"jobctl: --job 'fial': no job type of that name in {env.config}, and no job of it in"
        " the database (did you mean 'fail'?)\n"
    )
    for name in ("fail", "exec"):  # a job type, and the name of every --exec job
        listed = env.run("list", "--job", name, "--json", check=True)
        assert listed.stderr == ""


def test_the_cancel_example_cancels_every_match_and_nothing_when_none_match(
    env: Env, tmp_path: Path
) -> None:
    """`cancel --help`'s example, run as it is: it cancelled the first 50 jobs alone (list's
    default --limit), and with none left GNU xargs ran `jobctl cancel` with no id (exit 2)."""
    if shutil.which("jq") is None or shutil.which("xargs") is None:
        pytest.skip("the example needs jq and xargs")
    import typer.main

    from jobctl.cli.app import app
    from jobctl.cli.completions import command_tree

    command_tree()  # imports every command module
    epilog = typer.main.get_command(app).commands["cancel"].epilog  # type: ignore[attr-defined]
    example = epilog.split("  |  ")[1]
    assert example.startswith("jobctl list -s queued -j report")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "jobctl"
    wrapper.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m jobctl --config "{env.config}" --db "{env.db}"'
        ' "$@"\n'
    )
    wrapper.chmod(0o755)
    env.write_config('[jobs.report]\ncommand = ["true"]\n[jobs.other]\ncommand = ["true"]\n')
    batch = '{"job": "report"}\n' * 60 + '{"job": "other"}\n'
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    shell = env.env | {"PATH": f"{bin_dir}:{env.env['PATH']}"}
    for _ in range(2):  # the second time, nothing is left to cancel
        ran = subprocess.run(
            ["sh", "-c", example],
            env=shell,
            cwd=env.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
        queued = json.loads(env.run("list", "-s", "queued", "--limit", "0", "--json").stdout)
        assert [j["job"] for j in queued] == ["other"]


def test_list_all_as_json_reads_pages_and_writes_one_array(env: Env) -> None:
    """`list --limit 0 --json` writes its array a page (1,000 jobs) at a time: the same text
    as a listing of them all at once, across the pages' ends."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    lines = "".join(f'{{"job": "noop", "payload": {{"n": {i}}}}}\n' for i in range(2001))
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    for order in ([], ["--oldest-first"]):
        every = env.run("list", "--limit", "0", "--json", *order, check=True).stdout
        at_once = env.run("list", "--limit", "5000", "--json", *order, check=True).stdout
        assert every == at_once
        assert len(json.loads(every)) == 2001
    empty = env.run("list", "--limit", "0", "--json", "--state", "dead", check=True)
    assert empty.stdout == "[]\n"


def test_a_span_across_a_step_back_of_the_clock_is_unknown_not_its_absolute_value(
    env: Env,
) -> None:
    """Times a worker recorded an hour ahead, before the wall clock was set back (an NTP
    step): how long an attempt took, how long a job has run, when a worker last beat are
    unknown ("?", null in JSON), never the hour of a negative span read as real. A span a
    clock read moments apart put just below 0 is 0."""
    env.write_config('[jobs.nap]\ncommand = ["sleep", "4"]\n')
    now = time.time()
    ahead = now + 3600
    stepped, jitter, running = enqueue_at(
        env, now - 10, *(NewJob(job="nap", payload={}) for _ in range(3))
    )
    with opened(env) as store:
        for job_id, started, ended in ((stepped, ahead, now - 6), (jitter, now - 5, now - 5.2)):
            (claim,) = store.claim("w", None, started, 60.0)
            assert claim.job.id == job_id
            result = AttemptResult(Outcome.SUCCEEDED, exit_code=0, finished_at=ended)
            store.finish([Finish(claim, result, None)], ended)
        (claim,) = store.claim("w", None, ahead, 7200.0)
        assert claim.job.id == running
        store.register_worker(
            WorkerInfo(
                id="w",
                host="elsewhere",
                pid=999999,
                queues=("*",),
                concurrency=1,
                started_at=ahead - 60,
                heartbeat_at=ahead,
                kind="worker",
                interval=10.0,
            )
        )

    def took(job_id: int) -> tuple[object, str]:
        (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
        lines = env.run("show", str(job_id), check=True).stdout.splitlines()
        return attempt["duration_s"], _cell(lines[-2:], "TOOK")

    assert took(stepped) == (None, "?")
    assert took(jitter) == (0.0, "0s")

    doc = json.loads(env.run("status", "--json", check=True).stdout)
    assert [(j["id"], j["running_s"]) for j in doc["running"]] == [(running, None)]
    assert [(w["id"], w["heartbeat_age_s"]) for w in doc["workers"]] == [("w", None)]
    status = env.run("status", check=True).stdout.splitlines()
    running_table = status[status.index("Running") + 1 :][:2]
    assert _cell(running_table, "RUNNING FOR") == "?"
    assert _cell(status[status.index("Workers") + 1 :][:2], "LAST HEARTBEAT") == "?"
    listed = env.run("list", "--state", "running", check=True).stdout.splitlines()
    # Piped, list gives when it started, which a step back of the clock leaves true.
    assert _cell(listed, "WHEN") == f"started {env.show(running)['started_at']}"


def _cell(lines: list[str], column: str) -> str:
    """The cell of a plain table's first row under `column` (headings over their values)."""
    head, row = lines[0], lines[1]
    start = head.index(column)
    rest = head[start + len(column) :]
    end = start + len(column) + len(rest) - len(rest.lstrip()) if rest.strip() else len(row)
    return row[start:end].strip()

"""logs of a log file gone from the host that ran it, on both stores; logs --lines; and the
hooks' logs in show, dead show and logs --hook. Real workers, real hooks, real files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from test_ops_support import burst

FAILING = (
    '[jobs.fail]\ncommand = ["sh", "-c", "echo out; echo failing >&2; exit 3"]\nmax_attempts = 1\n'
)


@pytest.fixture(params=["sqlite", "redis"])
def either(request: pytest.FixtureRequest, env: Env) -> Env:
    """The sandbox on a SQLite file, then on a Redis namespace (which keeps a tail of every
    attempt's output)."""
    if request.param == "redis":
        redis_env: Env = request.getfixturevalue("redis_env")
        return redis_env
    return env


def _log_of(env: Env, job_id: int) -> Path:
    return Path(str(env.show(job_id)["attempts_history"][0]["log_path"]))  # type: ignore[index]


def test_a_log_gone_from_the_host_that_ran_it_exits_1_on_both_stores(either: Env) -> None:
    env = either
    env.write_config(FAILING)
    job_id = env.enqueue("fail")
    burst(env)
    log = _log_of(env, job_id)
    log.unlink()
    result = env.run("logs", str(job_id))
    assert result.returncode == 1
    assert "ran on host" not in result.stderr and "full log is there" not in result.stderr
    dead = env.run("dead", "show", str(job_id), check=True).stdout
    if env.location().startswith("redis://"):
        # Only the end the store kept is left, and the note says so.
        assert result.stdout == "out\nfailing\n"
        assert result.stderr == (
            f"jobctl: job {job_id} attempt 1: its log on this host ({log}) is gone; the last"
            " 12 bytes the store kept follow\n"
        )
        assert f"  log ({log}): gone from this host; the end the store kept:\n" in dead
        assert dead.endswith("    out\n    failing\n")
        tail = env.run("logs", str(job_id), "--lines", "1")
        assert (tail.returncode, tail.stdout) == (1, "failing\n")
        assert "the last 8 bytes the store kept follow" in tail.stderr
    else:
        assert result.stdout == ""
        assert result.stderr == (
            f"jobctl: no output kept for job {job_id} attempt 1 ({log} is gone)\n"
        )
        assert dead.endswith(f"  log ({log}): gone\n")


def test_following_an_ended_job_whose_log_is_gone_says_it_is_gone(either: Env) -> None:
    env = either
    env.write_config(FAILING + '[jobs.quiet]\ncommand = ["true"]\n')
    job_id, quiet = env.enqueue("fail"), env.enqueue("quiet")
    burst(env)
    log = _log_of(env, job_id)
    log.unlink()
    follow = env.run("logs", str(job_id), "--follow")
    assert follow.returncode == 1
    ended = f"jobctl: job {job_id} (fail) ended dead: exit code 3: failing\n"
    if env.location().startswith("redis://"):
        assert follow.stdout == "out\nfailing\n"
        assert follow.stderr == (
            f"jobctl: job {job_id} attempt 1: its log on this host ({log}) is gone; the last"
            f" 12 bytes the store kept follow\n{ended}"
        )
    else:
        assert follow.stdout == ""
        assert follow.stderr == (
            f"jobctl: note: no output kept for job {job_id} attempt 1 ({log} is gone)\n{ended}"
        )
    # One that wrote nothing had no log to lose: nothing is said of one.
    silent = env.run("logs", str(quiet), "--follow")
    assert (silent.returncode, silent.stdout, silent.stderr) == (0, "", "")


def test_logs_lines_prints_the_last_lines_counted_at_newlines_alone(env: Env) -> None:
    # A first line longer than the blocks the end of the file is read in, then lines with
    # a progress bar's carriage returns, and a last line without its newline.
    script = "head -c 200000 /dev/zero | tr '\\\\0' x; echo; printf 'a\\\\rb\\\\nc\\\\nd'"
    env.write_config(f'[jobs.long]\ncommand = ["sh", "-c", "{script}"]\n')
    job_id = env.enqueue("long")
    burst(env)
    whole = _log_of(env, job_id).read_bytes()
    assert whole.endswith(b"\na\rb\nc\nd")

    def last(*lines: str) -> bytes:
        args = [*JOBCTL, *env.global_args(), "logs", str(job_id), *lines]
        # As bytes: a text pipe would read each carriage return as a newline.
        return subprocess.run(args, capture_output=True, env=env.env, check=True).stdout

    assert last("--lines", "1") == b"d"
    assert last("--lines", "3") == b"a\rb\nc\nd"
    assert last("--lines", "4") == b"x" * 200000 + b"\na\rb\nc\nd"
    assert last("--lines", "100") == whole
    assert last("--lines", "0") == b""
    assert last("-l", "2") == b"c\nd"
    refused = env.run("logs", str(job_id), "--follow", "--lines", "2")
    assert (refused.returncode, refused.stderr) == (2, "jobctl: --lines goes without --follow\n")


def test_dead_show_splits_its_log_tail_at_newlines_alone(env: Env) -> None:
    env.write_config(
        '[jobs.bar]\ncommand = ["sh", "-c", "printf \'10%%\\\\r50%%\\\\rdone\\\\n\'; exit 1"]\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("bar")
    burst(env)
    shown = env.run("dead", "show", str(job_id), check=True).stdout
    # One line, as the job wrote it (its carriage returns shown, not taken as line ends).
    assert shown.endswith(":\n    10%\\r50%\\rdone\n")


def test_show_dead_show_and_logs_hook_give_the_hooks_logs(env: Env) -> None:
    env.write_config(
        "[jobs.flaky]\n"
        'command = ["sh", "-c", "echo run $JOBCTL_RUN; exit 1"]\n'
        'max_attempts = 2\nbackoff = "10ms"\njitter = false\n'
        'on_failure = "echo failure of run $JOBCTL_RUN"\n'
        'on_dead = "echo would mail; exit 3"\n'
    )
    job_id = env.enqueue("flaky")
    burst(env)
    hooks = env.root / "q.db.logs" / "hooks"
    first, second = hooks / f"{job_id}.1.failure.log", hooks / f"{job_id}.2.failure.log"
    dead = hooks / f"{job_id}.2.dead.log"
    shown = env.run("show", str(job_id), check=True).stdout
    assert shown.endswith(
        f"\nhook logs (jobctl logs {job_id} --run RUN --hook KIND prints one):\n"
        f"  run 1  on_failure  {first}  (17 bytes)\n"
        f"  run 2  on_failure  {second}  (17 bytes)\n"
        f"  run 2  on_dead     {dead}  (11 bytes)\n"
    )
    history = env.show(job_id)["attempts_history"]
    assert [a["hooks"] for a in history] == [  # type: ignore[attr-defined]
        [{"kind": "failure", "log_path": str(first), "size": 17}],
        [
            {"kind": "failure", "log_path": str(second), "size": 17},
            {"kind": "dead", "log_path": str(dead), "size": 11},
        ],
    ]
    dead_show = env.run("dead", "show", str(job_id), check=True).stdout
    assert dead_show.endswith(
        "    run 2\n"
        f"  hook on_failure log ({second}): 17 bytes\n"
        f"  hook on_dead log ({dead}): 11 bytes\n"
    )
    dead_json = json.loads(env.run("dead", "show", str(job_id), "--json", check=True).stdout)
    assert dead_json["attempts_history"][0]["hooks"] == history[0]["hooks"]  # type: ignore[index]

    def hook_log(*args: str) -> tuple[int, str, str]:
        result = env.run("logs", str(job_id), *args)
        return result.returncode, result.stdout, result.stderr

    assert hook_log("--hook", "dead") == (0, "would mail\n", "")
    assert hook_log("--hook", "failure", "--run", "1") == (0, "failure of run 1\n", "")
    assert hook_log("--hook", "failure", "--lines", "0") == (0, "", "")
    none = hooks / f"{job_id}.1.dead.log"
    assert hook_log("--hook", "dead", "--run", "1") == (
        1,
        "",
        f"jobctl: job {job_id} run 1 has no on_dead hook log ({none}): no on_dead hook ran"
        " for it, or it wrote nothing\n",
    )
    assert hook_log("--hook", "mail")[::2] == (
        2,
        "jobctl: --hook takes failure or dead, not 'mail'\n",
    )
    # An empty one is listed as such; a link planted there is neither listed nor read.
    first.write_bytes(b"")
    dead.unlink()
    dead.symlink_to(env.config)
    assert f"  run 1  on_failure  {first}  (empty)\n" in env.run("show", str(job_id)).stdout
    assert "on_dead" not in env.run("show", str(job_id)).stdout
    assert hook_log("--hook", "dead")[:2] == (1, "")

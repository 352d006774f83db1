"""status, list filters and show, and how read commands print on a terminal or not."""

from __future__ import annotations

import json
import os
import pty
import subprocess

from conftest import JOBCTL, Env
from test_ops_support import burst, start_worker, wait_state


def test_status_counts_running_jobs_and_live_workers(env: Env) -> None:
    gate = env.root / "gate"
    env.write_config(
        f'[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'
        '[jobs.mail]\ncommand = ["true"]\nqueue = "mail"\n'
    )
    worker = start_worker(env, "--queue", "default")
    running = env.enqueue("slow")
    wait_state(env, running, "running")
    env.enqueue("mail")
    env.enqueue("mail")
    env.enqueue("slow", "--delay", "1h")
    env.run("pause", "mail", check=True)

    doc = json.loads(env.run("status", "--json", check=True).stdout)
    queues = {q["queue"]: q for q in doc["queues"]}
    assert queues["default"]["counts"] == {
        "queued": 0,
        "scheduled": 1,
        "waiting": 0,
        "running": 1,
        "succeeded": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert queues["mail"]["counts"]["queued"] == 2 and queues["mail"]["paused"] is True
    assert queues["mail"]["oldest_ready_age_s"] >= 0
    assert queues["default"]["oldest_ready_at"] is None
    [job] = doc["running"]
    assert (job["id"], job["job"], job["attempt"]) == (running, "slow", 1)
    [live] = doc["workers"]
    assert (live["pid"], live["queues"], live["concurrency"]) == (worker.pid, ["default"], 1)
    assert job["worker"] == live["id"] and doc["stale_workers"] == 0

    text = env.run("status", check=True).stdout
    assert text.splitlines()[0] == "Queues"
    header = text.splitlines()[1].split()
    assert header[:2] == ["QUEUE", "PAUSED"] and header[-2:] == ["OLDEST", "READY"]
    assert f"{running}   slow" in text and live["id"] in text
    gate.touch()
    wait_state(env, running, "succeeded")


def test_status_of_an_empty_queue_and_a_missing_database(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    missing = env.run("status")
    assert missing.returncode == 3
    assert missing.stderr.startswith(f"jobctl: database {env.db}: does not exist")
    env.enqueue("ok")
    burst(env)
    text = env.run("status", check=True).stdout
    assert "Running: none\n" in text and "Workers: none alive\n" in text


def test_status_leaves_out_workers_that_stopped_beating(env: Env) -> None:
    from jobctl.models import WorkerInfo
    from jobctl.store.sqlite import SqliteStore

    with SqliteStore(env.db) as store:  # a crashed worker's leftover record
        store.register_worker(WorkerInfo("ghost", "h", 1, ("*",), 1, 0.0, 0.0))
    doc = json.loads(env.run("status", "--json", check=True).stdout)
    assert (doc["workers"], doc["stale_workers"]) == ([], 1)
    assert "(1 worker record(s) without a recent heartbeat" in env.run("status").stdout


def test_list_filters_by_queue_key_and_age(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n[jobs.b]\ncommand = ["true"]\nqueue = "q2"\n')
    first = env.enqueue("a", "--key", "k1")
    second = env.enqueue("b")

    def ids(*args: str) -> list[int]:
        return [j["id"] for j in json.loads(env.run("list", "--json", *args, check=True).stdout)]

    assert ids() == [second, first]
    assert ids("--oldest-first") == [first, second]
    assert ids("--queue", "q2") == [second]
    assert ids("--key", "k1") == [first]
    assert ids("--since", "1h") == [second, first]
    assert ids("--state", "succeeded") == []
    bad = env.run("list", "--since", "lately")
    assert bad.returncode == 2 and bad.stderr.startswith("jobctl: --since: invalid duration")


def test_show_lists_every_attempt_and_the_payload(env: Env) -> None:
    env.write_config(
        '[jobs.bad]\ncommand = ["sh", "-c", "echo tail-of-error >&2; kill -9 $$"]\n'
        'max_attempts = 2\nbackoff = "10ms"\njitter = false\n'
    )
    job_id = env.enqueue("bad", "--arg", "n:=5")
    burst(env)
    lines = env.run("show", str(job_id), check=True).stdout.splitlines()
    assert 'payload    {"n": 5}' in lines
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == [
        "RUN", "ATTEMPT", "STARTED", "ENDED", "TOOK", "OUTCOME", "EXIT", "WORKER", "ERROR", "LOG",
    ]  # fmt: skip
    assert len(table) == 3
    for row in table[1:]:
        assert "failed" in row and "signal 9 (SIGKILL)" in row and "tail-of-error" in row


def _through_a_terminal(env: Env, *args: str, extra: dict[str, str] | None = None) -> bytes:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**env.env, **(extra or {})},
        cwd=env.root,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr
    return output


def _colours(output: bytes) -> list[bytes]:
    """The SGR parameters of `output` that set a colour (30-49, 90-107), not bold or dim."""
    import re

    codes = re.findall(rb"\x1b\[([0-9;]*)m", output)
    return [n for c in codes for n in c.split(b";") if n and (30 <= int(n) <= 49 or int(n) >= 90)]


def _heading(output: bytes, marker: str) -> list[str]:
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode())
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [marker])


def test_read_commands_use_rich_tables_on_a_terminal_without_colour_under_no_color(
    env: Env,
) -> None:
    """NO_COLOR turned a terminal's tables into the piped form (every column, "-" for an
    empty cell); no-color.org asks it to take the colour away, nothing else. The piped form
    is chosen by stdout alone."""
    env.write_config('[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n')
    env.enqueue("bad")
    burst(env)
    env.run("pause", "default", check=True)  # status shows a paused queue in red
    for command, marker in ((["status"], "QUEUE"), (["list"], "ID"), (["dead", "list"], "ID")):
        styled = _through_a_terminal(env, *command)
        assert _colours(styled) or command == ["dead", "list"], command  # (it has no colour)
        uncoloured = _through_a_terminal(env, *command, extra={"NO_COLOR": "1"})
        assert not _colours(uncoloured), command
        assert _heading(uncoloured, marker) == _heading(styled, marker), command
        piped = env.run(*command, check=True).stdout
        assert "\x1b[" not in piped and marker in piped, command
        # Piped, every column is there; a terminal leaves out those no row fills.
        assert len(_heading(piped.encode(), marker)) > len(_heading(styled, marker)), command


def test_status_names_the_kind_of_every_live_process(env: Env) -> None:
    """A worker and a cron daemon side by side: each row says which it is (the worker's
    KIND cell used to be empty, beside the daemon's)."""
    import time

    from jobctl.models import WorkerInfo
    from jobctl.store.sqlite import SqliteStore

    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    now = time.time()
    with SqliteStore(env.db) as store:
        store.register_worker(WorkerInfo("w1", "h", 1, ("*",), 2, now, now))
        store.register_worker(WorkerInfo("s1", "h", 2, (), 0, now, now, kind="scheduler"))
    lines = [line.split() for line in env.run("status", check=True).stdout.splitlines()]
    rows = {words[0]: words[1] for words in lines if len(words) > 1}
    assert (rows["w1"], rows["s1"]) == ("worker", "scheduler")

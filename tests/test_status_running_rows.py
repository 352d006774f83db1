"""What `status`, `list`, `wait` and the lines of a followed job say of the jobs that run:
on a narrow terminal the columns that tell the rows apart stay, an `--exec` job is named by
its command, and a running job whose worker is gone says so. The real CLI, a real worker,
a real pseudo-terminal of a given width."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime

from conftest import Env
from rich.cells import cell_len
from test_output_edges import run_on_terminal

# A wait on what jobctl's own commands say polls four times a second, not twenty: each look
# is a CLI call of some 40 ms of CPU, and the states waited for (a worker registered, a job
# running or finished) hold once reached.
POLL = 0.25

WORKER = "vm:21865:f55a"  # as long as a default worker id (host:pid:random)


def _lines(text: str) -> list[str]:
    """A terminal's output as lines without colour or the pty's line ends."""
    return [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]


def _running_rows(lines: list[str]) -> list[str]:
    """The Running table's heading and rows."""
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["ID"])
    end = next((i for i in range(head + 1, len(lines)) if not lines[i][:1].isdigit()), len(lines))
    return lines[head:end]


def _cells(row: str, command: str) -> list[str]:
    """A Running row's JOB (as many words as `command` has) and QUEUE."""
    words = row.split()[1:]
    count = len(command.split())
    return [" ".join(words[:count]), *words[count : count + 1]]


def _three_builds(env: Env) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """Three --exec jobs running in queue build, told apart by their commands' ends."""
    (env.root / "hold.sh").write_text("until [ -e go ]; do sleep 0.02; done\n")
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    worker = env.start("run-worker", "-n", "3", "--worker-name", WORKER)
    jobs = {
        env.enqueue("--exec", "--queue", "build", "--", "sh", "hold.sh", f"b{n}"): (
            f"sh hold.sh b{n}"
        )
        for n in (1, 2, 3)
    }
    env.wait_for(
        lambda: all(env.show(i)["state"] == "running" for i in jobs), timeout=20, interval=POLL
    )
    return worker, jobs


def _finish(env: Env, worker: subprocess.Popen[str], jobs: dict[int, str]) -> None:
    (env.root / "go").touch()
    env.wait_for(
        lambda: all(env.show(i)["state"] == "succeeded" for i in jobs), timeout=20, interval=POLL
    )
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)


def test_status_gives_up_the_worker_before_the_job_and_the_queue(env: Env) -> None:
    """At 60 columns the Running table kept WORKER whole and ATTEMPT, and cut JOB so that
    three builds all read `sh hold.sh…`; at 45 QUEUE went, at 40 JOB too. The worker (the
    same on every row here; `show` has it) is cut, then dropped, before them."""
    worker, jobs = _three_builds(env)
    try:
        for columns in (60, 45, 40):
            lines = _lines(run_on_terminal(env, "status", columns=columns))
            assert all(cell_len(line) <= columns for line in lines), "\n".join(lines)
            table = _running_rows(lines)
            assert table[0].split()[:3] == ["ID", "JOB", "QUEUE"], "\n".join(lines)
            rows = {int(line.split()[0]): line for line in table[1:]}
            assert rows.keys() == jobs.keys(), "\n".join(lines)
            for job_id, command in jobs.items():
                assert _cells(rows[job_id], command) == [command, "build"], "\n".join(lines)
        wide = _running_rows(_lines(run_on_terminal(env, "status", columns=120)))
        assert "WORKER" in wide[0] and all(WORKER in row for row in wide[1:]), wide
        # Cut before it goes: the host and pid are still there.
        cut = _running_rows(_lines(run_on_terminal(env, "status", columns=50)))
        assert "WORKER" in cut[0] and "ATTEMPT" not in cut[0], cut
        assert all(WORKER not in row and "vm:21865:f…" in row for row in cut[1:]), cut
        rows = {int(line.split()[0]): line for line in cut[1:]}
        assert all(_cells(rows[i], command) == [command, "build"] for i, command in jobs.items())
    finally:
        _finish(env, worker, jobs)


def test_list_at_60_columns_keeps_an_error_s_exit_code(env: Env) -> None:
    """`exit code 6` and `exit code 1: B fails` both read `exit cod…` in a 9-cell ERROR:
    the one digit that said something was cut. The error keeps its code, or goes."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    six = env.enqueue("--exec", "--max-attempts", "1", "--", "sh", "-c", "exit 6")
    one = env.enqueue("--exec", "--max-attempts", "1", "--", "sh", "-c", "echo B fails >&2; exit 1")
    env.run("run-worker", "--burst", check=True)
    for columns in (60, 50, 40):
        lines = _lines(run_on_terminal(env, "list", columns=columns))
        assert all(cell_len(line) <= columns for line in lines), "\n".join(lines)
        assert "exit cod…" not in "\n".join(lines) and "exit code…" not in "\n".join(lines)
        rows = {int(line.split()[0]): line for line in lines[1:]}
        if "ERROR" in lines[0]:
            assert "exit code 6" in rows[six] and "exit code 1" in rows[one], "\n".join(lines)
    wide = _lines(run_on_terminal(env, "list", columns=60))
    assert "ERROR" in wide[0], wide  # it has the room for `exit code 1…`


def test_an_exec_job_is_named_by_its_command_where_it_ends_or_times_out(env: Env) -> None:
    """`wait`, `logs -f` and `enqueue --wait` said `job 43 (exec) ended dead`: with ten
    ad-hoc jobs, "(exec)" names none of them. They name it by its command, as the tables
    do, escaped and cut."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    failing = env.enqueue("--exec", "--max-attempts", "1", "--", "sh", "-c", "exit 2")
    env.run("run-worker", "--burst", check=True)
    ended = f"jobctl: job {failing} (sh -c 'exit 2') ended dead: exit code 2"
    waited = env.run("wait", str(failing))
    assert waited.returncode != 0 and ended in waited.stderr, waited.stderr
    followed = env.run("logs", "-f", str(failing))
    assert ended in followed.stderr, followed.stderr
    noisy = ["printf", "a\x1b[2Jb", "x" * 200]
    waiting = env.run("enqueue", "--exec", "--wait", "--timeout", "0.2s", "--", *noisy)
    assert waiting.returncode == 124, waiting.stderr
    line = next(x for x in waiting.stderr.splitlines() if "timed out" in x)
    assert "(printf $'a\\x1b[2Jb' xxxx" in line and "…) is still queued" in line, line
    assert "\x1b" not in waiting.stderr and "x" * 100 not in line
    held = re.search(r"job (\d+)", line)[1]  # type: ignore[index]
    timed_out = env.run("wait", held, "--timeout", "200ms")
    assert timed_out.returncode == 124, timed_out.stderr
    assert f"job {held} (printf $'a\\x1b[2Jb' xxxx" in timed_out.stderr, timed_out.stderr
    env.run("cancel", held, check=True)
    worker = env.start("run-worker")
    try:
        followed = env.run("enqueue", "-x", "--max-attempts", "1", "-f", "--", "sh", "-c", "exit 3")
        assert followed.returncode == 3, followed.stderr
        assert "(sh -c 'exit 3') ended dead: exit code 3" in followed.stderr, followed.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)


def test_status_json_running_entries_give_an_exec_job_s_command_and_cwd(env: Env) -> None:
    """`status --json`'s running entries were `{id, job: "exec", ...}`: the piped table had
    the command, the document a script is told to use had not."""
    worker, jobs = _three_builds(env)
    try:
        document = json.loads(env.run("status", "--json", check=True).stdout)
        entries = {entry["id"]: entry for entry in document["running"]}
        for job_id, command in jobs.items():
            assert entries[job_id]["command"] == command.split(), entries[job_id]
            assert entries[job_id]["cwd"] == str(env.root)
            assert entries[job_id]["job"] == "exec"
            assert entries[job_id]["worker_gone"] is False
    finally:
        _finish(env, worker, jobs)


def test_a_running_job_whose_worker_is_gone_says_so(env: Env) -> None:
    """After a kill -9 of its worker, `status` listed the job as plainly running, with
    `Workers: none alive` below and nothing tying the two together, for the whole lease."""
    (env.root / "hold.sh").write_text("until [ -e go ]; do sleep 0.02; done\n")
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    worker = env.start("run-worker", "--worker-name", WORKER)
    job = env.enqueue("--exec", "--", "sh", "hold.sh")
    env.wait_for(lambda: env.show(job)["state"] == "running", timeout=20, interval=POLL)
    try:
        alive = env.run("status", check=True).stdout
        assert "gone" not in alive, alive
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)

        piped = env.run("status", check=True).stdout.splitlines()
        row = next(line for line in piped if line.startswith(f"{job} "))
        assert "worker gone" in row and WORKER in row, piped
        note = next(line for line in piped if "gone" in line and line.startswith("("))
        assert f"job {job}" in note and "lease ends" in note, piped
        shown = _lines(run_on_terminal(env, "status", columns=40))
        row = next(line for line in shown if line.startswith(f"{job} "))
        assert "worker gone" in row, shown
        assert any(f"job {job}" in line and "lease ends" in line for line in shown), shown
        document = json.loads(env.run("status", "--json", check=True).stdout)
        (entry,) = document["running"]
        assert entry["id"] == job and entry["worker_gone"] is True, entry
    finally:
        (env.root / "go").touch()  # the job's loop ends: its worker is gone


def test_the_note_of_a_gone_worker_s_jobs_says_what_their_attempts_make_of_them(env: Env) -> None:
    """`status` said a job of a gone worker "runs again when its lease ends, unless out of
    attempts" of an --exec job on its only attempt (1/1), which goes dead; said it still once
    the lease had passed, with no worker left to look; said a cancelled one held its gone
    worker's slot; and on a narrow terminal dropped JOB (kept for a live worker's jobs), so
    that no row said which job it was."""
    (env.root / "hold.sh").write_text("until [ -e go ]; do sleep 0.02; done\n")
    env.write_config('[settings]\nlease = "5s"\n[jobs.ok]\ncommand = ["true"]\n')
    worker = env.start("run-worker", "-n", "3", "--worker-name", WORKER)
    last = env.enqueue("--exec", "--", "sh", "hold.sh", "last")
    again = env.enqueue("--exec", "--max-attempts", "3", "--", "sh", "hold.sh", "again")
    env.wait_for(
        lambda: all(env.show(i)["state"] == "running" for i in (last, again)),
        timeout=20,
        interval=POLL,
    )
    try:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)

        note = next(x for x in env.run("status", check=True).stdout.splitlines() if "gone:" in x)
        assert re.search(
            rf"job {last} goes dead when its lease ends at [0-9:]+ \(in [^)]+\),"
            r" its last attempt; ",
            note,
        ), note
        assert re.search(
            rf"; job {again} runs again when its lease ends at .*, as attempt 2/3\)$", note
        ), note
        assert "unless out of attempts" not in note
        for columns in (40, 30):
            shown = _lines(run_on_terminal(env, "status", columns=columns))
            rows = {int(line.split()[0]): line for line in _running_rows(shown)[1:]}
            assert "sh hold" in rows[last] and "sh hold" in rows[again], "\n".join(shown)
            assert "worker gone" in rows[last], "\n".join(shown)

        running = json.loads(env.run("status", "--json", check=True).stdout)["running"]
        ends = max(
            datetime.fromisoformat(entry["lease_expires_at"]).timestamp() for entry in running
        )
        env.wait_for(lambda: time.time() > ends + 0.1)
        note = next(x for x in env.run("status", check=True).stdout.splitlines() if "gone:" in x)
        assert f"job {last} goes dead once a worker looks (its lease ended at " in note, note
        assert f"job {again} runs again once a worker looks" in note, note
        assert "when its lease ends" not in note, note

        env.run("cancel", str(last), check=True)
        shown = env.run("status", check=True).stdout
        assert "holds its worker's slot" not in shown, shown
        assert f"(stopping: job {last} is cancelled, but its worker is gone: " in shown, shown
        assert "stopped by a worker on its host once a worker looks (its lease ended at" in shown
    finally:
        (env.root / "go").touch()  # the jobs' loops end: their worker is gone

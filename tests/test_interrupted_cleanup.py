"""Commands interrupted (Ctrl-C, SIGTERM, SIGHUP) part of the way leave nothing behind that no
later command removes: the log files of the jobs a `dead purge` or `prune` deleted, and the
hidden part of a `backup`."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import JOBCTL, Env

from jobctl.logfiles import attempt_log_path
from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

_DEAD = 1500  # three batches of 500
_FAILS = (
    '[jobs.fail]\ncommand = ["sh", "-c", "echo bad >&2; exit 3"]\nmax_attempts = 1\n'
    '[jobs.ok]\ncommand = ["true"]\n'
)


def _jobs_left(db: Path) -> int:
    """How many jobs the database holds, read without taking its write lock."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


def _orphans(db: Path) -> list[str]:
    """The log files beside the database whose job is gone from it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        there = {row[0] for row in conn.execute("SELECT id FROM jobs")}
    finally:
        conn.close()
    logs = Path(f"{db}.logs").rglob("*.log")
    return sorted(str(p) for p in logs if int(p.name.split(".")[0]) not in there)


def _interrupted_after(
    env: Env, args: list[str], number: int, batches: int, late: float
) -> subprocess.CompletedProcess[str]:
    """Run `jobctl ARGS` and send it `number` once `batches` batches are deleted and `late`
    seconds more have passed (unless it ended first)."""
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
    )
    try:
        env.wait_for(
            lambda: proc.poll() is not None or _jobs_left(env.db) <= _DEAD - 500 * batches,
            interval=0.005,
        )
        time.sleep(late)  # (the moment within a batch the signal lands at)
        if proc.poll() is None:
            proc.send_signal(number)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, None, err)


def _dead_with_logs(db: Path, logs: Path, count: int) -> None:
    """`count` jobs that failed their one attempt, each with a log file where a worker puts
    it: what a worker makes of failing jobs, without the processes. Each log is a hard
    link to one file, as are the copies the test puts back: a purge removes a log by its
    name alone, and 1,500 new files cost most of the test's CPU."""
    logs.mkdir(mode=0o700)
    written = logs / "bad"
    written.write_text("bad\n")
    now = time.time()
    with SqliteStore(db) as store:
        store.enqueue([NewJob(job="fail", payload={}, max_attempts=1)] * count, now - 10)
        claims = store.claim("w", None, now - 5, 30.0, limit=count)
        finishes = []
        for claim in claims:
            log = Path(attempt_log_path(logs, claim.job.id, claim.run))
            log.parent.mkdir(mode=0o700, exist_ok=True)
            os.link(written, log)
            result = AttemptResult(Outcome.FAILED, exit_code=3, log_path=str(log), finished_at=now)
            finishes.append(Finish(claim, result))
        store.finish(finishes, now)
    written.unlink()


def test_an_interrupted_purge_or_prune_leaves_no_log_of_a_deleted_job(env: Env) -> None:
    """The rows of a batch were committed, then its log files removed: a signal between the
    two left up to 500 log files of jobs no longer there, which no later prune found, and
    the command exited without saying how many jobs it had deleted."""
    env.write_config(_FAILS)
    logs = Path(f"{env.db}.logs")
    _dead_with_logs(env.db, logs, _DEAD)
    assert len(list(logs.rglob("*.log"))) == _DEAD
    saved = env.root / "saved"
    saved.mkdir()
    assert not Path(f"{env.db}-wal").exists()  # (the copy holds every job)
    shutil.copy(env.db, saved / "q.db")
    shutil.copytree(logs, saved / "logs", copy_function=os.link)
    commands = [["dead", "purge", "--all", "--yes"], ["prune", "--older-than", "0s"]]
    numbers = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    interrupted = 0
    for attempt in range(6):  # each signal, to each command
        for leftover in env.root.glob("q.db*"):
            (shutil.rmtree if leftover.is_dir() else Path.unlink)(leftover)
        shutil.copy(saved / "q.db", env.db)
        shutil.copytree(saved / "logs", logs, copy_function=os.link)  # (a purge unlinks)
        number = numbers[attempt % 3]
        command = commands[attempt // 3]
        late = (0.0, 0.02, 0.05, 0.1)[attempt % 4]
        ended = _interrupted_after(env, command, number, 1 + attempt % 2, late)
        assert _orphans(env.db) == [], (command, number.name, late)
        deleted = _DEAD - _jobs_left(env.db)
        if ended.returncode == 0 or (deleted == _DEAD and ended.stderr == ""):
            continue  # (done, its line said, before the signal came)
        interrupted += 1
        assert ended.returncode == 128 + number, ended.stderr  # 130, 143, 129: the README's
        word = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}.get(number, "interrupted")
        assert ended.stderr == f"jobctl: {word} after deleting {deleted} job(s)\n"
    assert interrupted >= 3


def test_an_interrupt_ends_a_purge_waiting_for_the_lock(env: Env) -> None:
    """Held for the length of a batch, Ctrl-C must still end a batch that waits for the
    database's lock (up to 30 s; the note says "Ctrl-C gives up"): nothing is committed."""
    env.write_config(_FAILS)
    first = env.enqueue("ok")
    env.run("cancel", str(first), check=True)
    dead = [env.enqueue("ok", "--after", str(first)) for _ in range(3)]
    assert [env.show(i)["state"] for i in dead] == ["dead"] * 3
    errors = env.root / "stderr"
    holder = sqlite3.connect(env.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with errors.open("w") as stderr:
            proc = subprocess.Popen(
                [*JOBCTL, *env.global_args(), "dead", "purge", "--all", "--yes"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env.env,
                cwd=env.root,
            )
        env.procs.append(proc)  # type: ignore[arg-type]
        env.wait_for(lambda: "holds it locked" in errors.read_text(), timeout=20)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 130
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert errors.read_text().endswith("jobctl: interrupted after deleting 0 job(s)\n")
    assert [env.show(i)["state"] for i in dead] == ["dead"] * 3


def _copying(folder: Path, proc: subprocess.Popen[str]) -> bool:
    """Whether a backup into `folder` has made its part, or ended."""
    return any(folder.glob(".*.part-*")) or proc.poll() is not None


def test_backup_stopped_by_a_signal_leaves_no_part(env: Env) -> None:
    """SIGTERM and SIGHUP ended a backup by their default action: its hidden copy, as large
    as the database, and the copy's journal stayed beside the target, one more at each
    killed run, as the part's name holds the process id."""
    env.write_config(_FAILS)
    with SqliteStore(env.db) as store:
        store.enqueue([NewJob(job="ok", payload={"pad": "x" * 2000}) for _ in range(25_000)], 0)
    folder = env.root / "backups"
    folder.mkdir()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        target = folder / f"b-{number.name}.db"
        proc = env.start("backup", str(target))
        copying = functools.partial(_copying, folder, proc)
        env.wait_for(copying, interval=0.005)
        proc.send_signal(number)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + number, (number.name, err)
        assert sorted(p.name for p in folder.iterdir()) == [], number.name


def test_a_backup_leaves_a_file_under_a_part_name_it_did_not_make(env: Env) -> None:
    """A part's name was the process id alone, and a file found under it was removed: that of
    a backup of another container's process of the same id, sharing the folder."""
    env.write_config(_FAILS)
    env.enqueue("ok")
    folder = env.root / "backups"
    folder.mkdir()
    # The same process id: the shell makes the file, then becomes jobctl.
    plant = 'echo "someone else\'s" > "$0/.b.db.part-$$"; exec "$@"'
    subprocess.run(
        ["sh", "-c", plant, str(folder), *JOBCTL, *env.global_args(), "backup", "b.db"],
        env=env.env,
        cwd=folder,
        check=True,
        capture_output=True,
    )
    (planted,) = [p for p in folder.iterdir() if p.name != "b.db"]
    assert planted.read_text() == "someone else's\n"
    assert (folder / "b.db").exists()

"""Hostile files: databases that are corrupt, truncated, a directory, read-only, on a full
disk or from a newer jobctl, and configs that cannot be read.

Each command fails with one line on stderr and its documented exit code (3 for a database
that cannot be used, 2 for a config), or - for a read that a damaged file still allows -
works. A database that was good before a failed command is byte for byte the same after it.
A full disk is a file-size limit on the command (RLIMIT_FSIZE, with SIGXFSZ ignored), so every
write past the limit fails as it would on a full disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chaoslib import consistency_problems, file_digest, one_error_line, page_size, run_cli
from conftest import Env, small_file_system

from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

CONFIG = '[jobs.noop]\ncommand = ["true"]\nmax_attempts = 1\n'
# Every command that opens the database, reading or writing.
COMMANDS = [
    ["enqueue", "noop"],
    ["enqueue", "--batch", "-"],
    ["list"],
    ["show", "1"],
    ["status"],
    ["cancel", "3"],
    ["dead", "retry", "--all"],
    ["prune", "--older-than", "0s"],
    ["run-worker", "--burst"],
]
WRITES = {"enqueue", "cancel", "dead", "prune", "run-worker"}
BATCH = "".join(json.dumps({"job": "noop", "payload": {"n": n}}) + "\n" for n in range(50))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed database (no WAL beside it), made by the store: job 1 succeeded, 2 dead,
    3 queued, all of them a minute old."""
    path = tmp_path_factory.mktemp("template") / "q.db"
    minute_ago = time.time() - 60
    with SqliteStore(path) as store:
        store.enqueue([NewJob(job="noop", payload={}, max_attempts=1)] * 3, minute_ago)
        ok, bad = store.claim("setup", None, minute_ago + 1, 30, limit=2)
        store.finish(
            [
                Finish(
                    ok, AttemptResult(Outcome.SUCCEEDED, exit_code=0, finished_at=minute_ago + 2)
                ),
                Finish(bad, AttemptResult(Outcome.FAILED, exit_code=1, finished_at=minute_ago + 2)),
            ],
            minute_ago + 2,
        )
    assert sorted(p.name for p in path.parent.iterdir()) == ["q.db", "q.db.lock"]
    return path


@pytest.fixture
def good_db(env: Env, template: Path) -> Path:
    env.write_config(CONFIG)
    shutil.copy(template, env.db)
    return env.db


def run(
    env: Env, args: list[str], preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS` on the sandbox's database: a new interpreter where a limit is set in the
    child first, a call of the fork server otherwise."""
    stdin = BATCH if args[:2] == ["enqueue", "--batch"] else None
    if preexec_fn is None:
        return env.run(*args, input=stdin)
    return run_cli(env, *args, input=stdin, preexec_fn=preexec_fn, timeout=60)


def run_with(env: Env, options: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`jobctl OPTIONS ARGS`: these global options alone, not the sandbox's."""
    return env.run(*options, *args, config=False)


def siblings(db: Path) -> dict[str, str | None]:
    return {
        p.name: (None if p.is_dir() else file_digest(p))
        for p in sorted(db.parent.iterdir())
        if p.name.startswith(db.name)
    }


# ---------------------------------------------------------------------------------------------
# Damaged databases


def corrupt_schema(db: Path) -> None:
    """Garbage over the first page's b-tree (the schema), the 100-byte header intact."""
    size = page_size(db)
    with db.open("r+b") as handle:
        handle.seek(100)
        handle.write(bytes((n * 7 + 13) % 256 for n in range(size - 100)))


def corrupt_pages(db: Path) -> None:
    """Every page after the first overwritten: the schema is there, its tables are not."""
    size, page = db.stat().st_size, page_size(db)
    with db.open("r+b") as handle:
        handle.seek(page)
        handle.write(b"\x55" * (size - page))


def truncate_half(db: Path) -> None:
    page = page_size(db)
    pages = db.stat().st_size // page
    os.truncate(db, pages // 2 * page)


def truncate_header(db: Path) -> None:
    os.truncate(db, 50)


def newer_schema(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 99")


DAMAGE = {
    "corrupt-schema": (corrupt_schema, "corrupt"),
    "corrupt-pages": (corrupt_pages, "corrupt"),
    "truncated-half": (truncate_half, "corrupt"),
    "truncated-header": (truncate_header, ""),
    "newer-schema": (newer_schema, "newer"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_database_is_one_clean_error_and_left_as_it_is(
    env: Env, good_db: Path, damage: str
) -> None:
    db = good_db
    harm, needle = DAMAGE[damage]
    harm(db)
    before = siblings(db)
    for args in COMMANDS:
        one_error_line(run(env, args), 3, str(db), needle)
        assert siblings(db) == before, args


def test_a_database_that_is_a_directory_for_every_command(env: Env) -> None:
    env.write_config(CONFIG)
    env.db.mkdir()
    (env.db / "keep").write_text("mine")
    for args in COMMANDS:
        one_error_line(run(env, args), 3, str(env.db), "directory")
    assert [p.name for p in env.db.iterdir()] == ["keep"]


@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_a_database_that_is_a_device_or_a_fifo_is_named_so(env: Env, kind: str) -> None:
    """/dev/null was refused as "writable by others (chmod 600 it ...)", advice that breaks
    the host if followed as root; a FIFO gave a bare "disk I/O error"."""
    env.write_config(CONFIG)
    if kind == "FIFO":
        os.mkfifo(env.db, 0o600)
        where = str(env.db)
    else:
        where = "/dev/null"
    result = env.run("--db", where, "list", config=False)
    assert result.returncode == 3
    assert result.stderr == f"jobctl: database {where}: is a {kind}, not a database file\n"


FAILING = [
    (["enqueue", "nope"], 2),
    (["enqueue", "noop", "--payload", "[1]"], 2),
    (["enqueue", "noop", "--delay", "soon"], 2),
    (["enqueue", "--batch", "-"], 2),  # its last line is bad
    (["cancel", "999"], 1),
    (["cancel", "1"], 1),  # succeeded already
    (["dead", "retry", "3"], 1),  # queued, not dead
    (["retry", "3"], 1),  # not finished
    (["show", "999"], 1),
    (["logs", "3"], 1),  # has not run
    (["wait", "3", "--timeout", "0s"], 124),
    (["pause", "bad name!"], 2),
    (["prune", "--older-than", "soon"], 2),
]


def test_failed_commands_leave_a_good_database_byte_for_byte(env: Env, good_db: Path) -> None:
    before = siblings(good_db)
    for args, code in FAILING:
        bad_batch = BATCH + '{"job": "nope"}\n' if args[:2] == ["enqueue", "--batch"] else None
        result = env.run(*args, input=bad_batch)
        assert result.returncode == code, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert siblings(good_db) == before, args


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """The file made read-only for this user: mode 0400, or for root (who ignores modes) the
    immutable attribute, where the file system and capabilities allow it."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        try:
            yield
        finally:
            path.chmod(0o600)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root ignores file modes, and there is no chattr here")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"root ignores file modes, and chattr +i fails here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_refuses_writes_and_still_reads(env: Env, good_db: Path) -> None:
    db = good_db
    digest = file_digest(db)
    with read_only(db):
        for args in COMMANDS:
            result = run(env, args)
            if args[0] in WRITES:
                one_error_line(result, 3, str(db), "read-only")
            else:
                assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    assert file_digest(db) == digest
    assert consistency_problems(db) == []


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_clean_error_and_keeps_the_database(env: Env, good_db: Path) -> None:
    db = good_db
    digest = file_digest(db)
    jobs = env.run("list", "--json", "--limit", "0").stdout
    for args in COMMANDS:
        # Not a byte can be written, not even SQLite's shared-memory file, so reads fail too.
        # SQLite says "database or disk is full" for ENOSPC and "disk I/O error" for the
        # EFBIG of a size limit; either way the line names the disk.
        result = run(env, args, preexec_fn=file_size_limit(0))
        one_error_line(result, 3, str(db), "disk")
        assert file_digest(db) == digest, args
    # With room again, everything is as it was.
    assert env.run("list", "--json", "--limit", "0").stdout == jobs
    assert consistency_problems(db) == []
    assert env.run("enqueue", "noop").returncode == 0


def test_a_batch_that_fills_the_disk_is_one_clean_error(env: Env, good_db: Path) -> None:
    db = good_db
    digest = file_digest(db)
    big = "".join('{"job": "noop", "payload": {"pad": "%s"}}\n' % ("x" * 1000) for _ in range(3000))
    result = run_cli(env, "enqueue", "--batch", "-", input=big, preexec_fn=file_size_limit(200_000))
    assert file_digest(db) == digest
    one_error_line(result, 3, str(db), "disk")


def test_a_new_database_on_a_full_disk_fails_cleanly_and_can_be_created_later(env: Env) -> None:
    env.write_config(CONFIG)
    env.db = env.root / "state" / "q.db"
    one_error_line(run(env, ["enqueue", "noop"], preexec_fn=file_size_limit(0)), 3, "disk")
    # Room for part of the schema: SQLite rolls the migration back by itself, and the
    # migration's own ROLLBACK said "cannot rollback - no transaction is active" instead.
    for limit in (16 << 10, 32 << 10):
        result = run(env, ["enqueue", "noop"], preexec_fn=file_size_limit(limit))
        line = one_error_line(result, 3, "disk")
        assert "cannot rollback" not in line and f"at most {limit:,} bytes (ulimit -f)" in line
    # Nothing of the schema was kept: the database is made now, not "upgraded" from a part.
    made = env.run("enqueue", "noop")
    assert (made.returncode, made.stdout) == (0, "1\n"), made.stderr
    assert "is a new database" in made.stderr and "upgraded" not in made.stderr
    assert consistency_problems(env.db) == []


# ---------------------------------------------------------------------------------------------
# Configs that cannot be read


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_an_unreadable_config_is_one_clean_error(env: Env, good_db: Path) -> None:
    db = good_db
    before = siblings(db)
    env.config.chmod(0)
    try:
        for args in (["validate"], ["enqueue", "noop"], ["run-worker", "--burst"]):
            one_error_line(env.run(*args), 2, str(env.config), "permission denied")
    finally:
        env.config.chmod(0o600)
    assert siblings(db) == before


@pytest.mark.parametrize("how", ["--config", "JOBCTL_CONFIG"])
def test_a_config_that_is_a_symlink_loop_is_one_clean_error(
    env: Env, good_db: Path, how: str
) -> None:
    db = good_db
    before = siblings(db)
    loop_a, loop_b = env.root / "a.toml", env.root / "b.toml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    if how == "JOBCTL_CONFIG":
        env.env["JOBCTL_CONFIG"] = str(loop_a)
        options = ["--db", str(db)]
    else:
        options = ["--config", str(loop_a), "--db", str(db)]
    for args in (["validate"], ["enqueue", "noop"], ["run-worker", "--burst"]):
        result = run_with(env, options, *args)
        one_error_line(result, 2, "a.toml", "symbolic links")
    # The database is named: a command on stored jobs alone goes on, saying why.
    listed = run_with(env, options, "list")
    assert listed.returncode == 0
    assert listed.stderr.startswith("jobctl: warning: ") and "symbolic links" in listed.stderr
    assert siblings(db) == before


def test_a_local_jobs_toml_that_is_a_symlink_loop_is_named(env: Env, good_db: Path) -> None:
    db = good_db
    env.config.unlink()
    env.config.symlink_to(env.config)  # ./jobs.toml, found without --config
    result = run_with(env, ["--db", str(db)], "enqueue", "noop")
    one_error_line(result, 2, "jobs.toml", "symbolic links")


@pytest.mark.skipif(os.geteuid() != 0, reason="the check guards root's own commands")
def test_another_users_local_jobs_toml_is_refused_with_the_ways_to_pass_it_by(env: Env) -> None:
    """A ./jobs.toml that is rightly another user's (a colleague's checkout, /srv/app) was
    refused with chown as the only fix; a config named elsewhere is used instead of it."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    os.chown(env.config, 65534, -1)  # ./jobs.toml of the sandbox's folder, found unasked
    refused = run_with(env, ["--db", str(env.db)], "enqueue", "--exec", "--", "true")
    line = one_error_line(refused, 2, "owned by nobody")
    assert line.endswith(
        "(chown; chmod go-w FILE), or, where it is rightly another's, leave it out: run jobctl"
        " from another folder, or name your config (--config FILE or $JOBCTL_CONFIG, read"
        " before ./jobs.toml)"
    )
    mine = env.root / "mine.toml"
    mine.write_text('[jobs.ok]\ncommand = ["true"]\n')
    taken = run_with(env, ["--config", str(mine), "--db", str(env.db)], "enqueue", "ok")
    assert taken.returncode == 0, taken.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the check guards root's own commands")
def test_root_refuses_a_config_another_user_could_have_written(env: Env) -> None:
    """Root ran the commands of a world-writable config (or one in a folder anyone can
    write): anyone could make root run anything. cron refuses such a crontab too."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    assert env.run("validate").returncode == 0
    env.config.chmod(0o666)
    for command in (("validate",), ("run-worker", "--burst"), ("enqueue", "ok")):
        refused = env.run(*command)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr == (
            f"jobctl: {env.config} is writable by group or others (mode 0666, owner root (uid"
            " 0)): its commands would run as root (uid 0); make it yours (or root's) and not"
            " group- or world-writable (chown; chmod go-w FILE)\n"
        )
    env.config.chmod(0o644)
    os.chown(env.config, 65534, -1)
    assert "is owned by nobody (uid 65534), not by root (uid 0)" in env.run("validate").stderr
    os.chown(env.config, 0, -1)
    folder = env.config.parent
    mode = folder.stat().st_mode & 0o7777
    try:
        folder.chmod(0o777)
        assert "its folder" in env.run("validate").stderr
        folder.chmod(0o1777)  # sticky, as /tmp: only root may replace root's file
        assert env.run("validate").returncode == 0
    finally:
        folder.chmod(mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system takes root")
def test_a_database_on_a_read_only_mount_or_a_full_disk_is_said_to_be_so(
    env: Env, tmp_path: Path
) -> None:
    """The error blamed permissions ('not writable by this user') on files of the user's own,
    mode 0600, where the file system was mounted read-only."""
    with small_file_system(tmp_path / "mnt", "size=4m") as mount:
        env.write_config('[jobs.ok]\ncommand = ["true"]\n')
        db = mount / "q.db"
        assert run_with(env, ["--db", str(db)], "enqueue", "ok").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        for args in (["enqueue", "ok"], ["cancel", "1"]):
            result = run_with(env, ["--db", str(db)], *args)
            one_error_line(
                result, 3, "q.db", f"the file system holding {mount} is mounted read-only"
            )
        # Reads of a database at rest (a snapshot, a disk remounted read-only after errors)
        # were refused as well: they read it as it is (nothing can be changing it).
        for args in (["list", "--json"], ["show", "1", "--json"], ["status", "--json"]):
            result = run_with(env, ["--db", str(db)], *args)
            assert (result.returncode, result.stderr) == (0, "")
        assert json.loads(run_with(env, ["--db", str(db)], "list", "--json").stdout)[0]["id"] == 1
        # A full disk: `list` said "disk I/O error", sending one to look for a failing disk.
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
        for args in (["enqueue", "ok"], ["list"]):
            result = run_with(env, ["--db", str(db)], *args)
            one_error_line(result, 3, "q.db", "the disk is full")


def test_a_database_cut_to_nothing_is_not_read_as_an_empty_queue(env: Env) -> None:
    """`: > q.db` (a failed copy, a stray redirection): list, status and health said all was
    well, and the read-only `list` wrote a new schema into it."""
    env.write_config(CONFIG)
    env.enqueue("noop")
    for suffix in ("-wal", "-shm"):
        Path(f"{env.db}{suffix}").unlink(missing_ok=True)
    env.db.write_bytes(b"")
    for args in (["list"], ["status"]):
        one_error_line(run(env, args), 3, str(env.db), "is empty (0 bytes)")
    unhealthy = run(env, ["health"])  # a failed check: exit 1
    assert unhealthy.returncode == 1
    assert unhealthy.stderr.startswith("jobctl: unhealthy: database: ")
    assert "is empty (0 bytes)" in unhealthy.stderr
    assert env.db.stat().st_size == 0
    # One copied elsewhere has no lock file beside it: the same (it had a schema written in).
    elsewhere = env.root / "copy"
    elsewhere.mkdir(mode=0o700)
    copy = elsewhere / "q.db"
    copy.write_bytes(b"")
    result = run_with(env, ["--db", str(copy)], "status")
    one_error_line(result, 3, str(copy), "is empty (0 bytes)")
    assert copy.stat().st_size == 0
    assert env.run("--db", str(copy), "enqueue", "noop").returncode == 0  # a writer makes it


@pytest.mark.parametrize("held", [True, False], ids=["workers-running", "at-rest"])
def test_prune_frees_a_disk_its_logs_filled(env: Env, held: bool) -> None:
    """Logs beside the database filled its disk: `prune` could not write its delete (and with
    no process holding the database, not even read it), and freed nothing (exit 3), when it
    is the tool an operator reaches for."""
    with small_file_system(env.root / "small", "size=4m") as small:
        env.db = small / "q.db"
        env.write_config(
            '[settings]\nlog_max_bytes = "300KiB"\n'
            '[jobs.big]\ncommand = ["sh", "-c", "head -c 250000 /dev/urandom | base64"]\n'
        )
        env.run("enqueue", "--batch", "-", input='{"job": "big"}\n' * 8, check=True)
        env.run("run-worker", "--burst", check=True)
        # A running worker keeps the -wal and -shm; with none, a read must make a -shm.
        holder = sqlite3.connect(env.db) if held else None
        if holder is not None:
            holder.execute("SELECT COUNT(*) FROM jobs").fetchone()
        with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
            while True:  # the disk is full now
                filler.write(b"\0" * 65536)
                filler.flush()
        pruned = env.run("prune", "--older-than", "0s")
        if holder is not None:
            holder.close()
        assert pruned.returncode == 0, pruned.stderr
        assert pruned.stdout.startswith("pruned 8 job(s), removed 8 log file(s)")
        assert list((small / "q.db.logs").rglob("*.log")) == []


def test_a_file_system_out_of_inodes_is_named(env: Env) -> None:
    """With blocks free but no inode for the -shm, the line said "cannot open the database
    file (check that its directory exists and is writable)"; it exists and is writable."""
    with small_file_system(env.root / "small", "size=10m,nr_inodes=16") as small:
        env.db = small / "q.db"
        env.write_config(CONFIG)
        env.enqueue("noop")
        with contextlib.suppress(OSError):
            for n in range(100):  # every inode taken
                (small / f"f{n}").touch()
        for args in (["list"], ["enqueue", "noop"]):
            one_error_line(run(env, args), 3, str(env.db), "no free inodes left (df -i)")


def test_a_log_folder_whose_parent_is_missing_is_refused_not_made_with_it(env: Env) -> None:
    """A `log_dir` below a disk that is not mounted (or with a typo in it) was made with all
    its parents, so that logs filled the root file system unseen, and `validate` said ok:
    only the log folder itself is made, its parent must be there."""
    unmounted = env.root / "mnt" / "logs"
    env.write_config(f'[settings]\nlog_dir = "{unmounted}/jobctl"\n' + CONFIG)
    env.enqueue("noop")
    words = f"log folder {unmounted}/jobctl cannot be made: its parent {unmounted} does not exist"
    one_error_line(run(env, ["run-worker", "--burst"]), 2, words)
    checked = env.run("validate")
    assert words in checked.stderr and checked.stderr.count("\n") == 1, checked.stderr
    assert not (env.root / "mnt").exists()
    unmounted.mkdir(parents=True)  # the disk mounted: its log folder is made
    env.run("run-worker", "--burst", check=True)
    assert env.run("validate").stderr == ""
    assert (unmounted / "jobctl").is_dir() and env.show(1)["state"] == "succeeded"


@pytest.mark.parametrize("command", [["run-worker", "--burst"], ["up"]])
def test_a_worker_refused_for_its_log_folder_makes_no_database(
    env: Env, command: list[str]
) -> None:
    """Refused for a log folder that cannot be made (exit 2), a worker had made its new
    database and its lock file first, and left them behind, empty."""
    env.db = env.root / "new" / "q.db"
    env.db.parent.mkdir()
    unmounted = env.root / "mnt" / "logs"
    env.write_config(f'[settings]\nlog_dir = "{unmounted}/jobctl"\n' + CONFIG)
    words = f"log folder {unmounted}/jobctl cannot be made: its parent {unmounted} does not exist"
    one_error_line(run(env, command), 2, words)
    assert list(env.db.parent.iterdir()) == []
    assert not (env.root / "mnt").exists()


def test_the_folders_above_a_server_s_default_log_folder_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis store's logs go to `$XDG_STATE_HOME/jobctl/logs/<server>/` by default: a
    first worker there makes the folders above it, as before."""
    from jobctl.logfolders import check_log_root, log_root_problem

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = str(tmp_path / "state" / "jobctl" / "logs" / "localhost_6379_0")
    assert log_root_problem(root) is None
    check_log_root(root)
    assert os.path.isdir(root)


def test_the_wake_folder_of_a_database_reached_through_a_link_is_checked_beside_its_file(
    env: Env,
) -> None:
    """Every path to one database shares the wake folder beside its file: through a link, the
    one beside the link was looked at (and made), and one beside the file that others may
    write to, where the workers that name the file listen, went unseen."""
    real = env.root / "real"
    real.mkdir(mode=0o700)
    env.db = real / "q.db"
    env.write_config(CONFIG)
    env.enqueue("noop")
    wake = real / "q.db.wake"
    wake.mkdir()
    wake.chmod(0o777)
    (env.root / "link.db").symlink_to(env.db)
    env.db = env.root / "link.db"
    problem = "wake folder", "writable by group or others"
    for args in (["list"], ["enqueue", "noop"]):
        one_error_line(run(env, args), 3, str(wake.resolve()), *problem)
    assert not (env.root / "link.db.wake").exists()

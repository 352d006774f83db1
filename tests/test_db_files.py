"""The files a --db names, as jobctl leaves them: one it refuses (not SQLite, another
program's database) exactly as it was, and a backup target it cannot make said to be the
caller's mistake, not a database that cannot be used.

A typo such as `--db ~/.bashrc` or `JOBCTL_DB=/srv/app/app.db` must not make a shared file
private: the programs and users that read it would lose it. jobctl makes a file private only
once it knows the file is its own database, or one it has just made.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib import file_digest, one_error_line
from conftest import Env

CONFIG = '[jobs.backup]\ncommand = ["echo", "backup {dest}"]\nmax_attempts = 1\n'
COMMANDS = (["list"], ["status"], ["enqueue", "backup", "--arg", "dest=x"], ["stats"])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def folder_state(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry of `folder`: its mode, owner and (a file's) content."""
    return {
        entry.name: (
            mode(entry),
            entry.lstat().st_uid,
            file_digest(entry) if entry.is_file() else "",
        )
        for entry in folder.iterdir()
    }


def another_programs_database(path: Path, journal_mode: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('alice')")
        conn.commit()


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "wal":
    conn.execute("PRAGMA journal_mode = WAL")
conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
print("ready", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def held_open(path: Path, journal_mode: str = "") -> Iterator[None]:
    """The database open in another process (so that its locks are its own: any close of
    the file in this one would drop them), its -wal and -shm beside it meanwhile, and what
    others write there left in the -wal: no close but the last one checkpoints."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), journal_mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize("kind", ["text", "sqlite", "sqlite-wal", "sqlite-wal-in-use"])
def test_a_file_that_is_not_jobctls_is_refused_and_left_as_it_was(env: Env, kind: str) -> None:
    env.write_config(CONFIG)
    shared = env.root / "shared"
    shared.mkdir(mode=0o700)
    env.db = shared / "app.db"
    if kind == "text":
        env.db.write_text("127.0.0.1 localhost\n")
        expected = "not sqlite"
    else:
        another_programs_database(env.db, "delete" if kind == "sqlite" else "wal")
        expected = "another program"
    with held_open(env.db) if kind == "sqlite-wal-in-use" else contextlib.nullcontext():
        for name in os.listdir(shared):
            (shared / name).chmod(0o644)  # readable by the group of a web app, say
        before = folder_state(shared)
        if kind == "sqlite-wal-in-use":
            assert {"app.db-wal", "app.db-shm"} <= set(before)
        for args in COMMANDS:
            one_error_line(env.run(*args), 3, str(env.db), "not a jobctl database", expected)
            assert folder_state(shared) == before, args
    assert not (shared / "app.db.logs").exists() and not (shared / "app.db.wake").exists()


def test_a_jobctl_database_others_can_read_is_made_private_with_its_wal(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    with held_open(env.db):  # its -wal and -shm stay while the file is opened up
        files = [env.db, Path(f"{env.db}-wal"), Path(f"{env.db}-shm")]
        for path in files:
            path.chmod(0o644)
        assert env.run("list", check=True).stdout.count("backup") == 1
        assert [mode(path) for path in files] == [0o600, 0o600, 0o600]


def test_a_jobctl_database_whose_schema_is_only_in_its_wal_is_made_private(env: Env) -> None:
    # The header of the file does not say it is jobctl's (nothing was checkpointed while
    # another process held it open): SQLite reading its schema does.
    env.write_config(CONFIG)
    env.db.touch(mode=0o600)
    with held_open(env.db, "wal"):
        env.enqueue("backup", "--arg", "dest=x")
        assert env.db.read_bytes()[68:72] == bytes(4)  # no application id in the file yet
        files = [env.db, Path(f"{env.db}-wal"), Path(f"{env.db}-shm")]
        for path in files:
            path.chmod(0o644)
        assert env.run("list", check=True).stdout.count("backup") == 1
        assert [mode(path) for path in files] == [0o600, 0o600, 0o600]


def test_a_new_database_is_made_private_in_private_folders(env: Env) -> None:
    """In the default location, every missing folder down to it is made (a new account has
    no ~/.local/state)."""
    env.write_config(CONFIG)
    old = os.umask(0o022)
    try:
        env.db = Path(env.env["XDG_STATE_HOME"]) / "jobctl" / "jobctl.db"
        assert not env.db.parent.parent.exists()
        env.enqueue("backup", "--arg", "dest=x")
    finally:
        os.umask(old)
    assert mode(env.db.parent) == mode(env.db.parent.parent) == 0o700
    assert mode(env.db) == 0o600
    for suffix in ("-wal", "-shm"):
        beside = Path(f"{env.db}{suffix}")
        assert not beside.exists() or mode(beside) == 0o600


def test_a_database_named_below_a_missing_folder_s_missing_parent_is_refused(env: Env) -> None:
    """`--db /sr/jobctl/q.db` (a typo), or a path on a disk not mounted: every folder down
    to it was made, and the job stored there with only the note of a new database. As for a
    log folder, only a folder whose parent exists is made."""
    env.write_config(CONFIG)
    env.db = env.root / "typo" / "jobctl" / "q.db"
    refused = one_error_line(env.run("enqueue", "backup", "--arg", "dest=x"), 3)
    assert refused == (
        f"jobctl: database {env.db}: neither its folder {env.db.parent} nor"
        f" {env.db.parent.parent} exists (a typo, or a disk not mounted?): make the folder"
        f" first (mkdir -p -m 700 {env.db.parent})"
    )
    assert not (env.root / "typo").exists()
    env.db = env.root / "one" / "q.db"  # its parent exists: made
    env.enqueue("backup", "--arg", "dest=x")
    assert mode(env.db.parent) == 0o700


@pytest.mark.parametrize("where", ["missing folder", "a file as folder"])
def test_a_backup_target_that_cannot_be_made_is_a_usage_error(env: Env, where: str) -> None:
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    if where == "missing folder":
        target = env.root / "nodir" / "b.db"
    else:
        (env.root / "plain").write_text("")
        target = env.root / "plain" / "b.db"
    line = one_error_line(env.run("backup", str(target)), 2, f"backup {target}", "cannot create")
    assert line.count("cannot create") == 1
    assert not target.parent.is_dir() or list(target.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["nodir/", "nodir/.", "."])
def test_a_backup_target_that_names_a_folder_is_a_usage_error(env: Env, name: str) -> None:
    """A name ending in '/' (its folder missing) failed as a database that cannot be used,
    exit 3, saying only "No such file or directory"."""
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    target = f"{env.root}/{name}"
    one_error_line(env.run("backup", target), 2, f"backup {target}: names a folder")
    assert sorted(p.name for p in env.root.iterdir() if p.name.startswith((".", "nodir"))) == []


def test_a_new_database_has_small_pages(env: Env) -> None:
    """A worker's commit writes each page it changed whole: 1 KiB pages, not SQLite's 4 KiB
    (see connection.PAGE_SIZE)."""
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=a")
    with contextlib.closing(sqlite3.connect(env.db)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 1024

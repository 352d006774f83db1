"""Hostile ownership: files and folders that another user made (or left open to others)
where jobctl keeps its own, as they would be in a shared folder such as /tmp.

Another user who makes the database file, its -wal or -shm, its lock file or its wake
folder before jobctl does would read every payload and hand whoever runs the worker (root,
say) their own jobs. Each is refused, with one line naming the path, the owner and what is
wrong, and exit 3; nothing is written into it. A file the user made themselves (`touch`) is
made private instead. The log root and its folders must be real folders of the user's,
closed to others; a log is made in the folder that was checked even if the name is swapped
afterwards, and a log hard-linked to another file is never emptied.

"Another user" is uid 1001, made the owner with chown: those tests run only as root. The
ones that need jobctl to run as a user other than root (a folder it cannot search, a file
it cannot write) run as that user when the suite runs as root (through `setpriv`, skipped
without it), and as the suite's own user otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib import file_digest, one_error_line, page_size
from conftest import JOBCTL, Env
from test_ops_support import start_worker, wait_state

import jobctl

OTHER = 1001  # the other user (mallory in the review's sandbox); needs no passwd entry
SECRET = "token-8f1e2d3c-do-not-leak"
CONFIG = '[jobs.backup]\ncommand = ["echo", "backup {dest}"]\nmax_attempts = 1\n'
ROOT = os.geteuid() == 0
as_root = pytest.mark.skipif(not ROOT, reason="only root can make a file another user's")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def leaked(root: Path) -> list[Path]:
    """Every file under `root` that holds the secret payload."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                if SECRET.encode() in path.read_bytes():
                    found.append(path)
    return found


def enqueue_secret(env: Env) -> subprocess.CompletedProcess[str]:
    return env.run("enqueue", "backup", "--arg", f"dest=s3://bucket?token={SECRET}")


# ---------------------------------------------------------------------------------------------
# The database and the files beside it


def plant(path: Path, *, folder: bool, owner: str) -> None:
    """A file or folder as someone preparing a shared folder would leave it: open to all,
    and another user's (owner "other") or this user's own (owner "self")."""
    if folder:
        path.mkdir()
        path.chmod(0o777)
    else:
        path.touch()
        path.chmod(0o666)
    if owner == "other":
        os.chown(path, OTHER, OTHER)


PLANTED = {
    # name: (suffix after "q.db", a folder, the text naming it in the refusal)
    "database": ("", False, ""),
    "wal": ("-wal", False, ""),
    "shm": ("-shm", False, ""),
    "journal": ("-journal", False, ""),
    "lock": (".lock", False, "lock file"),
    "scheduler lock": (".scheduler.lock", False, "lock file"),
    "wake": (".wake", True, "wake folder"),
}
OWNERS = [pytest.param("other", marks=as_root), "self"]


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("what", list(PLANTED))
def test_a_planted_database_file_or_folder_is_refused(env: Env, what: str, owner: str) -> None:
    env.write_config(CONFIG)
    suffix, folder, named = PLANTED[what]
    if folder and owner == "self":
        pytest.skip("a folder of the user's own is tightened: see the test below")
    planted = env.db.with_name(env.db.name + suffix)
    plant(planted, folder=folder, owner=owner)
    problem = "uid 1001" if owner == "other" else "writable by group or others"
    one_error_line(enqueue_secret(env), 3, str(planted), problem, named)
    for args in (["list"], ["run-worker", "--burst"]):
        one_error_line(env.run(*args), 3, str(planted), problem)
    assert leaked(env.root) == []
    if what == "database":
        assert planted.stat().st_size == 0  # nothing written into it


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("suffix", [".lock", ".scheduler.lock", "-wal"])
def test_a_file_beside_the_database_changed_later_is_refused(
    env: Env, suffix: str, owner: str
) -> None:
    """The lock file was checked only when the database was made: made another user's, or
    writable by others, later, every command went on using it."""
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    planted = env.db.with_name(env.db.name + suffix)
    planted.touch()
    if owner == "other":
        os.chown(planted, OTHER, OTHER)
    else:
        planted.chmod(0o666)
    problem = "uid 1001" if owner == "other" else "writable by group or others"
    for args in (["list"], ["run-worker", "--burst"], ["schedule-daemon"]):
        one_error_line(env.run(*args), 3, str(planted), problem)


def hot_journal(template: Path) -> bytes:
    """A rollback journal that makes any database hold `template`'s pages: what another user
    can write as `<db>-journal` (SQLite's format: a header, then each page with its number
    and a checksum seeded by the header's nonce)."""
    import struct

    data = template.read_bytes()
    size, nonce = page_size(template), 0x12345678
    pages = len(data) // size
    header = bytes.fromhex("d9d505f920a163d7") + struct.pack(
        ">IIIII", pages, nonce, pages, 512, size
    )
    out = bytearray(header.ljust(512, b"\0"))
    for number in range(1, pages + 1):
        page = data[(number - 1) * size : number * size]
        checksum, at = nonce, size - 200
        while at > 0:
            checksum, at = (checksum + page[at]) & 0xFFFFFFFF, at - 200
        out += struct.pack(">I", number) + page + struct.pack(">I", checksum)
    return bytes(out)


@pytest.mark.parametrize("sticky", [True, False], ids=["sticky", "open"])
def test_a_database_in_a_folder_others_can_write_is_refused(env: Env, sticky: bool) -> None:
    """Another user who can make files beside the database can make a `-journal` there, which
    SQLite rolls into the database at its next open: their job, run by this user's worker
    (root's). No check of the file itself closes this: they can make it between the check
    and the open. So the folder must be closed to others; sticky (/tmp) is not enough."""
    env.write_config(CONFIG)
    shared = env.root / "shared"
    shared.mkdir()
    env.db = shared / "q.db"
    assert env.enqueue("backup", "--arg", "dest=mine") == 1
    # The attack: a journal of the pages of another database, one with their job in it.
    theirs = env.root / "theirs"
    theirs.mkdir(mode=0o700)
    mine = env.db
    env.db = theirs / "t.db"
    env.run("enqueue", "--exec", "--", "touch", str(env.root / "PWNED"), check=True)
    with contextlib.closing(sqlite3.connect(env.db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    env.db = mine
    shared.chmod(0o1777 if sticky else 0o777)
    journal = shared / "q.db-journal"
    journal.write_bytes(hot_journal(theirs / "t.db"))
    if ROOT:
        os.chown(journal, OTHER, OTHER)
    # It is real: SQLite itself, on a copy, rolls the journal in and holds their job alone.
    proof = env.root / "proof"
    proof.mkdir(mode=0o700)
    for suffix in ("", "-journal"):
        shutil.copyfile(shared / f"q.db{suffix}", proof / f"q.db{suffix}")
    with contextlib.closing(sqlite3.connect(proof / "q.db")) as conn:
        assert [row[0] for row in conn.execute("SELECT job FROM jobs")] == ["exec"]
    digest = file_digest(env.db)
    for args in (["list"], ["enqueue", "backup", "--arg", "dest=x"], ["run-worker", "--burst"]):
        one_error_line(env.run(*args), 3, f"its folder {shared}", "writable by group or others")
    assert file_digest(env.db) == digest and journal.exists()
    assert not (env.root / "PWNED").exists()
    # A new database is not made there either; a folder of one's own is fine.
    env.db = shared / "new.db"
    one_error_line(env.run("enqueue", "backup", "--arg", "dest=x"), 3, "mkdir -m 700")
    assert not env.db.exists()
    shared.chmod(0o755)
    journal.unlink()
    env.db = mine
    assert env.run("list", check=True).stdout.count("backup") == 1


@as_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_a_group_writable_folder_is_no_private_group_when_another_account_has_it_as_primary(
    env: Env,
) -> None:
    """A folder writable by the owner's group of its own name counts as the owner's alone
    only if no one else is in that group: an account whose *primary* group it is (`useradd
    -g root ops`, the gid 0 accounts some distributions ship) is listed in no group entry,
    and could move the database away or plant a -journal beside it."""
    env.write_config(CONFIG)
    folder = env.root / "team"
    folder.mkdir()
    folder.chmod(0o770)  # root:root, writable by the group root
    env.db = folder / "q.db"
    assert env.enqueue("backup", "--arg", "dest=x") == 1  # root's own group: accepted
    # The account is seen by this one command alone, through a passwd file of its own bound
    # over /etc/passwd in a mount namespace: added to the host's, it made root's group no
    # private group for every test running beside this one.
    passwd = env.root / "passwd"
    passwd.write_text(
        Path("/etc/passwd").read_text() + "jqops:x:60001:0::/nonexistent:/bin/false\n"
    )
    bound = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    bound += ['mount --bind "$0" /etc/passwd && exec "$@"', str(passwd), *JOBCTL]
    refused = subprocess.run(
        [*bound, *env.global_args(), "list"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "mount" in refused.stderr and refused.returncode != 3:
        pytest.skip(f"no mount namespace here: {refused.stderr.strip()}")
    one_error_line(refused, 3, f"its folder {folder}", "writable by group or others")
    assert env.run("list", check=True).stdout.count("backup") == 1


@as_root
def test_root_refuses_a_database_in_a_folder_another_user_owns(env: Env) -> None:
    # Its owner may rename or delete root's queue, and make any file beside it.
    env.write_config(CONFIG)
    theirs = env.root / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, OTHER, OTHER)
    env.db = theirs / "q.db"
    one_error_line(enqueue_secret(env), 3, f"its folder {theirs}", "uid 1001", "not by root")
    assert list(theirs.iterdir()) == []


@as_root
def test_root_refuses_a_database_another_user_owns_even_a_private_one(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    os.chown(env.db, OTHER, OTHER)  # still 0600: but its owner can change it at will
    digest = file_digest(env.db)
    for args in (["list"], ["enqueue", "backup", "--arg", "dest=y"]):
        one_error_line(
            env.run(*args), 3, str(env.db), "owned by", "uid 1001", "not by root", "sudo -u "
        )
    assert file_digest(env.db) == digest


@as_root
def test_a_database_behind_another_users_folder_symlink_is_refused(env: Env) -> None:
    """A link to the database file of another user's is refused; one to its folder was
    followed: they could point it at any of root's databases, or at a private folder of
    root's to make a new one in, and root's commands acted on that."""
    env.write_config(CONFIG)
    private = env.root / "private"
    private.mkdir(mode=0o700)
    env.db = private / "q.db"
    env.enqueue("backup", "--arg", "dest=x")
    link = env.root / "qdir"
    link.symlink_to(private)
    os.lchown(link, OTHER, OTHER)
    for name in ("q.db", "new.db"):
        env.db = link / name
        one_error_line(env.run("list"), 3, f"its folder {link}", "symbolic link", "uid 1001")
        one_error_line(enqueue_secret(env), 3, f"its folder {link}", "symbolic link")
    assert sorted(p.name for p in private.iterdir() if not p.name.startswith("q.db")) == []
    os.lchown(link, 0, 0)  # root's own link is followed, as before
    env.db = link / "q.db"
    assert env.run("list", check=True).stdout.count("backup") == 1


@as_root
def test_a_database_that_is_another_users_symlink_is_refused(env: Env) -> None:
    # Pointing at a database of root's now, it could be pointed at one of theirs at any time.
    env.write_config(CONFIG)
    real = env.root / "real.db"
    env.db = real
    env.enqueue("backup", "--arg", "dest=x")
    link = env.root / "shared.db"
    link.symlink_to(real)
    os.lchown(link, OTHER, OTHER)
    env.db = link
    one_error_line(env.run("list"), 3, str(link), "symbolic link", "uid 1001")
    one_error_line(enqueue_secret(env), 3, str(link), "symbolic link")
    assert leaked(env.root) == []


def test_a_database_file_the_user_made_with_touch_is_made_private(env: Env) -> None:
    env.write_config(CONFIG)
    old = os.umask(0o022)
    try:
        env.db.touch()
    finally:
        os.umask(old)
    assert mode(env.db) == 0o644
    assert env.enqueue("backup", "--arg", "dest=x") == 1
    assert mode(env.db) == 0o600
    # One with jobs in it that was opened up since (by an older jobctl, say) is made private
    # again too, by reading it as much as by writing it.
    env.db.chmod(0o644)
    assert env.run("list", check=True).stdout.count("backup") == 1
    assert mode(env.db) == 0o600


def test_a_corrupt_schema_that_is_not_text_is_a_corrupt_database(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("backup", "--arg", "dest=x")
    data = bytearray(env.db.read_bytes())
    at = data.find(b"CREATE TABLE")
    assert at > 0
    data[at + 7] = 0xFF  # not UTF-8: SQLite's own error message cannot even be decoded
    env.db.write_bytes(bytes(data))
    for args in (["list"], ["status"], ["enqueue", "backup", "--arg", "dest=y"]):
        one_error_line(env.run(*args), 3, str(env.db), "corrupt")


# ---------------------------------------------------------------------------------------------
# jobctl run by a user other than root


@pytest.fixture(scope="module")
def user_python() -> list[str] | None:
    """The command that runs Python as another user than root: as uid OTHER (through
    setpriv) with our interpreter, or a system one of the same version if ours lives where
    that user cannot go (/root); [] when we are not root (we are such a user already)."""
    if not ROOT:
        return []
    if shutil.which("setpriv") is None:
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        argv = [*SETPRIV, python, "-c", "import jobctl.cli.main"]
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run(argv, capture_output=True, timeout=60, env=user_environ(None))
            if done.returncode == 0:
                return [*SETPRIV, python]
    return None


SETPRIV = ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups"]


def user_environ(top: Path | None) -> dict[str, str]:
    """A clean environment for that user: our jobctl and its libraries, a home of theirs."""
    source = str(Path(jobctl.__file__).resolve().parents[1])
    home = str(top / "home") if top else "/nonexistent"
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "XDG_CONFIG_HOME": f"{home}/.config",
        "XDG_STATE_HOME": f"{home}/.local/state",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([source, sysconfig.get_paths()["purelib"]]),
    }


@pytest.fixture
def user_dir(user_python: list[str] | None) -> Iterator[Path]:
    """A folder of that user's, which they can reach (the test's own tmp_path is root's)."""
    if user_python is None:
        pytest.skip("running as root, without setpriv or an interpreter uid 1001 can run")
    top = Path(tempfile.mkdtemp(prefix="jobctl-ownership-"))
    try:
        top.chmod(0o755)
        (top / "home").mkdir()
        (top / "jobs.toml").write_text(CONFIG)
        (top / "jobs.toml").chmod(0o644)
        if ROOT:
            os.chown(top, OTHER, OTHER)
            os.chown(top / "home", OTHER, OTHER)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_user(
    user_python: list[str] | None, top: Path, db: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`jobctl --config top/jobs.toml --db DB ARGS...`, run as that user."""
    assert user_python is not None
    python = user_python or [sys.executable]
    return subprocess.run(
        [*python, "-m", "jobctl", "--config", str(top / "jobs.toml"), "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=user_environ(top),
        cwd=top,
    )


def users_database(user_python: list[str] | None, top: Path) -> Path:
    """A database of that user's, with one job, in a private folder of theirs below `top`."""
    folder = top / "state"
    folder.mkdir(mode=0o700)
    if ROOT:
        os.chown(folder, OTHER, OTHER)
    db = folder / "q.db"
    made = as_user(user_python, top, db, "enqueue", "backup", "--arg", "dest=x")
    assert made.returncode == 0, made.stderr
    return db


def test_a_database_behind_a_folder_the_user_cannot_search_is_permission_denied(
    user_python: list[str] | None, user_dir: Path
) -> None:
    closed = user_dir / "closed"
    closed.mkdir()
    db = closed / "q.db"
    # The database is the user's; only the folder on its path is closed to them.
    made = as_user(user_python, user_dir, user_dir / "q.db", "enqueue", "backup", "--arg", "dest=x")
    assert made.returncode == 0, made.stderr
    (user_dir / "q.db").rename(db)
    closed.chmod(0o700 if ROOT else 0o000)  # root's when we are root: closed to the user
    try:
        # A worker said its log folder (exit 2), taking the database for one to be made.
        for args in (["list"], ["enqueue", "backup", "--arg", "dest=x"], ["run-worker", "--burst"]):
            result = as_user(user_python, user_dir, db, *args)
            one_error_line(result, 3, str(db), "permission denied")
        new = closed / "sub" / "new.db"
        result = as_user(user_python, user_dir, new, "enqueue", "backup", "--arg", "dest=x")
        one_error_line(result, 3, str(new), "permission denied")
    finally:
        closed.chmod(0o700)


def test_a_read_only_sidecar_left_by_a_reader_is_named_and_mended(
    user_python: list[str] | None, user_dir: Path
) -> None:
    # A read of a read-only database leaves its -wal and -shm read-only too; once the file
    # is made writable again, they must not keep it read-only.
    db = users_database(user_python, user_dir)
    db.chmod(0o400)
    assert as_user(user_python, user_dir, db, "list").returncode == 0
    if not all(Path(f"{db}{suffix}").exists() for suffix in ("-wal", "-shm")):
        pytest.skip("this SQLite leaves no -wal and -shm after a read-only read")
    result = as_user(user_python, user_dir, db, "enqueue", "backup", "--arg", "dest=y")
    one_error_line(result, 3, str(db), "read-only", "q.db-shm")
    db.chmod(0o600)
    result = as_user(user_python, user_dir, db, "enqueue", "backup", "--arg", "dest=z")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.strip() == "2"


def test_logs_of_a_log_folder_the_user_cannot_search_is_one_line(
    user_python: list[str] | None, user_dir: Path
) -> None:
    """A folder of the logs closed to the user (a chmod, a restore) ended `logs` with
    'unexpected error: PermissionError', where an unreadable log file is one line."""
    db = users_database(user_python, user_dir)
    folder = db.parent
    ran = as_user(user_python, user_dir, db, "run-worker", "--burst")
    assert ran.returncode == 0, ran.stderr
    logs = folder / "q.db.logs" / "00000"
    assert (logs / "1.1.log").exists()
    logs.chmod(0o000)
    try:
        for args in (["logs", "1"], ["logs", "1", "--lines", "5"], ["logs", "1", "--follow"]):
            result = as_user(user_python, user_dir, db, *args)
            one_error_line(result, 1, f"cannot read {logs / '1.1.log'}", "permission denied")
    finally:
        logs.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# The scheduler's lock


@as_root
def test_a_planted_scheduler_lock_stops_the_daemon_with_one_line(env: Env) -> None:
    """It stood by for good, saying so once at info level: no schedule fired while the
    service looked healthy."""
    env.write_config(
        CONFIG + '\n[schedules.nightly]\njob = "backup"\ncron = "@every 1h"\n'
        'payload = { dest = "nightly" }\n'
    )
    env.enqueue("backup", "--arg", "dest=x")  # the database exists, root's
    lock = env.root / "q.db.scheduler.lock"
    plant(lock, folder=False, owner="other")
    for args in (["schedule-daemon"], ["up"]):
        one_error_line(env.run(*args, timeout=30), 3, str(lock), "uid 1001")


# ---------------------------------------------------------------------------------------------
# Log folders


def job_error(env: Env, job_id: int) -> str:
    job = env.show(job_id)
    assert job["state"] == "dead", job
    return str(job["error"])


@as_root
def test_a_log_root_that_is_not_private_is_refused(env: Env) -> None:
    env.write_config(CONFIG)
    root = env.root / "q.db.logs"
    plant(root, folder=True, owner="other")
    job_id = env.enqueue("backup", "--arg", f"dest={SECRET}")
    # Refused at the worker's start, once, with the fix: not job after job.
    one_error_line(
        env.run("run-worker", "--burst"), 2, f"log folder {root}", "uid 1001", "chmod go-w"
    )
    assert env.show(job_id)["state"] == "queued"
    assert list(root.iterdir()) == []  # nothing made in it


def test_folders_a_umask_of_002_leaves_to_the_users_private_group_are_accepted(
    env: Env,
) -> None:
    """A umask of 002 with a group of one's own (Debian's, Fedora's) makes folders 0775,
    writable by that group alone, and an older jobctl accepted them: the jobs run, and
    jobctl changes no folder's mode (it may be /var/log or a team's)."""
    env.write_config(CONFIG)
    folders = [env.root / "q.db.logs", env.root / "q.db.wake"]
    for folder in folders:
        folder.mkdir()
        folder.chmod(0o2775)
    job_id = env.enqueue("backup", "--arg", "dest=x")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert env.run("logs", str(job_id), check=True).stdout == "backup x\n"
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o2775, folder


@as_root
def test_a_log_folder_a_shared_group_may_write_to_is_refused_and_left_alone(env: Env) -> None:
    import grp

    shared = next((g for g in grp.getgrall() if g.gr_gid not in (0, os.getgid())), None)
    if shared is None:
        pytest.skip("no group other than root's on this host")
    env.write_config(CONFIG)
    root = env.root / "q.db.logs"
    root.mkdir()
    os.chown(root, 0, shared.gr_gid)
    root.chmod(0o2775)
    job_id = env.enqueue("backup", "--arg", "dest=x")
    one_error_line(env.run("run-worker", "--burst"), 2, "writable by group or others")
    assert env.show(job_id)["state"] == "queued"
    assert stat.S_IMODE(root.stat().st_mode) == 0o2775 and list(root.iterdir()) == []


@as_root
def test_a_log_root_that_is_another_users_symlink_is_not_followed(env: Env) -> None:
    env.write_config(CONFIG)
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = env.root / "q.db.logs"
    link.symlink_to(elsewhere)
    os.lchown(link, OTHER, OTHER)
    job_id = env.enqueue("backup", "--arg", "dest=x")
    worker = env.run("run-worker", "--burst")
    one_error_line(worker, 2, f"log folder {link}", "symbolic link")
    assert "(make it a folder of this user's, or set [settings] log_dir)" in worker.stderr
    assert env.show(job_id)["state"] == "queued"
    assert list(elsewhere.iterdir()) == []


def test_a_log_root_that_is_the_users_own_symlink_is_followed(env: Env) -> None:
    """An admin who keeps the logs on another disk links the log folder there."""
    env.write_config(CONFIG)
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (env.root / "q.db.logs").symlink_to(elsewhere)
    job_id = env.enqueue("backup", "--arg", "dest=x")
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", str(job_id), check=True).stdout == "backup x\n"
    assert (elsewhere / "00000" / f"{job_id}.1.log").exists()


def test_a_log_root_linked_to_a_folder_that_is_not_there_is_never_made(env: Env) -> None:
    """A link to a disk that is not mounted: making its folder would put the logs on the
    disk below the mount point. The worker refuses to start (exit 2) and makes nothing."""
    env.write_config(CONFIG)
    mount_point = env.root / "mnt"
    mount_point.mkdir(mode=0o700)
    (env.root / "q.db.logs").symlink_to(mount_point / "logs")
    env.enqueue("backup", "--arg", "dest=x")
    worker = env.run("run-worker", "--burst")
    assert worker.returncode == 2, worker.stderr
    lines = worker.stderr.strip().splitlines()
    assert len(lines) == 1 and "which does not exist (a disk that is not mounted?)" in lines[0]
    assert lines[0].endswith("mount its disk or make the folder")
    assert not (mount_point / "logs").exists()


@pytest.mark.parametrize(
    ("log_dir", "reason"),
    [("/proc/jobctl-logs", "No such file or directory"), ("/dev/null/logs", "Not a directory")],
)
def test_a_log_folder_that_cannot_be_made_is_named_in_one_line(
    env: Env, log_dir: str, reason: str
) -> None:
    """The line named no folder (or was an 'unexpected error' for a file in the path)."""
    env.write_config(f'[settings]\nlog_dir = "{log_dir}"\n' + CONFIG)
    worker = env.run("run-worker", "--burst")
    one_error_line(
        worker,
        2,
        f"jobctl: log folder {log_dir}: {reason}: no job could keep its output there (make the"
        " folder, or set [settings] log_dir)",
    )


def test_validate_warns_of_a_log_folder_a_worker_would_refuse(env: Env) -> None:
    """`ExecStartPre=jobctl validate` passed, then `up` exited 2; now validate says why (a
    warning: the file may be meant for another host) and makes nothing."""
    open_folder = env.root / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    env.write_config(f'[settings]\nlog_dir = "{open_folder}"\n' + CONFIG)
    checked = env.run("validate")
    assert checked.returncode == 0
    assert checked.stderr == (
        f"jobctl: warning: {env.config}:2: [settings] log_dir: log folder {open_folder} is"
        f" writable by group or others (mode 0777, owner {_me()}): workers would not start here\n"
    )
    env.write_config(f'[settings]\nlog_dir = "{env.root / "missing"}"\n' + CONFIG)
    assert env.run("validate").stderr == ""
    assert not (env.root / "missing").exists()
    # What the worker refuses beyond modes: a file in the way, a link to nothing.
    (env.root / "afile").touch()
    (env.root / "dangling").symlink_to(env.root / "nowhere" / "logs")
    for folder in ("afile/logs", "dangling"):
        env.write_config(f'[settings]\nlog_dir = "{env.root / folder}"\n' + CONFIG)
        checked = env.run("validate")
        assert checked.returncode == 0
        assert checked.stderr.startswith(
            f"jobctl: warning: {env.config}:2: [settings] log_dir: log folder"
        ), checked.stderr
        assert checked.stderr.endswith(": workers would not start here\n")
        assert env.run("run-worker", "--burst").returncode == 2


def _me() -> str:
    from jobctl.fsutil import user_name

    return user_name(os.geteuid())


def test_a_log_root_swapped_after_its_check_is_not_followed(env: Env) -> None:
    # Whoever can write the folder above the log root (here the test) swaps the root for a
    # link to another folder while the worker runs: its next logs still go where it checked.
    env.write_config(CONFIG)
    root = env.root / "q.db.logs"
    victim = env.root / "victim"
    (victim / "00000").mkdir(parents=True, mode=0o700)
    victim.chmod(0o700)
    start_worker(env)
    first = env.enqueue("backup", "--arg", "dest=first")
    wait_state(env, first, "succeeded")
    assert (root / "00000" / f"{first}.1.log").read_text() == "backup first\n"
    root.rename(env.root / "q.db.logs.old")
    root.symlink_to(victim)
    second = env.enqueue("backup", "--arg", "dest=second")
    wait_state(env, second, "succeeded")
    assert list((victim / "00000").iterdir()) == []
    kept = env.root / "q.db.logs.old" / "00000" / f"{second}.1.log"
    assert kept.read_text() == "backup second\n"


def test_a_log_file_hard_linked_to_another_file_is_not_emptied(env: Env) -> None:
    env.write_config('[jobs.talk]\ncommand = ["echo", "overwritten"]\nmax_attempts = 1\n')
    victim = env.root / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    before = file_digest(victim)
    folder = env.root / "q.db.logs" / "00000"
    folder.mkdir(parents=True, mode=0o700)
    folder.parent.chmod(0o700)
    job_id = env.enqueue("talk")
    os.link(victim, folder / f"{job_id}.1.log")
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert file_digest(victim) == before, victim.read_text()
    assert "hard link" in job_error(env, job_id)


def test_a_job_for_another_user_says_the_worker_is_not_root(
    user_python: list[str] | None, user_dir: Path
) -> None:
    """A worker that does not run as root cannot switch users (the contrib unit's): the job's
    error says so, where it used to blame the program ("Operation not permitted")."""
    if user_python == []:
        pytest.skip("needs root, to run the worker as another user")
    (user_dir / "jobs.toml").write_text(
        '[jobs.as-root]\ncommand = ["id", "-un"]\nuser = "root"\nmax_attempts = 1\n'
    )
    db = user_dir / "home" / "q.db"
    assert as_user(user_python, user_dir, db, "enqueue", "as-root").returncode == 0
    assert as_user(user_python, user_dir, db, "run-worker", "--burst").returncode == 0
    shown = json.loads(as_user(user_python, user_dir, db, "show", "1", "--json").stdout)
    assert shown["state"] == "dead"
    assert "as user root: the worker does not run as root" in shown["error"], shown["error"]


def test_validate_checks_the_log_folder_a_redis_worker_uses_never_one_named_by_its_password(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate named the folder after the raw URL, password and all: it checked a folder no
    worker uses (and put the password in a path it looked up)."""
    from jobctl.config import parse_config
    from jobctl.logfiles import log_dir

    env.write_config(CONFIG)
    url = "redis://:s3cret-pw@127.0.0.1:1/0"
    monkeypatch.setenv("XDG_STATE_HOME", env.env["XDG_STATE_HOME"])
    folder = log_dir(parse_config(""), "redis://:***@127.0.0.1:1/0")
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    checked = env.run("--db", url, "validate", config=True)
    assert checked.returncode == 0
    assert f"log folder {folder} is writable by group or others" in checked.stderr
    assert "s3cret" not in checked.stderr


def test_a_worker_refused_for_a_read_only_database_makes_nothing_beside_it(
    user_python: list[str] | None, user_dir: Path
) -> None:
    """A 0400 database (a restore by cp -p): the worker exits 3, as every writer does, and
    left a new log folder and wake-up folder beside it, made before its first write."""
    db = users_database(user_python, user_dir)
    beside = {path.name for path in db.parent.iterdir()}
    db.chmod(0o400)
    refused = as_user(user_python, user_dir, db, "run-worker", "--burst")
    one_error_line(refused, 3, str(db), "read-only")
    made = {path.name for path in db.parent.iterdir()} - beside
    assert made <= {"q.db-wal", "q.db-shm"}, made  # SQLite's own, for the read it made

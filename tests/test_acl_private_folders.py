"""Folders and files private by their mode but open to another user through a POSIX ACL.

With an access ACL, the group bits of a folder's mode are the ACL's mask: a grant of write
to user nobody shows as mode 0770, which passes as writable by the owner's own private
group. Such a folder is refused where one of mode 0777 is: a log folder (validate, a
worker), a database's folder (enqueue), its wake folder and a config's folder (validate);
so is a database file, its -wal, -shm, -journal or lock file, shown as mode 0660, where
one of mode 0666 is. The ACL is set as the `system.posix_acl_access` xattr, in the layout
setfacl writes (no setfacl needed).
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import pytest
from conftest import Env

NOBODY = 65534
_ANY = 0xFFFFFFFF  # the id of an entry that names nobody (owner, owning group, mask, other)
_USER_OBJ, _USER, _GROUP_OBJ, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
CONFIG = '[jobs.t]\ncommand = ["echo", "secret output"]\n'

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the reproduction sets ACLs as root")


def set_acl(path: Path, *, user: int, user_perms: int, mask: int, owner: int = 7) -> None:
    """Give `path` an access ACL: the owner `owner` (rwx), `user` with `user_perms`, owning
    group and others nothing, and `mask` (which the mode's group bits then show)."""
    entries = [
        (_USER_OBJ, owner, _ANY),
        (_USER, user_perms, user),
        (_GROUP_OBJ, 0, _ANY),
        (_MASK, mask, _ANY),
        (_OTHER, 0, _ANY),
    ]
    value = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", value)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip(f"no POSIX ACLs on the file system of {path}")
        raise


def private_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    return folder


@pytest.fixture
def own_group_accepted(env: Env) -> None:
    """The refusals below are of folders that pass by their mode alone: mode 0770 with
    root's group must count as root's own private group here."""
    folder = private_folder(env.root, "baseline")
    folder.chmod(0o770)
    env.write_config(f'[settings]\nlog_dir = "{folder}"\n{CONFIG}')
    result = env.run("validate")
    if "writable by group or others" in result.stderr:
        pytest.skip("root's group is no private group on this host")
    assert result.returncode == 0, result.stderr
    assert "log_dir" not in result.stderr


@pytest.mark.usefixtures("own_group_accepted")
def test_log_folder_writable_through_acl_is_refused(env: Env) -> None:
    logs = private_folder(env.root, "logs")
    set_acl(logs, user=NOBODY, user_perms=7, mask=7)
    assert logs.stat().st_mode & 0o777 == 0o770
    env.write_config(f'[settings]\nlog_dir = "{logs}"\n{CONFIG}')
    said = f"log folder {logs} is writable by nobody (uid 65534) through an ACL (mode 0770"

    validated = env.run("validate")
    assert said in validated.stderr, validated.stderr

    env.enqueue("t")
    worker = env.run("run-worker", "--burst")
    assert worker.returncode == 2, worker.stderr
    assert said in worker.stderr
    assert list(logs.iterdir()) == []  # no job's output went there
    assert env.show(1)["state"] == "queued"


@pytest.mark.usefixtures("own_group_accepted")
def test_database_folder_writable_through_acl_is_refused(env: Env) -> None:
    folder = private_folder(env.root, "dbdir")
    set_acl(folder, user=NOBODY, user_perms=7, mask=7)
    result = env.run("--db", str(folder / "q.db"), "enqueue", "--exec", "--", "echo", "hi")
    assert result.returncode == 3, result.stderr
    assert f"its folder {folder} is writable by nobody (uid 65534) through an ACL" in result.stderr
    assert not (folder / "q.db").exists()


@pytest.mark.usefixtures("own_group_accepted")
@pytest.mark.parametrize(
    ("suffix", "named"),
    [
        ("", ""),
        ("-wal", "{file} "),
        ("-shm", "{file} "),
        ("-journal", "{file} "),
        (".lock", "its lock file {file} "),
        (".scheduler.lock", "its lock file {file} "),
    ],
)
def test_database_file_writable_through_acl_is_refused(env: Env, suffix: str, named: str) -> None:
    """`setfacl -m u:nobody:rw` on a 0600 file shows as mode 0660: refused as 0666 is, by
    every command, the database left as it was (no chmod that would hide the grant)."""
    env.enqueue("--exec", "--", "echo", "hi")
    file = Path(f"{env.db}{suffix}")
    os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
    set_acl(file, user=NOBODY, user_perms=6, mask=6, owner=6)
    assert file.stat().st_mode & 0o777 == 0o660
    said = (
        f"database {env.db}: {named.format(file=file)}is writable by nobody (uid 65534)"
        " through an ACL (mode 0660"
    )
    for command in (("enqueue", "--exec", "--", "echo", "again"), ("list",)):
        result = env.run(*command)
        assert result.returncode == 3, result.stderr
        assert said in result.stderr, result.stderr
    assert file.stat().st_mode & 0o777 == 0o660


@pytest.mark.usefixtures("own_group_accepted")
def test_wake_folder_writable_through_acl_is_refused(env: Env) -> None:
    env.enqueue("--exec", "--", "echo", "hi")
    wake = private_folder(env.root, "q.db.wake")
    set_acl(wake, user=NOBODY, user_perms=7, mask=7)
    result = env.run("enqueue", "--exec", "--", "echo", "again")
    assert result.returncode == 3, result.stderr
    said = (
        f"database {env.db}: its wake folder {wake} is writable by nobody (uid 65534)"
        " through an ACL (mode 0770"
    )
    assert said in result.stderr, result.stderr
    worker = env.run("run-worker", "--burst")
    assert worker.returncode == 3, worker.stderr
    assert said in worker.stderr


@pytest.mark.usefixtures("own_group_accepted")
def test_health_fails_for_a_hooks_folder_writable_through_acl(env: Env) -> None:
    """Workers refuse such a hooks folder (keeping no hook's output): health says so, and
    passes one of mode 0770 with the owner's own private group, which workers use."""
    logs = private_folder(env.root, "logs")
    hooks = private_folder(logs, "hooks")
    env.write_config(f'[settings]\nlog_dir = "{logs}"\n{CONFIG}')
    env.enqueue("t")
    set_acl(hooks, user=NOBODY, user_perms=7, mask=7)
    health = env.run("health")
    assert health.returncode == 1, health.stdout
    assert (
        f"logs: hooks folder {hooks} is writable by nobody (uid 65534) through an ACL"
        " (mode 0770" in health.stderr
    ), health.stderr
    set_acl(hooks, user=os.geteuid(), user_perms=7, mask=7)
    assert hooks.stat().st_mode & 0o777 == 0o770
    health = env.run("health")
    assert health.returncode == 0, health.stderr


@pytest.mark.usefixtures("own_group_accepted")
def test_config_folder_writable_through_acl_is_refused(env: Env) -> None:
    folder = private_folder(env.root, "conf")
    config = folder / "jobs.toml"
    config.write_text(CONFIG)
    set_acl(folder, user=NOBODY, user_perms=7, mask=7)
    result = env.run("--config", str(config), "validate", config=False)
    assert result.returncode == 2, result.stderr
    assert f"its folder {folder} is writable by nobody (uid 65534) through an ACL" in (
        result.stderr
    )


@pytest.mark.usefixtures("own_group_accepted")
def test_acl_granting_no_write_to_others_is_accepted(env: Env) -> None:
    """A mask without write caps every named entry (nobody's rwx reads as r-x), and a grant
    to the owner itself opens nothing to others: both folders are private."""
    capped = private_folder(env.root, "capped")
    set_acl(capped, user=NOBODY, user_perms=7, mask=5)
    assert capped.stat().st_mode & 0o777 == 0o750
    own = private_folder(env.root, "own")
    set_acl(own, user=os.geteuid(), user_perms=7, mask=7)
    for logs in (capped, own):
        env.write_config(f'[settings]\nlog_dir = "{logs}"\n{CONFIG}')
        validated = env.run("validate")
        assert validated.returncode == 0, validated.stderr
        assert "through an ACL" not in validated.stderr
        job = env.enqueue("t")
        env.run("run-worker", "--burst", check=True)
        assert env.show(job)["state"] == "succeeded"
        assert "secret output" in env.run("logs", str(job), check=True).stdout

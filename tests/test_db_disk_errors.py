"""Disks that refuse writes: a backup's target full, and a file system that ext4 turned
read-only after an error while its mount still says read-write."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env, small_file_system

CONFIG = '[jobs.sleep]\ncommand = ["sleep", "{s}"]\n'


def test_a_backup_onto_a_full_disk_is_a_usage_error(env: Env) -> None:
    """Exit 3 said that the database could not be used; only the target had no room."""
    env.write_config(CONFIG)
    env.enqueue("sleep", "--arg", "s=1")
    with small_file_system(env.root / "small", "size=64k") as small:
        target = small / "b.db"
        result = env.run("backup", str(target))
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"jobctl: backup {target}: the disk is full (no room for the copy)\n"
        )
        assert list(small.iterdir()) == []
    assert env.run("status").returncode == 0


@contextlib.contextmanager
def _ext4(folder: Path) -> Iterator[str]:
    """`folder` as an ext4 file system of its own that turns read-only at its first error
    (errors=remount-ro); yields its loop device. Skipped where none can be made (root)."""
    image = folder.with_name(folder.name + ".img")
    with open(image, "wb") as made:
        made.truncate(40 << 20)
    attached = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        pytest.skip("cannot attach a loop device here")
    device = attached.stdout.strip()
    try:
        folder.mkdir(mode=0o700)
        made_fs = subprocess.run(["mkfs.ext4", "-q", device], capture_output=True)
        mounted = made_fs.returncode == 0 and (
            subprocess.run(
                ["mount", "-o", "errors=remount-ro", device, str(folder)], capture_output=True
            ).returncode
            == 0
        )
        if not mounted:
            pytest.skip("cannot make and mount an ext4 file system here")
        try:
            yield device
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_a_file_system_read_only_after_a_disk_error_is_named_so(env: Env) -> None:
    """ext4's errors=remount-ro sets no read-only flag that statvfs shows, while every write
    fails with EROFS: an enqueue blamed the file's and the folder's permissions."""
    env.write_config(CONFIG)
    with _ext4(env.root / "ext") as device:
        db = env.root / "ext" / "q" / "q.db"
        env.run("--db", str(db), "enqueue", "sleep", "--arg", "s=1", check=True)
        worker = env.start("--db", str(db), "run-worker")  # holds it open: it stays readable
        env.wait_for(lambda: env.run("--db", str(db), "health", "--require-worker").returncode == 0)
        trigger = Path("/sys/fs/ext4") / device.removeprefix("/dev/") / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip("this kernel cannot be made to see an ext4 error")
        trigger.write_text("1")
        result = env.run("--db", str(db), "enqueue", "sleep", "--arg", "s=1")
        assert result.returncode == 3, result.stderr
        assert result.stderr == (
            f"jobctl: database {db}: the file system holding {db.parent} is read-only"
            " (a disk error? see dmesg)\n"
        )
        # health said ok: its check read the mount flag alone
        health = env.run("--db", str(db), "health")
        worker.kill()
        worker.wait(timeout=20)
        assert health.returncode == 1, health.stdout
        said = health.stdout + health.stderr
        assert (
            f"database {db}: the file system holding {db.parent} is read-only (a disk error?"
            " see dmesg)"
        ) in said
        logs = f"{db}.logs"
        assert f"the file system holding {logs} is read-only (a disk error? see dmesg;" in said

"""A copy of a database (a `jobctl backup` looked into, a project folder copied) records its
jobs' logs where the original's workers wrote them. `prune`, `dead purge` and a worker's
retention on the copy removed the original's logs (and its hooks' logs), which `logs` then
said were gone; a copied folder's own logs stayed behind, for no prune to find."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Env

CONFIG = """
[jobs.ok]
command = ["echo", "done"]

[jobs.fail]
command = ["sh", "-c", "echo failing; exit 3"]
max_attempts = 1
on_dead = ["echo", "hook"]
"""


def _logs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.log"))


def _ran(env: Env) -> list[str]:
    env.write_config(CONFIG)
    for _ in range(3):
        env.enqueue("ok")
    env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    logs = _logs(Path(f"{env.db}.logs"))
    assert len(logs) == 5, logs  # four attempts and a hook
    return logs


def test_a_prune_or_purge_of_a_backup_leaves_the_originals_logs(env: Env) -> None:
    logs = _ran(env)
    copy = env.root / "copies" / "copy.db"
    copy.parent.mkdir()
    env.run("backup", str(copy), check=True)
    for args in (["dead", "purge", "--all", "--yes"], ["prune", "--older-than", "0", "--yes"]):
        done = env.run("--db", str(copy), *args)
        assert done.returncode == 0, done.stderr
    assert env.run("--db", str(copy), "list", "--json", check=True).stdout.strip() == "[]"
    assert _logs(Path(f"{env.db}.logs")) == logs
    assert env.run("logs", "1", check=True).stdout == "done\n"


def test_a_copied_folders_prune_removes_its_own_logs_not_the_originals(env: Env) -> None:
    logs = _ran(env)
    copied = env.root / "copied"
    copied.mkdir()
    shutil.copy2(env.db, copied / "q.db")
    shutil.copytree(f"{env.db}.logs", copied / "q.db.logs")
    database = copied / "q.db"
    assert env.run("--db", str(database), "logs", "1", check=True).stdout == "done\n"
    done = env.run("--db", str(database), "prune", "--older-than", "0", "--yes")
    assert done.returncode == 0, done.stderr
    assert _logs(copied / "q.db.logs") == []
    assert _logs(Path(f"{env.db}.logs")) == logs

"""Paths of one user seen by another: root's default database in a home another user owns, a
database file this user cannot write, a working folder this user cannot enter.

As in test_hostile_ownership, "another user" is uid 1001: jobctl runs as that user through
`setpriv` when the suite runs as root (skipped without it), as the suite's own user otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaoslib import one_error_line
from conftest import JOBCTL
from test_hostile_ownership import (  # noqa: F401 (fixtures)
    OTHER,
    ROOT,
    as_user,
    user_dir,
    user_environ,
    user_python,
    users_database,
)

from jobctl.fsutil import user_name

ADVICE = "set --db, $JOBCTL_DB or $XDG_STATE_HOME"


# -- root, with $HOME another user's ---------------------------------------------------------


def _environment_with_home(home: Path) -> dict[str, str]:
    """A sudo that keeps $HOME: the caller's home, no database or state folder named."""
    kept = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    if "PYTHONPATH" in os.environ:
        kept["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return kept


@pytest.mark.skipif(not ROOT, reason="only root can be given a home another user owns")
@pytest.mark.parametrize(
    "command",
    [["enqueue", "--exec", "--", "true"], ["list"], ["health"], ["run-worker", "--burst"]],
)
def test_root_makes_no_state_folder_in_a_home_another_user_owns(
    tmp_path: Path, command: list[str]
) -> None:
    """Root made ~/.local, ~/.local/state and ~/.local/state/jobctl there, its own and 0700:
    that user lost their own ~/.local (pip --user, ~/.local/bin), and jobctl's default."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, OTHER, OTHER)
    result = subprocess.run(
        [*JOBCTL, *command],
        env=_environment_with_home(home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_error_line(result, 2, ADVICE)
    assert line == (
        f"jobctl: $HOME ({home}) is owned by {user_name(OTHER)}, not by root: root makes no"
        " folder for the default database and logs in another user's home; set --db,"
        " $JOBCTL_DB or $XDG_STATE_HOME (sudo -H gives root its own $HOME)"
    )
    assert os.listdir(home) == []


@pytest.mark.skipif(not ROOT, reason="only root can be given a home another user owns")
def test_root_with_another_users_home_uses_a_named_database_or_state_folder(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, OTHER, OTHER)
    for extra, args in (
        ({}, ["--db", str(tmp_path / "q.db")]),
        ({"JOBCTL_DB": str(tmp_path / "env.db")}, []),
        ({"XDG_STATE_HOME": str(tmp_path / "state")}, []),
    ):
        result = subprocess.run(
            [*JOBCTL, *args, "enqueue", "--exec", "--", "true"],
            env={**_environment_with_home(home), **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (extra, args, result.stderr)
    assert (tmp_path / "state" / "jobctl" / "jobctl.db").exists()
    assert os.listdir(home) == []


# -- a database this user cannot write -------------------------------------------------------


def test_health_fails_for_a_database_file_this_user_cannot_write(
    user_python: list[str] | None,  # noqa: F811
    user_dir: Path,  # noqa: F811
) -> None:
    """A 0400 file (a restore by `cp -p` or `install -m 400`): SQLite opens it read-only and
    takes its write lock all the same, so health passed while every enqueue and claim failed."""
    db = users_database(user_python, user_dir)
    db.chmod(0o400)
    refused = as_user(user_python, user_dir, db, "enqueue", "backup", "--arg", "dest=y")
    one_error_line(refused, 3, "read-only")
    result = as_user(user_python, user_dir, db, "health")
    assert result.returncode == 1, result.stderr
    assert f"database: database {db}: the database is read-only: q.db" in result.stderr, (
        result.stderr
    )
    assert "not writable by this user" in result.stderr
    as_json = as_user(user_python, user_dir, db, "health", "--json")
    assert as_json.returncode == 1, as_json.stderr
    report = json.loads(as_json.stdout)
    assert not report["healthy"]
    assert [c["ok"] for c in report["checks"] if c["name"] == "database"] == [False]
    db.chmod(0o600)
    healthy = as_user(user_python, user_dir, db, "health")
    assert healthy.returncode == 0, healthy.stderr


# -- a working folder this user cannot enter -------------------------------------------------


def _closed_folder(top: Path) -> Path:
    """A folder this user can see but not enter: root's 0700 one when we are root, else our
    own without its x bit."""
    closed = top / "closed"
    closed.mkdir()
    closed.chmod(0o700 if ROOT else 0o600)
    return closed


def _entry_refusal(closed: Path) -> str:
    owner = user_name(0 if ROOT else os.geteuid())
    runner = user_name(OTHER if ROOT else os.geteuid())
    mode = "0700" if ROOT else "0600"
    return f"{runner} cannot enter it (mode {mode}, owner {owner}), so no command can start there"


def _as_user_in(
    runner: list[str] | None, top: Path, cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """as_user's `jobctl ARGS...` started in `cwd`, with `stdin`."""
    python = runner or [sys.executable]
    return subprocess.run(
        [*python, "-m", "jobctl", "--config", str(top / "jobs.toml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=user_environ(top),
        cwd=cwd,
    )


def test_a_cwd_this_user_cannot_enter_is_refused_at_enqueue(
    user_python: list[str] | None,  # noqa: F811
    user_dir: Path,  # noqa: F811
) -> None:
    """Queued, its job died on arrival (exit 126, "working directory ...: Permission
    denied"), as from `sudo -u svc jobctl enqueue --exec ...` in an admin's 0700 home."""
    closed = _closed_folder(user_dir)
    db = str(user_dir / "q.db")
    refusal = _entry_refusal(closed)
    try:
        result = _as_user_in(
            user_python,
            user_dir,
            user_dir,
            "--db",
            db,
            "enqueue",
            "--exec",
            "--cwd",
            str(closed),
            "--",
            "pwd",
        )
        assert one_error_line(result, 2) == f"jobctl: --cwd {closed}: {refusal}"
        line = json.dumps({"command": ["pwd"], "cwd": str(closed)})
        result = _as_user_in(
            user_python,
            user_dir,
            user_dir,
            "--db",
            db,
            "enqueue",
            "--batch",
            "-",
            stdin=line + "\n",
        )
        one_error_line(result, 2, f"cwd {closed}: {refusal}")
        if ROOT:  # without --cwd, in the folder root went into before switching user
            result = _as_user_in(
                user_python, user_dir, closed, "--db", db, "enqueue", "--exec", "--", "pwd"
            )
            one_error_line(result, 2, f"cwd {closed}: {refusal}")
        listed = _as_user_in(user_python, user_dir, user_dir, "--db", db, "list")
        one_error_line(listed, 3, "does not exist (nothing was ever enqueued there)")
    finally:
        closed.chmod(0o700)

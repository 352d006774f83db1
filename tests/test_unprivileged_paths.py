"""Paths of one user seen by another: root's default database in a home another user owns.

As in test_hostile_ownership, "another user" is uid 1001.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from chaoslib import one_error_line
from conftest import JOBCTL
from test_hostile_ownership import OTHER, ROOT

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

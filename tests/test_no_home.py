"""No home to default the database to (no $HOME and no passwd entry: `docker run --user
12345`, OpenShift's random uids, `env -i`): a usage error saying what to set, not an
unexpected RuntimeError."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import JOBCTL

ADVICE = "set --db, $JOBCTL_DB or $XDG_STATE_HOME"


def _bare_environment(**extra: str) -> dict[str, str]:
    """What `env -i PATH=...` leaves, and the import path of this jobctl."""
    bare = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}
    if "PYTHONPATH" in os.environ:
        bare["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return bare


def _user_namespaces_work() -> bool:
    try:
        probe = ["unshare", "--user", "--map-user=12345", "--map-group=12345", "true"]
        return subprocess.run(probe, timeout=10, capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _user_namespaces_work(), reason="cannot map a uid in a user namespace")
@pytest.mark.parametrize("command", [["enqueue", "--exec", "--", "true"], ["list"], ["health"]])
def test_a_uid_without_passwd_entry_and_no_home_is_told_to_name_the_database(
    tmp_path: Path, command: list[str]
) -> None:
    unshare = ["unshare", "--user", "--map-user=12345", "--map-group=12345"]
    result = subprocess.run(
        [*unshare, *JOBCTL, *command],
        env=_bare_environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "jobctl: no home folder for the default database and logs ($HOME unset, uid 12345 has"
        f" no passwd entry): {ADVICE}\n"
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [["enqueue", "--exec", "--", "true"], ["list"]])
def test_a_home_that_is_no_absolute_path_is_no_home(tmp_path: Path, command: list[str]) -> None:
    """`~` left as it is, or a relative $HOME, would put the queue under the working folder:
    each folder a command ran in had a queue of its own."""
    result = subprocess.run(
        [*JOBCTL, *command],
        env=_bare_environment(HOME="relative"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "$HOME is 'relative', not an absolute path" in result.stderr, result.stderr
    assert result.stderr.endswith(f"{ADVICE}\n") and result.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_without_a_home_a_named_database_or_state_folder_is_used(tmp_path: Path) -> None:
    """The config is still looked for (and not found) without a home: --db and
    $XDG_STATE_HOME work as they do elsewhere."""
    for extra, args in (
        ({}, ["--db", str(tmp_path / "q.db")]),
        ({"XDG_STATE_HOME": str(tmp_path / "state")}, []),
    ):
        bare = _bare_environment(HOME="relative", **extra)
        for command in (["enqueue", "--exec", "--", "true"], ["list"]):
            result = subprocess.run(
                [*JOBCTL, *args, *command],
                env=bare,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
    assert (tmp_path / "q.db").is_file()
    assert (tmp_path / "state" / "jobctl" / "jobctl.db").is_file()

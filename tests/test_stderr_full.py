"""A stderr that cannot be written (`2>/dev/full`, a full disk under `2>>cron.log`) loses
the notes and warnings written there, not the command: its result and exit code stand."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import JOBCTL, Env


def _run_to_full_stderr(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [*JOBCTL, *env.global_args(True, args), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=full,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )


def test_an_enqueue_whose_note_cannot_be_written_prints_its_id_and_exits_0(env: Env) -> None:
    """The new database's note failed: exit 120 and no id, though the job was stored, so a
    script's retry queued it twice."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    stored = _run_to_full_stderr(env, "enqueue", "noop")  # says the database is new
    assert (stored.returncode, stored.stdout) == (0, "1\n")
    held = _run_to_full_stderr(env, "enqueue", "noop", "--queue", "brandnew")  # warns
    assert (held.returncode, held.stdout) == (0, "2\n")
    listed = json.loads(env.run("list", "--json", check=True).stdout)
    assert [job["id"] for job in listed] == [2, 1]


@pytest.mark.parametrize(
    ("args", "code"),
    [(["enqueue", "nosuch"], 2), (["--db", "/nonexistent/q.db", "list"], 3), (["show", "9"], 1)],
)
def test_an_error_that_cannot_be_said_keeps_its_exit_code(
    env: Env, args: list[str], code: int
) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    env.enqueue("noop")
    assert _run_to_full_stderr(env, *args).returncode == code

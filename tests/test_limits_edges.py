"""The host's limits at their edges: the longest wait poll() takes, what Linux counts for a
command's arguments, and where output cut to a size starts."""

from __future__ import annotations

import json

from conftest import Env

from jobctl.payload import MAX_COMMAND_BYTES


def test_a_lease_longer_than_poll_s_longest_wait_serves_its_job(env: Env) -> None:
    """Its renewal, a third of it away, was a wait over poll()'s INT_MAX ms (24.8 days):
    every worker stopped with 'a number given is too large', the job it claimed left running."""
    env.write_config('[settings]\nlease = "75d"\n\n[jobs.hi]\ncommand = ["echo", "hi"]\n')
    assert env.run("validate").returncode == 0
    job_id = env.enqueue("hi")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert env.run("logs", str(job_id), check=True).stdout == "hi\n"


def test_a_hook_timeout_longer_than_poll_s_longest_wait_lets_the_hook_run(env: Env) -> None:
    """A hook waited up to its timeout in one poll(): past 24.8 days it failed at once with
    'hook error: timeout is too large', before the hook had run."""
    ran = env.root / "hook-ran.txt"
    env.write_config(
        '[settings]\nhook_timeout = "25d"\n\n'
        '[jobs.fails]\ncommand = ["false"]\nmax_attempts = 1\n'
        f'on_dead = ["sh", "-c", "echo hook ran > {ran}"]\n'
    )
    job_id = env.enqueue("fails")
    worker = env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "dead"
    assert ran.read_text() == "hook ran\n"
    assert "hook.failed" not in worker.stderr


def test_a_command_s_words_count_a_pointer_each_against_linux_s_limit(env: Env) -> None:
    """Linux counts 8 bytes more per argument (its pointer) against ARG_MAX: 300,000 words
    of one letter were stored, and every attempt failed with 'Argument list too long'.
    The longest command accepted starts; one word more is refused, nothing stored."""
    env.write_config("")
    fitting = (MAX_COMMAND_BYTES - len("true") - 1 - 8) // (1 + 1 + 8)  # "x", its NUL, pointer
    batch = env.root / "batch.jsonl"
    batch.write_text(json.dumps({"command": ["true", *["x"] * (fitting + 1)]}) + "\n")
    refused = env.run("enqueue", "--batch", str(batch))
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"jobctl: {batch}:1: the command's {fitting + 2} words take"
        f" {(fitting + 1) * 10 + 13} bytes (with the 8-byte pointer to each): Linux starts no"
        f" process whose arguments take over {MAX_COMMAND_BYTES} (pass large data in a file)\n"
    )
    assert not env.db.exists()
    batch.write_text(json.dumps({"command": ["true", *["x"] * fitting], "max_attempts": 1}))
    job_id = int(env.run("enqueue", "--batch", str(batch), check=True).stdout)
    env.run("run-worker", "--burst", check=True)
    job = env.show(job_id)
    assert (job["state"], job["error"]) == ("succeeded", None)

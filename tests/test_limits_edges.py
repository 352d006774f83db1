"""The host's limits at their edges: the longest wait poll() takes, what Linux counts for a
command's arguments, and where output cut to a size starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import Env

from jobctl.executor import ERROR_TAIL_BYTES
from jobctl.logfolders import TRIMMED
from jobctl.payload import MAX_COMMAND_BYTES

# Characters of 2, 3 and 4 bytes in UTF-8, each cut after 1 to (its length - 1) bytes.
_CUTS = [(char, partial) for char in "é€😀" for partial in range(1, len(char.encode()))]


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


def test_a_cut_log_starts_at_a_character(env: Env) -> None:
    """A log cut to its last log_max_bytes started with the rest of a character cut in half
    (a stray continuation byte): the cut moves past it."""
    keep = 1024  # the least log_max_bytes there is
    config = f"[settings]\nlog_max_bytes = {keep}\n\n"
    expected: dict[str, tuple[int, bytes]] = {}  # bytes dropped, bytes kept
    for number, (char, partial) in enumerate(_CUTS):
        size = len(char.encode())
        tail = next(t for t in range(1, size + 1) if (keep - t) % size == partial)
        whole = keep // size + 5
        output = (char * whole + "x" * tail).encode()
        kept = (char * ((keep - tail) // size) + "x" * tail).encode()
        name = f"cut{number}"
        config += f'[jobs.{name}]\ncommand = ["printf", "%s", "{char * whole + "x" * tail}"]\n'
        expected[name] = (len(output) - len(kept), kept)
    # Binary output is no UTF-8: it loses at most 3 bytes of what is kept.
    config += f"[jobs.binary]\ncommand = {_python(f'os.write(1, bytes([0x80]) * {keep + 10})')}\n"
    expected["binary"] = (13, b"\x80" * (keep - 3))
    env.write_config(config)
    ids = {name: env.enqueue(name) for name in expected}
    env.run("run-worker", "--burst", check=True)
    for name, job_id in ids.items():
        job = env.show(job_id)
        assert job["state"] == "succeeded"
        log = job["attempts_history"][0]["log_path"]  # type: ignore[index]
        dropped, kept = expected[name]
        head = TRIMMED % (dropped, Path(log).stat().st_ino)  # (the line names its file)
        assert (name, Path(log).read_bytes()) == (name, head + kept)


def test_a_job_s_error_starts_at_a_character_of_its_stderr(env: Env) -> None:
    """The error keeps the last ERROR_TAIL_BYTES of stderr: cut inside a character, it began
    'exit code 1: \\ufffd'. Binary stderr loses at most 3 bytes; stderr that was not cut
    keeps all of its bytes."""
    config = ""
    expected: dict[str, str] = {}
    for number, (char, partial) in enumerate(_CUTS):
        size = len(char.encode())
        tail = next(t for t in range(1, size + 1) if (ERROR_TAIL_BYTES - t) % size == partial)
        name = f"cut{number}"
        write = f"os.write(2, {char * 1500 + 'x' * tail!a}.encode()); sys.exit(1)"
        config += f"[jobs.{name}]\ncommand = {_python(write)}\nmax_attempts = 1\n"
        expected[name] = char * ((ERROR_TAIL_BYTES - tail) // size) + "x" * tail
    binary = "os.write(2, bytes([0x80]) * 5000); sys.exit(1)"
    config += f"[jobs.binary]\ncommand = {_python(binary)}\nmax_attempts = 1\n"
    expected["binary"] = "\ufffd" * (ERROR_TAIL_BYTES - 3)
    short = "os.write(2, bytes([0x80]) + b'abc'); sys.exit(1)"
    config += f"[jobs.short]\ncommand = {_python(short)}\nmax_attempts = 1\n"
    expected["short"] = "\ufffdabc"
    env.write_config(config)
    ids = {name: env.enqueue(name) for name in expected}
    env.run("run-worker", "--burst", check=True)
    for name, job_id in ids.items():
        assert (name, env.show(job_id)["error"]) == (name, f"exit code 1: {expected[name]}")


def _python(code: str) -> str:
    """A command, as TOML, that runs `code` in Python with os and sys imported."""
    return json.dumps([sys.executable, "-c", f"import os, sys; {code}"], ensure_ascii=False)

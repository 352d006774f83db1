"""How an attempt's output reaches its log: cut in slices between turns of the loop that
drives it, and what a log that cannot be written keeps and says."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import time
from pathlib import Path

from conftest import Env, small_file_system

from jobctl.executor import Attempt, AttemptSpec, wait_readable
from jobctl.models import AttemptResult


def _spec(tmp_path: Path, command: str, log_max_bytes: int) -> AttemptSpec:
    root = tmp_path / "logs"
    root.mkdir(mode=0o700, exist_ok=True)
    return AttemptSpec(
        argv=["sh", "-c", command],
        env={"PATH": os.environ["PATH"]},
        log_path=str(root / "00000" / "1.1.log"),
        log_max_bytes=log_max_bytes,
    )


def _drive(attempt: Attempt, each_turn: object = None) -> AttemptResult:
    """Run an attempt to its end as a worker's loop does, calling `each_turn()` after every
    advance (what the loop does between them: renew leases, serve other attempts)."""
    result = attempt.start()
    try:
        while result is None:
            result = attempt.advance(wait_readable(attempt.fds(), _timeout(attempt)))
            if each_turn is not None:
                each_turn()  # type: ignore[operator]
    finally:
        attempt.close()
    return result


def _timeout(attempt: Attempt) -> float:
    """Until the attempt's deadline, at most a turn of 20 ms (a worker's loop has others)."""
    deadline = attempt.deadline()
    return 0.02 if deadline is None else min(0.02, deadline - time.monotonic())


def test_a_large_log_is_cut_a_slice_at_a_time_between_turns_of_the_loop(tmp_path: Path) -> None:
    """A cut copied the kept bytes (log_max_bytes of them) twice in one call: with a 1 GiB
    log_max_bytes the worker's loop stood 6.6 s, renewed no lease, and other workers took
    its jobs and ran them again. The loop now gets its turns between slices of the cut (the
    log is seen half copied back between them), and the log ends the same: a line saying
    how much was dropped, then the output's last log_max_bytes."""
    keep = 32 << 20
    expected = subprocess.run(["seq", "1", "12000000"], capture_output=True, check=True).stdout
    assert len(expected) > 2 * keep  # cut while it runs, and at its end
    attempt = Attempt(_spec(tmp_path, "seq 1 12000000", keep))
    log = Path(attempt.spec.log_path)
    sizes: list[int] = []
    result = _drive(attempt, lambda: sizes.append(log.stat().st_size if log.exists() else 0))
    assert result.outcome.value == "succeeded", result
    # Between two turns, a log emptied and not yet all copied back: the loop ran mid-cut.
    first_cut = next(i for i, size in enumerate(sizes) if size > 2 * keep)
    assert any(0 < size < keep for size in sizes[first_cut:]), sizes
    text = log.read_bytes()
    head, kept = text.split(b"\n", 1)
    found = re.fullmatch(rb"\[\.\.\. (\d+) bytes of earlier output dropped .*\]", head)
    assert found is not None, head
    assert len(kept) == keep
    assert kept == expected[-keep:]
    assert int(found.group(1)) == len(expected) - keep


def test_a_log_that_fills_its_disk_keeps_the_newest_output(tmp_path: Path) -> None:
    """On a full disk the log kept its first bytes and dropped all later output, where the
    error usually is (and with the default folder, the database beside it had no room to
    record the job's end). It now drops its older half to make room, as the cap does."""
    with small_file_system(tmp_path / "logs", "size=1m"):
        attempt = Attempt(_spec(tmp_path, "seq 1 400000", 10 << 20))
        result = _drive(attempt)
        text = Path(attempt.spec.log_path).read_bytes()
    assert result.outcome.value == "succeeded", result
    assert text.endswith(b"\n399999\n400000\n")
    assert re.match(rb"\[\.\.\. \d+ bytes of earlier output dropped ", text)


def test_output_lost_to_a_full_disk_leaves_a_mark_where_it_is_missing(tmp_path: Path) -> None:
    """Output dropped while another filled the disk left a silent hole: the line before it
    ran on into the first line after it. A line now says how much is missing, and why."""
    signals = tmp_path / "signals"
    signals.mkdir()
    command = (
        f"cd {signals} && head -c 4096 /dev/zero | tr '\\0' b;"
        " until [ -e go ]; do sleep 0.01; done;"
        " echo during; touch said; until [ -e go2 ]; do sleep 0.01; done; echo after"
    )
    with small_file_system(tmp_path / "logs", "size=1m") as disk:
        attempt = Attempt(_spec(tmp_path, command, 10 << 20))
        log = Path(attempt.spec.log_path)
        filler = disk / "filler"
        turns_after_said = 0

        def each_turn() -> None:
            nonlocal turns_after_said
            if not (signals / "go").exists() and log.exists() and log.read_bytes():
                _fill(filler)
                (signals / "go").touch()
            elif (signals / "said").exists():
                turns_after_said += 1
                if turns_after_said == 2:  # "during" was read (and lost) by now
                    filler.unlink()
                    (signals / "go2").touch()

        result = _drive(attempt, each_turn)
        text = log.read_bytes()
    assert text == (
        b"b" * 4096  # a page, the disk's last: output on no line of its own
        + b"\n[... 7 bytes of output lost (no space left on device) ...]\nafter\n"
    )
    assert result.error == "output lost (no space left on device)"


def _fill(path: Path) -> None:
    """Write to `path` until its disk is full."""
    with open(path, "wb", buffering=0) as out:
        block = b"x" * 4096
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"x")


def test_a_log_that_could_not_be_opened_for_want_of_descriptors_is_tried_again(
    tmp_path: Path,
) -> None:
    """Under an open-files limit, a job whose first output found no descriptor for its log
    lost all its output for good: the open was never tried again. It is now tried at the
    next output, the log saying what was lost before."""
    signals = tmp_path / "signals"
    signals.mkdir()
    command = (
        f"cd {signals} && echo first; touch said; until [ -e go ]; do sleep 0.01; done; echo second"
    )
    attempt = Attempt(_spec(tmp_path, command, 10 << 20))
    log = Path(attempt.spec.log_path)
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    turns_after_said = 0

    def each_turn() -> None:
        nonlocal turns_after_said
        if (signals / "said").exists():
            turns_after_said += 1
            if turns_after_said == 2:  # "first" was read by now, and found no descriptor
                for fd in held:
                    os.close(fd)
                held.clear()
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)
                (signals / "go").touch()

    result = attempt.start()
    assert result is None
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, limits[1]))
    try:
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        while result is None:
            result = attempt.advance(wait_readable(attempt.fds(), _timeout(attempt)))
            each_turn()
    finally:
        attempt.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    assert log.read_bytes() == b"[... 6 bytes of output lost (too many open files) ...]\nsecond\n"
    assert result.error == "output lost (too many open files)"


def test_logs_says_when_part_of_the_output_was_lost(env: Env) -> None:
    """`logs` printed a log that had lost output (or nothing at all) and exited 0 without a
    word: only `show`'s error said so. It now says so on stderr."""
    with small_file_system(env.root / "logs", "size=1m") as disk:
        env.write_config(
            f'[settings]\nlog_dir = "{disk}"\n\n[jobs.talk]\ncommand = ["echo", "hi"]\n'
            "max_attempts = 1\n"
        )
        job_id = env.enqueue("talk")
        _fill(disk / "filler")
        env.run("run-worker", "--burst", check=True)
        shown = env.run("logs", str(job_id))
    assert (shown.returncode, shown.stdout) == (0, "")
    assert shown.stderr == (
        f"jobctl: note: job {job_id} attempt 1: part of its output was lost"
        " (no space left on device)\n"
    )

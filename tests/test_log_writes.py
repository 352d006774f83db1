"""How an attempt's output reaches its log: cut in slices between turns of the loop that
drives it, and what a log that cannot be written keeps and says."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

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
            deadline = attempt.deadline()
            timeout = None if deadline is None else deadline - time.monotonic()
            result = attempt.advance(wait_readable(attempt.fds(), timeout))
            if each_turn is not None:
                each_turn()  # type: ignore[operator]
    finally:
        attempt.close()
    return result


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

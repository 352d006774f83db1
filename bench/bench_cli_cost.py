"""CLI call cost: the wall time of `jobctl enqueue NAME --arg k=v` against `python -c pass`.

Both commands run alternately in the same run, from the same Python installation; the ratio
is the median of the per-round ratios. Target: jobctl costs at most 6x a bare Python start.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

from benchlib import (
    ERROR,
    Row,
    Sandbox,
    describe_failure,
    format_ms,
    format_ratio,
    median,
    paired_ratio,
    parse_args,
    report,
    say,
    timed,
    verdict,
)

TITLE = "CLI call cost"
TARGET_RATIO = 6.0


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    rounds = 6 if args.quick else 20
    with Sandbox("cli-cost", keep=args.keep) as sandbox:
        rows = measure(sandbox, rounds)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, rounds: int) -> list[Row]:
    enqueue = sandbox.jobctl("enqueue", "noop", "--arg", "k=v")
    bare_python = [sys.executable, "-c", "pass"]
    first = sandbox.run("enqueue", "noop", "--arg", "k=v")
    if first.returncode != 0:
        return [Row(TITLE, "enqueue failed", result=ERROR, note=describe_failure(first))]
    for _ in range(2):  # warm the page cache and the database file
        run_quietly(enqueue, sandbox)
        run_quietly(bare_python, sandbox)
    jobctl_times: list[float] = []
    python_times: list[float] = []
    for index in range(rounds):
        pair = [(enqueue, jobctl_times), (bare_python, python_times)]
        for argv, sink in pair if index % 2 == 0 else reversed(pair):
            sink.append(timed(partial(run_quietly, argv, sandbox)))
    jobctl_median, python_median = median(jobctl_times), median(python_times)
    ratio = paired_ratio(jobctl_times, python_times)
    say(
        f"   {rounds} rounds: jobctl enqueue {format_ms(jobctl_median)}, "
        f"python -c pass {format_ms(python_median)}, ratio {format_ratio(ratio)}"
    )
    return [
        Row(
            figure="CLI call cost (`enqueue NAME --arg k=v`)",
            measured=format_ms(jobctl_median),
            compared=f"`python -c pass` {format_ms(python_median)}",
            ratio=format_ratio(ratio),
            target=f"<= {TARGET_RATIO:g}x",
            result=verdict(ratio <= TARGET_RATIO),
        )
    ]


def run_quietly(argv: list[str], sandbox: Sandbox) -> None:
    subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=sandbox.env,
        cwd=sandbox.root,
        check=True,
    )


if __name__ == "__main__":
    sys.exit(main())

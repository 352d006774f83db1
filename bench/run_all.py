"""Run every jobctl benchmark, then print one summary table (markdown).

    .venv/bin/python bench/run_all.py            # make bench: the full figures (< 10 min)
    .venv/bin/python bench/run_all.py --quick    # make bench-quick: a smoke run (< 1 min)

Each script runs in a process of its own, with its own temporary directory and database, and
hands its rows back as JSON. The exit status is 1 when a script crashed (and, with --strict,
when a figure missed its target), else 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import BENCH_DIR, ERROR, FAIL, Row, markdown_table, say


@dataclass(frozen=True)
class Script:
    file: str
    title: str
    timeout_full: float
    timeout_quick: float


SCRIPTS = (
    Script("bench_cli_cost.py", "CLI call cost", 120, 30),
    Script("bench_batch_enqueue.py", "Batch enqueue", 180, 45),
    Script("bench_drain.py", "Drain, no-op", 360, 180),  # may install the peers first
    Script("bench_pickup_latency.py", "Pick-up latency", 120, 45),
    Script("bench_idle_cost.py", "Idle cost", 120, 45),
    Script("bench_claim_scale.py", "Claim at scale", 300, 60),
    Script("bench_status_scale.py", "Status at scale", 180, 60),
    Script("bench_worker_memory.py", "Worker memory", 60, 30),
    Script("bench_durability.py", "Durability cost", 60, 30),
    Script("bench_redis.py", "Redis: jobctl and RQ", 420, 150),  # may install RQ first
    Script("bench_cron.py", "Cron daemon", 420, 120),  # 100 (20) real seconds of fires
)


def main() -> int:
    args = parse_args()
    load_at_start = os.getloadavg()[0]
    warn_if_busy(load_at_start)
    started = time.perf_counter()
    rows: list[Row] = []
    for script in selected(args.only):
        rows.extend(run_script(script, args.quick))
    elapsed = time.perf_counter() - started
    summary = summary_text(rows, args.quick, elapsed, load_at_start)
    print("\n" + summary, flush=True)
    if args.markdown:
        Path(args.markdown).write_text(summary + "\n")
    return exit_status(rows, args.strict)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, fewer runs.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a figure fails.")
    parser.add_argument("--markdown", metavar="PATH", help="Also write the summary to PATH.")
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        help="Run only scripts whose file name contains NAME (repeatable).",
    )
    return parser.parse_args()


def warn_if_busy(load: float) -> None:
    cpus = len(os.sched_getaffinity(0))
    if load > cpus:
        say(
            f"warning: load average {load:.1f} on {cpus} cores: other processes compete for "
            "the CPU, so timings will be worse than on a quiet machine"
        )


def selected(names: list[str] | None) -> list[Script]:
    if not names:
        return list(SCRIPTS)
    return [s for s in SCRIPTS if any(name in s.file for name in names)]


def run_script(script: Script, quick: bool) -> list[Row]:
    """Run one bench script (its output goes straight through) and read back its rows."""
    say(f"\n## {script.title} ({script.file})")
    timeout = script.timeout_quick if quick else script.timeout_full
    with tempfile.TemporaryDirectory(prefix="jobctl-bench-rows-") as folder:
        rows_file = Path(folder) / "rows.json"
        argv = [sys.executable, str(BENCH_DIR / script.file), "--json", str(rows_file)]
        if quick:
            argv.append("--quick")
        started = time.perf_counter()
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return [crashed(script, f"timed out after {timeout:g} s")]
        say(f"({script.file}: {time.perf_counter() - started:.1f} s)")
        if not rows_file.exists():
            return [crashed(script, f"exited {result.returncode} without results")]
        return [Row(**fields) for fields in json.loads(rows_file.read_text())]


def crashed(script: Script, why: str) -> Row:
    return Row(script.title, "crashed", result=ERROR, note=why)


def summary_text(rows: list[Row], quick: bool, elapsed: float, load_at_start: float) -> str:
    mode = "quick (--quick: smaller sizes, fewer runs)" if quick else "full"
    when = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    load = f"load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    lines = [
        "## Summary",
        "",
        f"Run: {mode}, {elapsed:.0f} s, {when}; {load}.",
        "",
        machine_line(),
        "",
        markdown_table(rows),
    ]
    return "\n".join(lines)


def machine_line() -> str:
    from jobctl import __version__

    cpus = len(os.sched_getaffinity(0))
    return (
        f"Machine: nproc {cpus}, {cpu_model()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; jobctl {__version__} at commit {git_commit()}"
    )


def git_commit() -> str:
    """The checked-out commit (read only; uncommitted changes are not shown)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def exit_status(rows: list[Row], strict: bool) -> int:
    if any(row.result == ERROR for row in rows):
        return 1
    if strict and any(row.result == FAIL for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

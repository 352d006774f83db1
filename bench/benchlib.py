"""Shared pieces of the benchmark scripts: sandboxes, the jobctl command, timing and rows.

Every script works in a temporary directory of its own, with its own config, database and
HOME, and never touches the user's. A script reports rows: one figure, what jobctl measured,
what it is compared with, the ratio, the target and the verdict (PASS, FAIL, SKIP, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"

CONFIG_TEXT = """\
# Written by the jobctl benchmarks into their own temporary directory.
[settings]
allow_exec = true  # the Redis pick-up benchmark queues --exec jobs, as the SQLite one does

[jobs.noop]
command = ["true"]
"""

PASS = "PASS"
FAIL = "FAIL"
SKIP = "SKIP"
INFO = "INFO"
PENDING = "PENDING"
ERROR = "ERROR"

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# Rows and reports


@dataclass(frozen=True)
class Row:
    """One line of a result table."""

    figure: str
    measured: str
    compared: str = ""
    ratio: str = ""
    target: str = ""
    result: str = INFO
    note: str = ""


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def unavailable_row(figure: str, reason: str, target: str = "") -> Row:
    return Row(figure=figure, measured="not available", target=target, result=SKIP, note=reason)


def markdown_table(rows: Sequence[Row]) -> str:
    header = "| Figure | Measured | Compared with | Ratio | Target | Result |"
    lines = [header, "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        result = f"**{row.result}**" if row.result in (PASS, FAIL) else row.result
        if row.note:
            result += f" ({row.note})"
        cells = [row.figure, row.measured, row.compared, row.ratio, row.target, result]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="Smaller sizes and fewer runs (a smoke test)."
    )
    parser.add_argument(
        "--json", metavar="PATH", help="Also write the result rows to PATH (for run_all.py)."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary directory for inspection."
    )
    return parser.parse_args()


def report(title: str, rows: Sequence[Row], args: argparse.Namespace) -> int:
    """Print the rows as a markdown table and write them as JSON when asked; exit status 0."""
    print(f"\n### {title}\n")
    print(markdown_table(rows))
    sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(row) for row in rows], indent=1))
    return 0


def say(text: str) -> None:
    """Progress and details, printed as they come."""
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------
# Statistics and formatting


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of the samples at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of per-round ratios, each taken between two figures of the same round."""
    return median([a / b for a, b in zip(numerators, denominators, strict=True)])


def format_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def format_rate(per_second: float) -> str:
    return f"{per_second:,.0f} jobs/s"


def format_ratio(value: float) -> str:
    return f"{value:.2f}x"


def kib_to_mb(kib: float) -> float:
    """/proc reports KiB; figures are in MB (10^6 bytes)."""
    return kib * 1024 / 1e6


def timed(action: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# ---------------------------------------------------------------------------------------------
# /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / CLOCK_TICKS_PER_SECOND


def memory_kib(pid: int, key: str) -> int:
    """A Vm* line of /proc/PID/status (VmRSS, VmHWM, ...), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


# ---------------------------------------------------------------------------------------------
# The jobctl command and a sandbox to run it in


def jobctl_command() -> list[str]:
    """The installed `jobctl` entry point beside this Python, else `python -m jobctl`."""
    script = Path(sys.executable).with_name("jobctl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "jobctl"]


def compile_jobctl() -> None:
    """Bring jobctl's bytecode up to date, as an install does: with PYTHONDONTWRITEBYTECODE
    set, an editable install whose sources changed recompiles every module on every call,
    and the start-up figures would measure the compiler rather than jobctl."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("jobctl")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def sandbox_environment(home: Path) -> dict[str, str]:
    """The current environment with HOME and the XDG dirs moved into the sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBCTL_")}
    env.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        TMPDIR=str(home / "tmp"),
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


@dataclass
class Sandbox:
    """A temporary directory with a config, a database path and an environment of its own."""

    name: str
    keep: bool = False
    root: Path = field(init=False)
    config: Path = field(init=False)
    db: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)
    _logs: list[IO[bytes]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        compile_jobctl()
        self.root = Path(tempfile.mkdtemp(prefix=f"jobctl-bench-{self.name}-"))
        self.config = self.root / "jobs.toml"
        self.config.write_text(CONFIG_TEXT)
        self.db = self.root / "queue.db"
        self.env = sandbox_environment(self.root / "home")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def jobctl(self, *args: str, db: Path | None = None) -> list[str]:
        return [
            *jobctl_command(),
            "--config",
            str(self.config),
            "--db",
            str(db or self.db),
            *args,
        ]

    def run(
        self,
        *args: str,
        db: Path | None = None,
        stdout: int | IO[bytes] = subprocess.DEVNULL,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `jobctl ARGS` to its end; stderr is captured for error messages."""
        return subprocess.run(
            self.jobctl(*args, db=db),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, db: Path | None = None, log_name: str) -> subprocess.Popen[bytes]:
        """Start `jobctl ARGS` in the background (its own session); stopped by close()."""
        return self.spawn(self.jobctl(*args, db=db), log_name=log_name)

    def spawn(self, argv: Sequence[str], *, log_name: str) -> subprocess.Popen[bytes]:
        """Start any command in the background, stderr to a log file in the sandbox."""
        log = open(self.root / log_name, "wb")  # noqa: SIM115 - closed by close()
        self._logs.append(log)
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=self.env,
            cwd=self.root,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def log_tail(self, log_name: str, lines: int = 3) -> str:
        try:
            text = (self.root / log_name).read_text(errors="replace")
        except OSError:
            return ""
        return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def close(self) -> None:
        for proc in self._procs:
            stop_process(proc)
        for log in self._logs:
            log.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            say(f"(kept {self.root})")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def describe_failure(result: subprocess.CompletedProcess[bytes]) -> str:
    """One line for a command that failed: its exit code and the end of its stderr."""
    stderr = (result.stderr or b"").decode(errors="replace").strip().splitlines()
    lines = [line.strip(" │╭╮╰╯─") for line in stderr]
    last = next((line for line in reversed(lines) if line and "Try '" not in line), "")
    return f"exit {result.returncode}" + (f": {last}" if last else "")


def wake_socket_ready(db: Path) -> bool:
    """True once an idle worker listens on the database's wake-up directory."""
    wake = db.with_name(db.name + ".wake")
    try:
        return any(name.endswith(".sock") for name in os.listdir(wake))
    except OSError:
        return False

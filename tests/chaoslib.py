"""Helpers shared by the chaos and hostile-input suites.

Processes that run long (workers under a killer, producers) write their output to files: a
pipe nobody reads fills up and stalls them. The database is inspected with plain SQLite reads,
as a second process would, never through a mock. Full-scale variants run only under
`pytest -m chaos` (`make chaos`) and print their figures to the terminal.

Run as a script, `python chaoslib.py produce CONFIG DB COUNT TAG OUT` is a producer: it calls
the jobctl command-line entry point COUNT times in one process (`jobctl enqueue noop --arg
tag=TAG-i`), and writes one JSON line per call to OUT (exit code, printed id, stderr, seconds)
as soon as the call returns, so that a killed producer leaves its acknowledged enqueues behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from conftest import Env

PYTHON = sys.executable
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# Scale


def require_full_scale(request: pytest.FixtureRequest) -> None:
    """Full-scale variants run only when selected with `-m chaos`; the default suite runs the
    short ones."""
    import pytest

    expr = (request.config.option.markexpr or "").strip()
    if "chaos" not in expr or "not chaos" in expr:
        pytest.skip("full scale: run with `make chaos` (pytest -m chaos)")


def report(
    capsys: pytest.CaptureFixture[str], title: str, rows: Sequence[tuple[str, object]]
) -> str:
    """Print a two-column table straight to the terminal, past pytest's capture."""
    width = max(len(name) for name, _ in rows)
    text = "\n".join([title, *(f"  {name:<{width}}  {value}" for name, value in rows)])
    with capsys.disabled():
        sys.stdout.write("\n" + text + "\n")
        sys.stdout.flush()
    return text


# ---------------------------------------------------------------------------------------------
# Processes


def cli(env: Env, *args: str) -> list[str]:
    return [PYTHON, "-m", "jobctl", *env.global_args(), *args]


def spawn(env: Env, *args: str, log: Path) -> subprocess.Popen[str]:
    """Start `jobctl ARGS` in its own session with stdout and stderr going to `log`; it is
    killed at teardown like the processes of `env.start`."""
    with log.open("a") as handle:
        proc = subprocess.Popen(
            cli(env, *args),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


def spawn_producer(env: Env, count: int, tag: str, out: Path) -> subprocess.Popen[str]:
    log = out.with_suffix(".log")
    argv = [PYTHON, str(HERE / "chaoslib.py"), "produce", str(env.config), str(env.db)]
    argv += [str(count), tag, str(out)]
    with log.open("a") as handle:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


def run_cli(
    env: Env,
    *args: str,
    input: str | None = None,
    timeout: float = 60,
    preexec_fn: Callable[[], None] | None = None,
    global_args: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Like `env.run`, with a hook into the child before it runs jobctl (resource limits),
    and other global options than the sandbox's `--config C --db D` when given."""
    options = env.global_args() if global_args is None else global_args
    return subprocess.run(
        [PYTHON, "-m", "jobctl", *options, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env.env,
        cwd=env.root,
        preexec_fn=preexec_fn,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The documented failure: the exit code, and one line on stderr starting `jobctl: `."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jobctl: "), lines[0]
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


def stop(proc: subprocess.Popen[str], timeout: float = 60) -> int:
    """SIGTERM, then the exit code (a graceful stop must exit 0)."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


# ---------------------------------------------------------------------------------------------
# The database, seen from outside


@contextlib.contextmanager
def peek(db: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection for reading, as any other process would open one."""
    conn = sqlite3.connect(str(db), timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = 1")
        yield conn
    finally:
        conn.close()


def count(db: Path, sql: str, params: Sequence[Any] = ()) -> int:
    with peek(db) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def states(db: Path) -> dict[str, int]:
    with peek(db) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())


def consistency_problems(db: Path) -> list[str]:
    """What a crash may never leave behind: a damaged file, attempts without their job, or
    job_counts (kept by triggers and by enqueue) that disagree with the jobs table."""
    problems: list[str] = []
    with peek(db) as conn:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"integrity_check: {integrity[:5]}")
        orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
        if orphans:
            problems.append(f"foreign_key_check: {orphans[:5]}")
        kept = {
            (queue, state): n
            for queue, state, n in conn.execute("SELECT queue, state, n FROM job_counts")
            if n != 0
        }
        real = {
            (queue, state): n
            for queue, state, n in conn.execute(
                "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"
            )
        }
        if kept != real:
            problems.append(f"job_counts {sorted(kept.items())} != jobs {sorted(real.items())}")
    return problems


def page_size(db: Path) -> int:
    """The page size a database file's header gives (bytes 16-17; 1 stands for 65536)."""
    with db.open("rb") as handle:
        size = int.from_bytes(handle.read(18)[16:18], "big")
    return 65536 if size == 1 else size


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The producer


def _produce(config: str, db: str, total: int, tag: str, out: str) -> int:
    from jobctl.cli import main
    from jobctl.cli.context import STATE

    with open(out, "a", encoding="utf-8") as sink:
        for index in range(total):
            STATE._config = None
            stdout, stderr = io.StringIO(), io.StringIO()
            saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = stdout, stderr
            started = time.monotonic()
            try:
                main.run(
                    [
                        "--config",
                        config,
                        "--db",
                        db,
                        "enqueue",
                        "noop",
                        "--arg",
                        f"tag={tag}-{index}",
                    ]
                )
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            finally:
                sys.stdout, sys.stderr = saved
            record = {
                "i": index,
                "code": code,
                "id": stdout.getvalue().strip(),
                "stderr": stderr.getvalue(),
                "seconds": time.monotonic() - started,
            }
            sink.write(json.dumps(record) + "\n")
            sink.flush()
    return 0


def read_produced(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    records = []
    for line in out.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):  # the last line of a killed producer
            records.append(json.loads(line))
    return records


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "produce":
        _, _, config_arg, db_arg, total_arg, tag_arg, out_arg = sys.argv
        sys.exit(_produce(config_arg, db_arg, int(total_arg), tag_arg, out_arg))
    sys.exit(f"usage: {sys.argv[0]} produce CONFIG DB COUNT TAG OUT")

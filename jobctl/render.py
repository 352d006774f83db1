"""Everything jobctl prints for people (tables) and for scripts (JSON documents).

Tables use rich on a terminal, and plain aligned text when stdout is not a terminal or
NO_COLOR is set, so pipes and logs stay clean. JSON shapes are documented in the README
and pinned by tests: add fields, never rename or drop one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from jobctl.durations import format_short
from jobctl.models import Attempt, Job, State
from jobctl.timefmt import iso


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def job_document(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "job": job.job,
        "queue": job.queue,
        "state": job.state.value,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "payload": job.payload,
        "key": job.key,
        "command": job.command,
        "run_at": iso(job.run_at),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "exit_code": job.exit_code,
        "error": job.error,
        "worker": job.worker,
        "schedule": job.schedule,
    }


def attempt_document(attempt: Attempt) -> dict[str, Any]:
    duration = None
    if attempt.finished_at is not None:
        duration = round(attempt.finished_at - attempt.started_at, 3)
    return {
        "run": attempt.run,
        "attempt": attempt.attempt,
        "worker": attempt.worker,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "duration_s": duration,
        "outcome": attempt.outcome.value if attempt.outcome else None,
        "exit_code": attempt.exit_code,
        "signal": attempt.signal,
        "error": attempt.error,
        "log_path": attempt.log_path,
    }


# ---------------------------------------------------------------------------------------------
# Tables


def use_rich() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


_STATE_STYLE = {
    State.QUEUED: "cyan",
    State.SCHEDULED: "blue",
    State.RUNNING: "yellow",
    State.SUCCEEDED: "green",
    State.DEAD: "bold red",
    State.CANCELLED: "dim",
}


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None] | None = None,
    title: str | None = None,
) -> None:
    """One table; only the columns that have a value in some row are shown."""
    keep = [i for i in range(len(columns)) if any(row[i] for row in rows)] or list(
        range(len(columns))
    )
    columns = [columns[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    if use_rich():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        grid = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            grid.add_column(column, overflow="fold")
        for index, row in enumerate(rows):
            style = styles[index] if styles else None
            grid.add_row(
                *(Text(cell, style=(style or "") if i == 0 else "") for i, cell in enumerate(row))
            )
        Console().print(grid)
        return
    if title:
        print(title)
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return ""
    delta = (now or time.time()) - ts
    if delta >= 0:
        return format_short(delta) + " ago"
    return "in " + format_short(-delta)


def one_line(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def job_rows(jobs: Sequence[Job]) -> None:
    now = time.time()
    rows = []
    styles = []
    for job in jobs:
        if job.state == State.SCHEDULED:
            when = ago(job.run_at, now)
        elif job.state == State.RUNNING:
            when = "started " + ago(job.started_at, now)
        elif job.finished_at:
            when = ago(job.finished_at, now)
        else:
            when = ago(job.created_at, now)
        name = job.job
        if job.command:
            name = one_line(" ".join(job.command), 30)
        rows.append(
            [
                str(job.id),
                name,
                job.queue if job.queue != "default" else "",
                job.state.value,
                str(job.priority) if job.priority else "",
                f"{job.attempts}/{job.max_attempts}",
                when,
                job.key or "",
                one_line(job.error, 50),
            ]
        )
        styles.append(_STATE_STYLE.get(job.state))
    table(["ID", "JOB", "QUEUE", "STATE", "PRI", "TRIES", "WHEN", "KEY", "ERROR"], rows, styles)


def job_detail(job: Job, attempts: Sequence[Attempt]) -> None:
    now = time.time()
    fields: list[tuple[str, str]] = [
        ("id", str(job.id)),
        ("job", job.job),
        ("command", " ".join(job.command) if job.command else ""),
        ("queue", job.queue),
        ("state", job.state.value),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts}/{job.max_attempts}"),
        ("key", job.key or ""),
        ("schedule", job.schedule or ""),
        ("created", f"{iso(job.created_at)} ({ago(job.created_at, now)})"),
        ("run at", f"{iso(job.run_at)} ({ago(job.run_at, now)})"),
        ("started", iso(job.started_at) or ""),
        ("finished", iso(job.finished_at) or ""),
        ("worker", job.worker or ""),
        ("exit code", "" if job.exit_code is None else str(job.exit_code)),
        ("error", job.error or ""),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
    ]
    width = max(len(k) for k, _ in fields)
    out = [f"{k.ljust(width)}  {v}" for k, v in fields if v]
    sys.stdout.write("\n".join(out) + "\n")
    if attempts:
        sys.stdout.write("\n")
        rows = []
        for a in attempts:
            duration = ""
            if a.finished_at is not None:
                duration = format_short(a.finished_at - a.started_at)
            code = ""
            if a.signal:
                code = f"signal {a.signal}"
            elif a.exit_code is not None:
                code = str(a.exit_code)
            rows.append(
                [
                    str(a.attempt),
                    iso(a.started_at) or "",
                    duration,
                    a.outcome.value if a.outcome else "running",
                    code,
                    a.worker,
                    one_line(a.error, 60),
                    a.log_path or "",
                ]
            )
        table(["ATTEMPT", "STARTED", "TOOK", "OUTCOME", "EXIT", "WORKER", "ERROR", "LOG"], rows)

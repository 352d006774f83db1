"""Queue databases of a given size for the scale benchmarks, built once and cached.

A database holds `jobs` jobs of the `noop` type in the default queue: 90% ready at priority 0
and 10% delayed ten years ahead at a higher priority, so a claim that looked at delayed jobs,
or ordered the whole table instead of walking the ready index, would show. They are built
through the store API (SqliteStore.enqueue, 50,000 NewJob per call) and cached under
bench/.cache/, keyed by jobctl's schema files and page size: a change of either builds them
anew. Benchmarks work on copies, never on the cached file itself.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from importlib import resources
from pathlib import Path

from benchlib import CACHE_DIR, say

from jobctl.models import NewJob
from jobctl.store.sqlite import SCHEMA_VERSION, SqliteStore
from jobctl.store.sqlite.connection import PAGE_SIZE

CHUNK = 50_000
DELAYED_EVERY = 10
DELAYED_PRIORITY = 10
DELAY_SECONDS = 10 * 365 * 86400.0
BUILDER_VERSION = "1"  # change when what is built here changes


def schema_key() -> str:
    """A short hash of jobctl's schema files, its page size and this builder."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}:{SCHEMA_VERSION}:{PAGE_SIZE}".encode())
    folder = resources.files("jobctl.store") / "schema"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:12]


def cached_database(jobs: int) -> Path:
    """The cached database of `jobs` jobs, built now if missing or made for another schema."""
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"queue-{jobs}-{schema_key()}.db"
    if path.exists():
        return path
    for stale in CACHE_DIR.glob(f"queue-{jobs}-*.db"):
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="jobctl-bench-build-") as work:
        built = Path(work) / "queue.db"
        started = time.perf_counter()
        build_database(built, jobs)
        say(f"   built a {jobs:,}-job database in {time.perf_counter() - started:.1f} s")
        shutil.move(built, path)
    return path


def copy_database(source: Path, directory: Path, name: str) -> Path:
    """A private copy of a cached database, for a benchmark that may change it."""
    target = directory / name
    shutil.copyfile(source, target)
    return target


def build_database(path: Path, jobs: int) -> None:
    now = time.time()
    with SqliteStore(path, durability="off") as store:
        for start in range(0, jobs, CHUNK):
            store.enqueue([new_job(n, now) for n in range(start, min(jobs, start + CHUNK))], now)
    checkpoint(path)


def new_job(number: int, now: float) -> NewJob:
    if number % DELAYED_EVERY == 0:
        return NewJob(
            job="noop",
            payload={"n": number},
            priority=DELAYED_PRIORITY,
            run_at=now + DELAY_SECONDS,
        )
    return NewJob(job="noop", payload={"n": number})


def checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so the file alone is the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()

"""The SQLite store: one local file in WAL mode, shared by any number of processes.

Every write runs in `BEGIN IMMEDIATE`, so the busy handler can wait for the write lock
instead of failing a read-then-write transaction with "database is locked". Creating and
migrating a database happens under a file lock, so two processes starting on a new file
never race. All SQL of jobctl lives in this package and in schema/; each module holds one
part of the storage interface.
"""

from __future__ import annotations

from jobctl.store.base import Store
from jobctl.store.sqlite.connection import SCHEMA_VERSION
from jobctl.store.sqlite.control import ControlOps
from jobctl.store.sqlite.cron import CronOps
from jobctl.store.sqlite.monitor import MonitorOps
from jobctl.store.sqlite.records import RecordOps

__all__ = ["SCHEMA_VERSION", "SqliteStore"]


class SqliteStore(CronOps, RecordOps, ControlOps, MonitorOps, Store):
    """The storage interface over one SQLite file (CronOps brings QueueOps along)."""

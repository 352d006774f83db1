"""Errors that reach the user as one line on stderr and a documented exit code.

Exit codes are part of the interface scripts rely on:
  0  success
  1  an operation failed (a job ended dead or cancelled, nothing matched, ...)
  2  bad usage, configuration or payload
  3  the database cannot be used
  124 a wait timed out
  129 a wait ended by SIGHUP (its terminal closed)
  130 interrupted (Ctrl-C)
  141 stdout's reader went away (`| head`)
  143 a wait ended by SIGTERM
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped
EXIT_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away (`| head`), as cat and git end


class JobctlError(Exception):
    """Base class: the message is the single line printed to the user."""

    exit_code = EXIT_FAILED


class UsageError(JobctlError):
    exit_code = EXIT_USAGE


class ConfigError(JobctlError):
    exit_code = EXIT_USAGE


class PayloadError(JobctlError):
    exit_code = EXIT_USAGE


class DurationError(UsageError):
    pass


def no_job_to_run_after(after_id: int) -> UsageError:
    """The refusal of an `--after` id no job has, in the words every store and the CLI use."""
    return UsageError(f"--after {after_id}: there is no job {after_id}")


class StoreError(JobctlError):
    """The database is missing, corrupt, locked, not ours, or unwritable."""

    exit_code = EXIT_STORE


class BadLocation(StoreError):
    """A database location that names none: a malformed redis:// URL, another program's
    scheme. Bad usage (exit 2), as `validate` says it, where a database that is there and
    cannot be used is exit 3; a StoreError still to the code that opens stores."""

    exit_code = EXIT_USAGE


class StoreFull(StoreError):
    """The disk under the database is full, or the Redis server at its maxmemory: `prune`
    can still make room (see retention)."""


class StoreMissing(StoreError):
    """The database (or Redis namespace) does not exist yet: nothing was ever enqueued."""


class NotFound(JobctlError):
    exit_code = EXIT_FAILED


class OperationFailed(JobctlError):
    exit_code = EXIT_FAILED


class KeyHeldByAnother(OperationFailed):
    """A job's key is held by a job of another job type or queue: the store stored nothing of
    the call, since that holder's id is not the job's, and a batch is all or nothing.
    `index` is the job's place in the call; `holder` the id of the job holding the key, or
    None when it is an earlier job of the same call, at `holder_index`."""

    def __init__(self, key: str, index: int, holder: int | None, holder_index: int | None) -> None:
        self.key, self.index, self.holder, self.holder_index = key, index, holder, holder_index
        held_by = f"job {holder}" if holder is not None else f"the job at {holder_index}"
        super().__init__(
            f"key {key!r} is held by {held_by}, of another job type or queue; nothing queued"
        )

"""A change of many jobs made a batch at a time: each batch one store call (a transaction,
or a Redis script), with a rest between two, and an interrupt acted on between batches.

`prune`, `dead purge`, and a `cancel`, `edit` or `dead retry` of many jobs go this way: in
one call, a cancel of 100,000 ids held the write lock (on Redis, the server) for seconds,
and every enqueue and worker waited, failing past the busy timeout; a prune of a million
jobs cut a worker from 300 jobs a second to 5-30 for its whole run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from jobctl.stopsignals import interrupts_held

if TYPE_CHECKING:
    from jobctl.store import Store

# Jobs changed in one store call: a transaction no writer waits long for.
BATCH = 500
# After each batch the change rests as long as the batch took (up to REST_AT_MOST: a batch
# that waited long for the lock let others have it): the writers that waited meanwhile
# (workers, enqueues), retrying in SQLite's busy handler, then find the lock free. Batches
# back to back retook it at once.
REST_AT_MOST = 0.1


class _WaitEnded(Exception):
    """A held interrupt, ending a batch's wait for the database's lock."""


def run_batches(
    store: Store,
    step: Callable[[], bool],
    *,
    doing: str,
    done: str,
    changed: Callable[[], int],
    wait_may_end: Callable[[], bool] = lambda: True,
) -> None:
    """Call `step` (one batch; True while more are to come) until it is done. Ctrl-C,
    SIGTERM and SIGHUP are held until the batch under way is done (a prune's rows are
    committed before its log files are removed: an interrupt between the two lost their
    paths), then end the change with "interrupted after `doing` N job(s)" (N: `changed`;
    "terminated" or "hung up" for SIGTERM or SIGHUP, as any command says them)
    and act as they would have. A batch still waiting for the database's lock has changed
    nothing: an interrupt ends that wait, as in any command, while `wait_may_end` says so."""
    with interrupts_held() as interrupts:
        waiting = store.while_waiting

        def while_waiting() -> None:
            if interrupts and wait_may_end():
                raise _WaitEnded
            if waiting is not None:
                waiting()

        store.while_waiting = while_waiting
        try:
            more = True
            while more and not interrupts:
                started = time.monotonic()
                try:
                    more = step()
                except _WaitEnded:
                    break
                except KeyboardInterrupt as exc:
                    # A second interrupt to a Redis server that did not answer a batch (see
                    # jobctl.store.inflight): what was done before is said with it.
                    note = getattr(exc, "note", None)
                    if changed() and isinstance(note, str):
                        exc.note = f"{changed()} job(s) were {done}; then {note}"  # type: ignore[attr-defined]
                    raise
                if more and not interrupts:
                    time.sleep(min(time.monotonic() - started, REST_AT_MOST))
        finally:
            store.while_waiting = waiting
    if interrupts:
        from jobctl.cli.main import stop_word  # (loaded already: the command runs from it)
        from jobctl.text import say

        say(f"jobctl: {stop_word(interrupts[0])} after {doing} {changed()} job(s)")
        # Acted on as it would have been, its handler back: Ctrl-C exits 130, and SIGTERM
        # or SIGHUP ends the process by that signal.
        signal.raise_signal(interrupts[0])


Item = TypeVar("Item")


def run_in_batches(
    store: Store,
    items: Sequence[Item],
    step: Callable[[list[Item]], None],
    changed_so_far: Callable[[], int],
    doing: str,
    done: str,
) -> None:
    """Run `step` (one store call) on `items` a BATCH at a time, by run_batches; a change of a
    batch or less is one call, as it always was."""
    if len(items) <= BATCH:
        step(list(items))
        return
    starts = iter(range(0, len(items), BATCH))

    def one_batch() -> bool:
        start = next(starts)
        step(list(items[start : start + BATCH]))
        return start + BATCH < len(items)

    run_batches(store, one_batch, doing=doing, done=done, changed=changed_so_far)

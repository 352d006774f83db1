"""Durability cost: one enqueue per commit at each `[settings] durability`.

Straight through the store API (SqliteStore.enqueue of one job, as `jobctl enqueue` commits
it), so process start-up does not hide the commit's own cost. Rounds rotate the three
settings, each on a database of its own; figures are medians per enqueue, ratios taken per
round against "off". No target: the figures say what each promise costs (README, Storage).
"""

from __future__ import annotations

import time

from benchlib import Row, Sandbox, format_ratio, median, paired_ratio, parse_args, report, say

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore

TITLE = "Durability cost"
SETTINGS = ("full", "normal", "off")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    per_round, rounds = (100, 3) if args.quick else (400, 5)
    with Sandbox("durability", keep=args.keep) as sandbox:
        times: dict[str, list[float]] = {name: [] for name in SETTINGS}
        stores = {
            name: SqliteStore(sandbox.root / f"{name}.db", durability=name) for name in SETTINGS
        }
        try:
            for round_number in range(rounds):
                order = SETTINGS[round_number % 3 :] + SETTINGS[: round_number % 3]
                for name in order:
                    seconds = per_enqueue(stores[name], per_round)
                    times[name].append(seconds)
                    say(f"   round {round_number + 1}: {name:<6} {seconds * 1e6:8.0f} us/enqueue")
        finally:
            for store in stores.values():
                store.close()
    rows = [
        Row(
            figure=f"one enqueue per commit, durability = {name!r}",
            measured=f"{median(times[name]) * 1e6:,.0f} us",
            compared=f"'off': {median(times['off']) * 1e6:,.0f} us",
            ratio=format_ratio(paired_ratio(times[name], times["off"])),
        )
        for name in SETTINGS
    ]
    return report(TITLE, rows, args)


def per_enqueue(store: SqliteStore, count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        store.enqueue([NewJob(job="noop", payload={"n": index})], time.time())
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    raise SystemExit(main())

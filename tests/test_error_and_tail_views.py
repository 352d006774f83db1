"""How an attempt's error and the end of its log read in each view: `dead show`'s log tail
holds the lines asked for, each whole, as `logs --lines` gives them; and a stored error is
shown with the same characters by `list`, `dead list`, `show` and `dead show`."""

from __future__ import annotations

import json

from conftest import Env

LONG_LINES = """import sys
for i in range(300):
    print(f"line {i:04d} " + "x" * 1000)
sys.exit(1)
"""


def test_dead_show_gives_the_lines_asked_for_however_long_they_are(env: Env) -> None:
    """Read as a fixed 64 KiB, a tail of 100 lines of 1 KB gave 64 of them and the end of
    a 65th, cut mid-line and shown as if whole, in the text and in the JSON alike."""
    job_id = env.enqueue("--exec", "--", "python3", "-c", LONG_LINES)
    env.run("run-worker", "--burst", check=True)
    wanted = [f"line {i:04d} " + "x" * 1000 for i in range(200, 300)]

    logs = env.run("logs", str(job_id), "--lines", "100", check=True).stdout
    assert logs.splitlines() == wanted
    shown = env.run("dead", "show", str(job_id), "--lines", "100", check=True).stdout
    tail = [line.removeprefix("    ") for line in shown.splitlines() if line.startswith("    ")]
    assert tail[-100:] == wanted and "x" * 1000 not in "".join(tail[:-100])
    document = json.loads(
        env.run("dead", "show", str(job_id), "--lines", "100", "--json", check=True).stdout
    )
    assert document["attempts_history"][0]["log_tail"] == "\n".join(wanted)

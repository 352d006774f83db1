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


WRITES = r"tab\there  two  spaces\x85next\r50%\r100%\n"


def test_an_error_reads_the_same_in_every_view(env: Env) -> None:
    """The tables folded every run of blanks into one space (`tab\\there` read `tab here`),
    so that an error copied from `show` or --json did not find its row; `dead show` split
    it at each carriage return and NEL, into lines the job never wrote."""
    script = f'import sys; sys.stderr.write("{WRITES}"); sys.exit(2)'
    job_id = env.enqueue("--exec", "--", "python3", "-c", script)
    env.run("run-worker", "--burst", check=True)
    escaped = r"exit code 2: tab\there  two  spaces\x85next\r50%\r100%"

    assert env.show(job_id)["error"] == "exit code 2: tab\there  two  spaces\x85next\r50%\r100%"
    shown = env.run("show", str(job_id), check=True).stdout
    assert f"error      {escaped}\n" in shown
    attempts_row = next(line for line in shown.splitlines() if line.startswith("1 "))
    assert escaped in attempts_row
    for listing in (["list"], ["dead", "list"]):
        rows = env.run(*listing, check=True).stdout.splitlines()
        assert len(rows) == 2 and escaped in rows[1], rows

    dead = env.run("dead", "show", str(job_id), check=True).stdout.splitlines()
    at = dead.index("  error:")
    assert dead[at + 1] == f"    {escaped}" and dead[at + 2].startswith("  log tail (")


def test_dead_show_splits_an_error_at_newlines_alone(env: Env) -> None:
    """An error of several lines (the stderr a job ended with) is shown a line per line."""
    script = 'import sys; sys.stderr.write("first\\rframe\\nsecond\\n"); sys.exit(4)'
    job_id = env.enqueue("--exec", "--", "python3", "-c", script)
    env.run("run-worker", "--burst", check=True)
    error = env.show(job_id)["error"]
    assert isinstance(error, str) and "\n" in error

    dead = env.run("dead", "show", str(job_id), check=True).stdout.splitlines()
    at = dead.index("  error:")
    lines = dead[at + 1 : dead.index(next(x for x in dead[at:] if x.startswith("  log")))]
    assert [line.removeprefix("    ") for line in lines] == error.replace("\r", "\\r").split("\n")
    assert any(line.endswith("first\\rframe") for line in lines)

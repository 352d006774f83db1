"""What an on_failure or on_dead hook writes is kept where a person finds it: in a log file of
its own beside the job logs, named by its `hook.*` event line, which carries the (bounded)
end of that output.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Env
from test_observe_support import parsed_events

# The example config's hook: it reports on stderr.
EXAMPLE_HOOK = '["sh", "-c", "echo \\"attempt $JOBCTL_ATTEMPT of job $JOBCTL_JOB_ID failed\\" >&2"]'


def _hook_events(stderr: str, log_format: str) -> list[dict[str, str]]:
    return [e for e in parsed_events(stderr, log_format) if e["event"].startswith("hook.")]


def test_a_hooks_output_is_in_its_debug_line_and_its_log_file(env: Env) -> None:
    env.write_config(
        '[jobs.flaky]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "10ms"\n'
        f"jitter = false\non_failure = {EXAMPLE_HOOK}\n"
    )
    job_id = env.enqueue("flaky")
    result = env.run("--log-level", "debug", "--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    # The second attempt may fail (10 ms on) before the first one's hook has ended.
    events = sorted(_hook_events(result.stderr, "json"), key=lambda e: str(e["output"]))
    assert [(e["event"], e["hook"]) for e in events] == [("hook.succeeded", "failure")] * 2
    for attempt, event in enumerate(events, start=1):
        said = f"attempt {attempt} of job {job_id} failed"
        assert event["output"] == said
        assert Path(event["log"]).read_text() == said + "\n"
        assert Path(event["log"]).parent.name == "hooks"  # beside the job logs, apart

    env.enqueue("flaky")
    text = env.run("--log-level", "debug", "run-worker", "--burst", check=True)
    [first, _] = sorted(_hook_events(text.stderr, "text"), key=lambda e: str(e["output"]))
    assert first["output"] == f"attempt 1 of job {job_id + 1} failed"
    assert first["log"].endswith(f"/hooks/{job_id + 1}.1.failure.log")


def test_a_failing_hooks_output_is_in_its_warning_and_a_silent_one_names_none(
    env: Env,
) -> None:
    hook = json.dumps(["sh", "-c", "echo 'to: ops@example.com'; echo 'smtp: refused' >&2; exit 3"])
    env.write_config(
        '[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'
        f'on_failure = ["true"]\non_dead = {hook}\n'
    )
    env.enqueue("bad")
    result = env.run("--log-format", "json", "run-worker", "--burst", check=True)  # info level
    [failed] = _hook_events(result.stderr, "json")
    assert (failed["event"], failed["level"], failed["hook"]) == ("hook.failed", "warning", "dead")
    assert failed["error"] == "exit code 3: smtp: refused"
    assert failed["output"] == "to: ops@example.com\nsmtp: refused"  # stdout too, in order
    assert Path(failed["log"]).read_text() == "to: ops@example.com\nsmtp: refused\n"

    env.enqueue("bad")
    result = env.run("--log-level", "debug", "--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    by_hook = {e["hook"]: e for e in _hook_events(result.stderr, "json")}  # two threads
    silent, failed = by_hook["failure"], by_hook["dead"]
    assert (silent["event"], silent["hook"]) == ("hook.succeeded", "failure")
    assert "output" not in silent and "log" not in silent  # it wrote nothing: no file
    assert failed["output"] == "to: ops@example.com\nsmtp: refused"


def test_a_hooks_output_in_its_line_is_bounded_and_keeps_the_end(env: Env) -> None:
    noisy = json.dumps(["sh", "-c", "seq 1 100000; echo 'the last word' >&2"])
    env.write_config(f'[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\non_dead = {noisy}\n')
    env.enqueue("bad")
    result = env.run("--log-level", "debug", "--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    [event] = _hook_events(result.stderr, "json")
    output = event["output"]
    assert len(output.encode()) <= 1024
    assert output.endswith("99999\n100000\nthe last word")
    assert output.split("\n")[0].isdigit()  # whole lines: the cut one is dropped
    assert Path(event["log"]).stat().st_size > 500_000  # the file has it all


def test_a_retried_dead_job_s_hook_output_is_its_own_run_s(env: Env) -> None:
    """dead retry counts attempts from 1 again, so a hook's log name comes round again: the
    second death's hook line and file hold that run's output, not the first's after it."""
    runs = env.root / "runs"
    hook = f'["sh", "-c", "echo run $(cat {runs}) >&2; exit 1"]'
    env.write_config(
        f'[jobs.bad]\ncommand = ["sh", "-c", "echo x >> {runs}; false"]\nmax_attempts = 1\n'
        f"on_dead = {hook}\n"
    )
    job_id = env.enqueue("bad")
    first = env.run("--log-format", "json", "run-worker", "--burst", check=True)
    env.run("dead", "retry", str(job_id), check=True)
    second = env.run("--log-format", "json", "run-worker", "--burst", check=True)
    [one] = _hook_events(first.stderr, "json")
    [two] = _hook_events(second.stderr, "json")
    assert one["output"] == "run x" and two["output"] == "run x x"
    assert Path(two["log"]).read_text() == "run x x\n"


def test_prune_and_dead_purge_remove_the_hook_logs_of_the_jobs_they_delete(env: Env) -> None:
    hook = '["sh", "-c", "echo noted >&2"]'
    env.write_config(
        f'[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\non_dead = {hook}\n'
        '[jobs.good]\ncommand = ["true"]\n'
    )
    first, second = env.enqueue("bad"), env.enqueue("bad")
    result = env.run("--log-level", "debug", "--log-format", "json", "run-worker", "--burst")
    logs = {
        int(Path(e["log"]).name.split(".")[0]): Path(e["log"])
        for e in _hook_events(result.stderr, "json")
    }
    assert set(logs) == {first, second} and all(p.exists() for p in logs.values())
    env.run("dead", "purge", str(first), "--yes", check=True)
    assert not logs[first].exists() and logs[second].exists()
    env.run("prune", "--older-than", "0s", check=True)
    assert not logs[second].exists()

"""The shortest path through jobctl: define, enqueue, run, inspect."""

from __future__ import annotations

from conftest import Env


def test_enqueue_run_and_show(env: Env) -> None:
    env.write_config('[jobs.hello]\ncommand = ["echo", "hello {name}"]\n')
    job_id = env.enqueue("hello", "--arg", "name=world")
    result = env.run("run-worker", "--burst", check=True)
    assert "job.succeeded" in result.stderr
    job = env.show(job_id)
    assert job["state"] == "succeeded"
    assert job["attempts"] == 1
    log = job["attempts_history"][0]["log_path"]  # type: ignore[index]
    with open(log) as handle:  # type: ignore[arg-type]
        assert handle.read() == "hello world\n"

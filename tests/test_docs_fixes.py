"""Where what jobctl says or keeps fell short of what the README and jobs.toml.example say:
hook logs named by run, `validate` on the shipped example, a global option given after the
command, /healthz to HEAD, and the places a config is looked for."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import Env
from test_observe_support import free_port, http_get, listening, start_logged

from jobctl.models import Job, State
from jobctl.observe.events import EventLog
from jobctl.observe.hooks import run_hook
from jobctl.records import AttemptResult, Outcome

EXAMPLE = Path(__file__).resolve().parent.parent / "jobs.toml.example"


def _dead_job(job_id: int) -> Job:
    now = time.time()
    return Job(
        id=job_id,
        job="f",
        queue="default",
        state=State.DEAD,
        priority=0,
        attempts=1,
        max_attempts=1,
        payload={},
        key=None,
        run_at=now,
        created_at=now,
        started_at=now,
        finished_at=now,
        exit_code=1,
        error="exit code 1",
    )


def test_a_dead_retry_keeps_the_output_of_the_first_lifes_hook(tmp_path: Path) -> None:
    """A dead retry counts attempts from 1 again: named by attempt, the second life's on_dead
    hook deleted the first one's output, the only proof of what the first alert said."""
    job = _dead_job(7)
    result = AttemptResult(Outcome.FAILED, exit_code=1, error="exit code 1", log_path="")
    argv = ("sh", "-c", 'echo "alert for run $JOBCTL_RUN, attempt $JOBCTL_ATTEMPT"')
    log = EventLog(stream=io.StringIO())
    for run in (1, 2):  # both lives end at their attempt 1
        hook = run_hook("dead", argv, job, 1, result, 10.0, tmp_path, log, run=run)
        hook.thread.join(timeout=20)
        assert not hook.alive()
    hooks = tmp_path / "hooks"
    assert sorted(p.name for p in hooks.iterdir()) == ["7.1.dead.log", "7.2.dead.log"]
    assert (hooks / "7.1.dead.log").read_text() == "alert for run 1, attempt 1\n"
    assert (hooks / "7.2.dead.log").read_text() == "alert for run 2, attempt 1\n"


def test_purge_removes_hook_logs_of_both_namings(env: Env) -> None:
    """Hook logs named by attempt, as older versions did, go with their job as the new
    ones do."""
    env.write_config('[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n')
    job_id = env.enqueue("f")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "dead"
    hooks = Path(f"{env.db}.logs") / "hooks"
    hooks.mkdir(mode=0o700)
    named = [hooks / f"{job_id}.1.dead.log", hooks / f"{job_id}.3.failure.log"]
    for path in named:
        path.write_text("alert\n")
    other = hooks / f"{job_id + 1}.1.dead.log"
    other.write_text("not this job's\n")
    env.run("dead", "purge", str(job_id), "--yes", check=True)
    assert sorted(p.name for p in hooks.iterdir()) == [other.name]


def test_validate_of_the_shipped_example_in_a_fresh_folder_warns_of_nothing(env: Env) -> None:
    """The example's database sits in `.jobctl/`, made with the database: its default log
    folder beside it will be made too, where validate said workers would not start."""
    shutil.copy(EXAMPLE, env.root / "jobs.toml.example")
    environ = {k: v for k, v in env.env.items() if k != "JOBCTL_DB"}
    result = _jobctl(env, ["--config", "jobs.toml.example", "validate"], environ)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not (env.root / ".jobctl").exists()  # validate makes nothing


def test_validate_still_warns_of_a_log_dir_whose_parent_is_missing(env: Env) -> None:
    env.write_config('[settings]\nlog_dir = "nowhere/logs"\n[jobs.f]\ncommand = ["true"]\n')
    result = env.run("validate")
    assert result.returncode == 0
    assert "does not exist" in result.stderr and "workers would not start here" in result.stderr


def _jobctl(env: Env, args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from conftest import JOBCTL

    return subprocess.run(
        [*JOBCTL, *args], capture_output=True, text=True, env=environ, cwd=env.root, timeout=60
    )


def test_a_global_option_after_the_command_is_said_to_go_before_it(env: Env) -> None:
    """click said only "No such option: --db (Possible options: --job)"."""
    cases = [
        (
            ["list", "--db", "q.db"],
            "--db is a global option: give it before the command, as in jobctl --db FILE list",
        ),
        (["enqueue", "e", "--db=q.db"], "as in jobctl --db FILE enqueue"),
        (
            ["dead", "retry", "1", "-c", "x.toml"],
            "-c is a global option: give it before the command, as in jobctl -c FILE dead retry",
        ),
        (["status", "--log-level", "debug"], "--log-level is a global option"),
        (["list", "--log-format", "json"], "--log-format is a global option"),
    ]
    for args, message in cases:
        result = _jobctl(env, args, env.env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "No such option" not in result.stderr
    other = _jobctl(env, ["list", "--nope"], env.env)
    assert other.returncode == 2
    assert "No such option: --nope" in other.stderr


def test_healthz_answers_head_as_get_without_the_body(env: Env) -> None:
    """A HEAD probe got 501, and called a healthy worker down."""
    env.write_config('[jobs.f]\ncommand = ["true"]\n')
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
    assert listening(env, worker) == ("127.0.0.1", port)
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    for path in ("/healthz", "/metrics"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(f"HEAD {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].split(" ", 2)[1] == "200", lines[0]
        length = [line for line in lines if line.lower().startswith("content-length:")]
        assert length and int(length[0].split(":")[1]) > 0
        assert body == b""
    assert worker.stop() == 0


def test_no_config_found_names_every_place_looked_in(env: Env) -> None:
    """It named --config, JOBCTL_CONFIG and ./jobs.toml, not the per-user file last looked
    at."""
    result = env.run("schedule-daemon", config=False)
    assert result.returncode == 2
    user_config = Path(env.env["XDG_CONFIG_HOME"]) / "jobctl" / "jobs.toml"
    assert result.stderr == (
        "jobctl: no config found: pass --config PATH, set JOBCTL_CONFIG, or create ./jobs.toml"
        f" or {user_config} ($XDG_CONFIG_HOME/jobctl/jobs.toml), looked for in that order\n"
    )

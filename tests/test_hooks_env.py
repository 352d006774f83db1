"""What a hook is told and what is said of it: the job's payload and an --exec job's command in
its environment, its error on one clean line, a job type's way out of a [settings] hook, an
alert sent though its hooks folder is refused, and output lost on a full disk said as an
attempt's is.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from pathlib import Path

from conftest import Env, small_file_system
from test_observe_support import parsed_events


def _hook_events(stderr: str, log_format: str = "json") -> list[dict[str, str]]:
    return [e for e in parsed_events(stderr, log_format) if e["event"].startswith("hook.")]


def _env_dump(out: Path) -> str:
    """A string hook that saves its JOBCTL_* environment, one NAME=VALUE a line."""
    return f"'env | grep ^JOBCTL_ > {out}/$JOBCTL_JOB_ID.env'"


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def test_a_hook_gets_the_payload_the_exec_command_and_a_one_line_error(env: Env) -> None:
    out = env.root / "seen"
    out.mkdir()
    stderr = r"printf 'first line\n\033[31mred\033[0m\r\nlast line\n' >&2; exit 3"
    env.write_config(
        f"[settings]\non_dead = {_env_dump(out)}\n"
        f"[jobs.backup]\ncommand = {json.dumps(['sh', '-c', stderr, '{src}'])}\n"
        "max_attempts = 1\n"
    )
    backup = env.enqueue("backup", "--arg", "src=/srv/data")
    command = ["sh", "-c", "exit 1", "it's"]
    exec_job = env.enqueue("--max-attempts", "1", "--exec", "--", *command)
    env.run("run-worker", "--burst", check=True)

    seen = _read_env(out / f"{backup}.env")
    assert json.loads(seen["JOBCTL_PAYLOAD"]) == {"src": "/srv/data"}  # as the job gets it
    assert "JOBCTL_COMMAND" not in seen  # its command is the job type's
    # One line, escaped as the event line shows it: no newline, CR or ESC reaches a mail
    # subject; JOBCTL_LOG keeps the output as written.
    assert seen["JOBCTL_ERROR"] == "exit code 3: first line ⏎ \\x1b[31mred\\x1b[0m ⏎ last line"
    assert "\x1b" in Path(seen["JOBCTL_LOG"]).read_text()

    exec_seen = _read_env(out / f"{exec_job}.env")
    assert exec_seen["JOBCTL_JOB_NAME"] == "exec"
    assert shlex.split(exec_seen["JOBCTL_COMMAND"]) == command


def test_a_job_type_opts_out_of_a_settings_hook_with_false(env: Env) -> None:
    out = env.root / "seen"
    out.mkdir()
    env.write_config(
        f"[settings]\non_failure = {_env_dump(out)}\non_dead = {_env_dump(out)}\n"
        '[jobs.heartbeat]\ncommand = ["false"]\nmax_attempts = 1\non_failure = false\n'
        'on_dead = false\n[jobs.backup]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    assert env.run("validate").returncode == 0
    quiet = env.enqueue("heartbeat")
    loud = env.enqueue("backup")
    result = env.run("--log-format", "json", "--log-level", "debug", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert {int(e["job_id"]) for e in _hook_events(result.stderr)} == {loud}
    assert not (out / f"{quiet}.env").exists()

    env.write_config('[jobs.heartbeat]\ncommand = ["false"]\non_failure = true\n')
    refused = env.run("validate")
    assert refused.returncode == 2
    assert "or false for none" in refused.stderr


def test_validate_warns_of_a_list_hook_whose_variables_nothing_expands(env: Env) -> None:
    env.write_config(
        "[settings]\n"
        'on_failure = ["logger", "job $JOBCTL_JOB_ID failed"]\n'
        '[jobs.backup]\ncommand = ["true", "{src}"]\n'
        'on_dead = ["sh", "-c", "echo backup of {src} failed: $JOBCTL_ERROR"]\n'
        '[jobs.fine]\ncommand = ["true"]\n'
        'on_dead = ["sh", "-c", "mail -s \\"$JOBCTL_ERROR\\" root < ${JOBCTL_LOG:-/dev/null}"]\n'
    )
    result = env.run("validate")
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "passed as written" in line]
    assert len(warned) == 2, result.stderr
    assert "[settings] on_failure" in warned[0] and "'$JOBCTL_JOB_ID'" in warned[0]
    assert "[jobs.backup] on_dead" in warned[1] and "'{src}'" in warned[1]


def test_a_refused_hooks_folder_still_sends_the_alert_and_fails_health(env: Env) -> None:
    alerts = env.root / "alerts.txt"
    env.write_config(
        '[settings]\nlog_dir = "logs"\n'
        f"on_dead = 'echo sending; echo D $JOBCTL_JOB_ID >> {alerts}'\n"
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    hooks = env.root / "logs" / "hooks"
    hooks.mkdir(parents=True, mode=0o700)
    (env.root / "logs").chmod(0o700)
    hooks.chmod(0o777)  # a careless chmod -R
    job_id = env.enqueue("f")
    result = env.run("--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert alerts.read_text() == f"D {job_id}\n"  # the alert went
    [event] = _hook_events(result.stderr)
    assert (event["event"], event["level"]) == ("hook.succeeded", "warning")
    assert "writable by group or others" in event["no_log"]
    assert event["no_log"].endswith("its output is not kept")
    assert event["output"] == "sending"  # seen once, in its line
    assert "log" not in event
    assert list(hooks.iterdir()) == []  # nothing written where it may not be

    health = env.run("health")
    assert health.returncode == 1, health.stdout
    assert f"logs: hooks folder {hooks} is writable by group or others" in health.stderr
    hooks.chmod(0o700)
    health = env.run("health")
    assert health.returncode == 0, health.stdout


def test_a_long_output_in_a_text_line_keeps_its_end(env: Env) -> None:
    hook = 'seq 1000; echo \'{"ok":false,"error":"invalid_token"}\'; exit 22'
    env.write_config(
        f'[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\non_dead = {json.dumps(hook)}\n'
    )
    env.enqueue("f")
    result = env.run("run-worker", "--burst", check=True)
    [line] = [line for line in result.stderr.splitlines() if "hook.failed" in line]
    output = line.split(" output=", 1)[1]
    assert output.startswith('"...')
    assert 'invalid_token\\"}"' in output  # the webhook's answer, at the end


def test_a_hooks_output_lost_on_a_full_disk_is_said_in_its_line(env: Env) -> None:
    logs = env.root / "logs"
    with small_file_system(logs, "size=256k"):
        (logs / "hooks").mkdir(mode=0o700)
        env.write_config(
            '[settings]\nlog_dir = "logs"\n'
            "on_dead = \"echo 'about to send'; echo sent\"\n"
            '[jobs.f]\ncommand = ["sh", "-c", "echo x; exit 1"]\nmax_attempts = 1\n'
        )
        env.enqueue("f")
        filler = os.open(logs / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError as full:
            assert full.errno == errno.ENOSPC
        finally:
            os.close(filler)
        result = env.run("--log-format", "json", "run-worker", "--burst")
        assert result.returncode == 0, result.stderr
        [event] = _hook_events(result.stderr)
        assert (event["event"], event["level"]) == ("hook.succeeded", "warning")
        assert event["error"] == "output lost (no space left on device)"

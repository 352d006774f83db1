"""Configs and payloads that used to slip through: shell scripts behind a wrapper or in a
here-document, fires that could never run, values no argument or environment can hold, and
JSON that crashed the reader instead of being refused.

Each case is refused by `validate` (or by `enqueue`) with one line and exit code 2, before
anything is stored or run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import forkserver
import pytest
from conftest import JOBCTL, Env

from jobctl.errors import ConfigError

GREET = '[jobs.greet]\ncommand = ["echo", "hello, {name}"]\n[jobs.ok]\ncommand = ["true"]\n'


def refused(env: Env, *args: str, says: str) -> None:
    result = env.run(*args)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jobctl: "), result.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        '["/usr/bin/env", "sh", "-c", "echo {x}"]',
        '["env", "-i", "bash", "-ec", "echo {x}"]',
        '["nice", "-n", "5", "/bin/dash", "-c", "echo {x}"]',
        '["sudo", "-u", "nobody", "sh", "-xc", "echo {x}"]',
    ],
)
def test_a_shell_script_behind_a_wrapper_takes_no_placeholder(env: Env, command: str) -> None:
    env.write_config(f"[jobs.wrapped]\ncommand = {command}\n")
    refused(env, "validate", says="inside a shell script")


def test_wrapped_shells_still_take_placeholders_as_arguments(env: Env) -> None:
    env.write_config(
        '[jobs.safe]\ncommand = ["env", "sh", "-c", "printf %s \\"$1\\"", "sh", "{x}"]\n'
    )
    assert env.run("validate").returncode == 0
    marker = env.root / "pwned"
    job_id = env.enqueue("safe", "--arg", f"x=$(touch {marker})")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert not marker.exists()


def test_an_inline_schedule_command_gets_the_same_shell_check(env: Env) -> None:
    env.write_config(
        '[schedules.s]\ncron = "@hourly"\ncommand = ["sh", "-c", "echo {x}"]\npayload = {x = "1"}\n'
    )
    refused(env, "validate", says="inside a shell script")


def test_a_placeholder_in_a_here_document_is_refused(env: Env) -> None:
    env.write_config('[jobs.doc]\nshell = true\ncommand = "cat <<EOF\\n{msg}\\nEOF"\n')
    refused(env, "validate", says="here-document")


def test_here_strings_and_lines_after_the_document_keep_their_placeholders(env: Env) -> None:
    env.write_config(
        '[jobs.string]\nshell = true\ncommand = "cat <<< {a}"\n'
        "[jobs.doc]\nshell = true\n"
        'command = "printf %s {a}; cat <<-END\\n\\tfixed text\\n\\tEND\\necho {b}"\n'
    )
    assert env.run("validate").returncode == 0
    marker = env.root / "pwned"
    job_id = env.enqueue("doc", "--arg", f"a=$(touch {marker})", "--arg", "b=x")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert not marker.exists()


@pytest.mark.parametrize(
    "schedule",
    [
        '[schedules.s]\ncron = "@hourly"\njob = "greet"\n',
        '[schedules.s]\ncron = "@hourly"\njob = "greet"\npayload = {other = "x"}\n',
        '[schedules.s]\ncron = "@hourly"\ncommand = "echo {x}"\n',
    ],
)
def test_a_schedule_must_fill_every_placeholder_of_its_command(env: Env, schedule: str) -> None:
    env.write_config(GREET + schedule)
    refused(env, "validate", says="no payload value for placeholder")


def test_a_schedule_that_fills_its_placeholders_is_accepted(env: Env) -> None:
    env.write_config(
        GREET + '[schedules.s]\ncron = "@hourly"\njob = "greet"\npayload = {name = "a"}\n'
    )
    assert env.run("validate").returncode == 0


@pytest.mark.parametrize(
    ("job", "says"),
    [
        ('command = ["x\\u0000"]', "NUL"),
        ('command = "echo a\\u0000b"', "NUL"),
        ('command = ["true"]\nenv = {A = "a\\u0000b"}', "NUL"),
        ('command = ["true"]\nenv = {"A=B" = "1"}', "bad variable name"),
        ('command = ["true"]\nenv = {"" = "1"}', "bad variable name"),
        ('command = ["true"]\npriority = 99999999999999999999', "must be between"),
        ('command = ["true"]\npriority = -9223372036854775809', "must be between"),
    ],
)
def test_values_no_process_or_database_can_hold_are_refused(env: Env, job: str, says: str) -> None:
    env.write_config(f"[jobs.bad]\n{job}\n")
    refused(env, "validate", says=says)


def test_the_largest_priority_is_accepted(env: Env) -> None:
    # 2**53 - 1: the largest both stores order exactly (Redis orders by doubles).
    env.write_config('[jobs.top]\ncommand = ["true"]\npriority = 9007199254740991\n')
    assert env.run("validate").returncode == 0
    job_id = env.enqueue("top")
    assert env.show(job_id)["priority"] == 9007199254740991
    refused(env, "enqueue", "top", "--priority", "9007199254740992", says="must be between")
    refused(env, "enqueue", "top", "--priority", "-9007199254740992", says="must be between")


def test_an_inline_schedule_may_not_take_a_job_type_s_name(env: Env) -> None:
    """A schedule's inline command is the job type `schedule:NAME`: one defined in [jobs]
    too was replaced by it, so `enqueue schedule:foo` ran the schedule's command."""
    env.write_config(
        '[jobs."schedule:foo"]\ncommand = ["echo", "the job type"]\n'
        '[schedules.foo]\ncommand = ["echo", "the schedule"]\ncron = "0 3 * * *"\n'
    )
    refused(env, "validate", says="[schedules.foo] command: its job type would be named")


def test_a_config_nested_thousands_deep_is_refused(env: Env) -> None:
    deep = "[" * 5000 + "]" * 5000
    env.write_config(
        f'[jobs.ok]\ncommand = ["true"]\n[schedules.s]\ncron = "@hourly"\njob = "ok"\n'
        f"payload = {{d = {deep}}}\n"
    )
    refused(env, "validate", says="nested too deeply")


@pytest.mark.parametrize("option", ["--payload", "--arg"])
def test_json_nested_too_deeply_is_refused(env: Env, option: str) -> None:
    env.write_config(GREET)
    deep = "[" * 50000 + "]" * 50000
    value = f'{{"d": {deep}}}' if option == "--payload" else f"d:={deep}"
    refused(env, "enqueue", "ok", option, value, says="nested too deeply")
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


@pytest.mark.parametrize(
    "args",
    [
        ("--payload", '{"name": 1e999}'),
        ("--payload", '{"name": [-1e400]}'),
        ("--arg", "name:=1e999"),
    ],
)
def test_numbers_that_overflow_to_infinity_are_refused(env: Env, args: tuple[str, str]) -> None:
    env.write_config(GREET)
    refused(env, "enqueue", "greet", *args, says="out of range")
    refused(env, "enqueue", "ok", *args, says="out of range")


def test_an_infinite_placeholder_value_from_a_batch_is_a_line_error(env: Env) -> None:
    env.write_config(GREET)
    batch = (
        '{"job": "greet", "payload": {"name": "a"}}\n'
        '{"job": "greet", "payload": {"name": Infinity}}\n'
    )
    result = env.run("enqueue", "--batch", "-", input=batch)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


@pytest.mark.parametrize("job", ["greet", "ok"])
def test_a_batch_number_out_of_range_is_said_as_such_not_as_nan(env: Env, job: str) -> None:
    """A batch line's 1e999 was "NaN and Infinity are not valid JSON", or for a placeholder's
    value "NaN, Infinity, or nested too deeply": the user wrote neither."""
    env.write_config(GREET)
    line = f'{{"job": "{job}", "payload": {{"name": 1e999}}}}\n'
    result = env.run("enqueue", "--batch", "-", input=line)
    assert result.returncode == 2
    assert result.stderr.startswith("jobctl: <stdin>:1: "), result.stderr
    assert "out of range (1e999)" in result.stderr and "as a string" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--payload", '{"name": "a", "name": "b"}'),
        ("--payload", '{"name": "a", "o": {"k": 1, "k": 1}}'),
        ("--arg", 'o:={"k": 1, "k": 2}'),
    ],
)
def test_a_key_twice_in_a_json_object_is_refused(env: Env, args: tuple[str, str]) -> None:
    # JSON leaves it open; Python keeps the last value: the job would run on a silent choice.
    env.write_config(GREET)
    refused(env, "enqueue", "greet", *args, says="duplicate key")
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


@pytest.mark.parametrize(
    "line",
    [
        '{"job": "greet", "payload": {"name": "a", "name": "b"}}',
        '{"job": "greet", "job": "ok", "payload": {"name": "a"}}',
    ],
)
def test_a_key_twice_in_a_batch_line_is_a_line_error(env: Env, line: str) -> None:
    env.write_config(GREET)
    batch = '{"job": "greet", "payload": {"name": "a"}}\n' + line + "\n"
    result = env.run("enqueue", "--batch", "-", input=batch)
    assert result.returncode == 2, result
    assert result.stderr.startswith("jobctl: <stdin>:2: invalid JSON: duplicate key"), result
    assert len(result.stderr.splitlines()) == 1
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


def test_a_long_bad_arg_is_shortened_in_the_error(env: Env) -> None:
    env.write_config(GREET)
    result = env.run("enqueue", "ok", "--arg", "k:=" + "[" * 5000)
    assert result.returncode == 2
    assert len(result.stderr) < 300, result.stderr


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("eval {x}", "after eval"),
        ("echo start\nX=1 eval {x}", "after eval"),
        ("sh -c {x}", "inside a shell script"),
        ("true && nice bash -ec {x}", "inside a shell script"),
    ],
)
def test_a_script_that_parses_a_value_again_is_refused(env: Env, script: str, says: str) -> None:
    env.write_config(f"[jobs.again]\nshell = true\ncommand = {json.dumps(script)}\n")
    refused(env, "validate", says=says)


def test_a_script_may_pass_values_to_a_shell_as_arguments(env: Env) -> None:
    marker = env.root / "pwned"
    script = "echo {x}; sh -c 'printf %s \"$1\"' sh {x} | xargs -0 sh -c 'true' sh"
    env.write_config(f"[jobs.args]\nshell = true\ncommand = {json.dumps(script)}\n")
    assert env.run("validate").returncode == 0
    job_id = env.enqueue("args", "--arg", f"x=$(touch {marker})")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert not marker.exists()


def _nested(levels: int) -> str:
    """A payload object `levels` deep: the object itself, then arrays."""
    return '{"d": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def test_a_payload_may_nest_64_levels_and_no_more(env: Env) -> None:
    """Deeper JSON could be stored, then not read back by list or show."""
    env.write_config(GREET)
    job_id = env.enqueue("ok", "--payload", _nested(64))
    assert env.show(job_id)["payload"] is not None
    assert env.run("list", check=True).returncode == 0
    refused(env, "enqueue", "ok", "--payload", _nested(65), says="nested too deeply")
    batch = f'{{"job": "ok", "payload": {_nested(65)}}}\n'
    result = env.run("enqueue", "--batch", "-", input=batch)
    assert result.returncode == 2 and "nested too deeply" in result.stderr, result
    env.write_config(
        GREET
        + f'[schedules.s]\ncron = "@hourly"\njob = "ok"\npayload = {{d = {"[" * 64}{"]" * 64}}}\n'
    )
    refused(env, "validate", says="nested too deeply")


def _job_table(command: object, shell: bool) -> str:
    return "[jobs.j]\n" + ("shell = true\n" if shell else "") + f"command = {json.dumps(command)}\n"


@pytest.mark.parametrize(
    ("command", "shell"),
    [
        (["sh", "-c", "echo {x}"], True),  # a list with shell = true: each element one word
        (["bash", "-c", "--", "echo {x}"], False),
        (["bash", "-c", "-e", "echo {x}"], False),
        (["bash", "-o", "pipefail", "-c", "echo {x}"], False),
        (["flock", "/tmp/lock", "-c", "echo {x}"], False),
        (["su", "-c", "echo {x}", "nobody"], False),
        ("if eval {x}; then :; fi", True),
        ("for i in 1; do eval {x}; done", True),
        ("echo {x} | sh", True),
        ("printf %s {x} | bash -s", True),
        ("sh <<< {x}", True),
        ("echo `sh -c {x}`", True),
    ],
)
def test_more_ways_to_hand_a_value_to_a_shell_are_refused(
    env: Env, command: object, shell: bool
) -> None:
    env.write_config(_job_table(command, shell))
    refused(env, "validate", says="shell")


@pytest.mark.parametrize(
    ("command", "shell"),
    [
        (["useradd", "-s", "/bin/bash", "-c", "{fullname}", "{login}"], False),
        ("useradd -s /bin/bash -c {fullname} {login}", True),
        ('echo "usage: merge << file"\necho {x}', True),
        (["bash", "-c", 'echo "$1"', "bash", "{x}"], False),
        (["bash", "{x}"], False),  # a script file named by the value: no shell parsing of it
        ("cat <<< {x}; echo {x} | grep a > out.txt", True),
    ],
)
def test_shells_named_as_data_are_not_refused(env: Env, command: object, shell: bool) -> None:
    env.write_config(_job_table(command, shell))
    result = env.run("validate")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("partial", ["", '[jobs.a]\ncommand = ["tr'], ids=["empty", "cut-short"])
def test_a_reload_that_catches_a_save_half_done_reads_it_again(
    tmp_path: Path, partial: str
) -> None:
    """An editor saving in place truncates the file, then writes it. A worker or daemon
    reloading in between must get the saved file, not an empty config (no job types: every
    job failed as unknown) or a parse error. The writer finishes while the reload waits."""
    from jobctl.config import load_config_file

    path = tmp_path / "jobs.toml"
    path.write_text(partial)
    changed = path.stat().st_mtime_ns / 1e9
    waits: list[float] = []

    def finish_the_save(seconds: float) -> None:
        waits.append(seconds)
        path.write_text('[jobs.a]\ncommand = ["true"]\n')

    config = load_config_file(
        path, settle=True, sleep=finish_the_save, clock=lambda: changed + 0.01
    )
    assert list(config.jobs) == ["a"] and len(waits) == 1 and 0 < waits[0] <= 0.2
    # A file as old as that is what its writer meant: taken as it is, without a wait.
    path.write_text(partial)
    changed = path.stat().st_mtime_ns / 1e9
    if partial:
        with pytest.raises(ConfigError):
            load_config_file(path, settle=True, sleep=waits.append, clock=lambda: changed + 5)
    else:
        assert load_config_file(path, settle=True, clock=lambda: changed + 5).jobs == {}
    assert len(waits) == 1


def test_validate_warns_of_a_user_group_or_cwd_this_host_does_not_have(env: Env) -> None:
    """Valid in the file (it may be meant for another host), but its jobs would fail here:
    said, with exit 0, so that a check before going live catches it."""
    env.write_config(
        '[jobs.a]\ncommand = ["true"]\nuser = "no-such-user-here"\n'
        '[jobs.b]\ncommand = ["true"]\ngroup = "no-such-group-here"\n'
        '[jobs.c]\ncommand = ["true"]\nuser = "root"\n'
        '[jobs.d]\ncommand = ["true"]\ncwd = "no-such-folder"\n'
        '[jobs.e]\ncommand = ["true"]\ncwd = "/"\n'
        '[jobs.f]\ncommand = ["true"]\nuser = "²"\n'  # a name, not a number: no crash
    )
    result = env.run("validate")
    assert result.returncode == 0
    # At the line of the key, as the file's errors are: the warning named no line.
    assert result.stderr.splitlines() == [
        f"jobctl: warning: {env.config}:3: [jobs.a] user: 'no-such-user-here' does not exist on"
        " this host: its jobs would fail here",
        f"jobctl: warning: {env.config}:6: [jobs.b] group: 'no-such-group-here' does not exist"
        " on this host: its jobs would fail here",
        f"jobctl: warning: {env.config}:12: [jobs.d] cwd: 'no-such-folder' is not a folder on"
        " this host: its jobs would fail here",
        f"jobctl: warning: {env.config}:18: [jobs.f] user: '²' does not exist on this host: its"
        " jobs would fail here",
    ]


def test_every_warning_of_validate_names_its_file_line_table_and_key(env: Env) -> None:
    """A schedule's jitter, its cron line, a $TZ its schedules cannot follow and a log folder
    a worker would refuse were warned of without a file or line, where a list-form hook's
    note had both: each is now at the line of its key, in tables with headers or without."""
    open_folder = env.root / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    env.env["TZ"] = "JST-9"
    env.write_config(
        f'[settings]\nlog_dir = "{open_folder}"\n'
        '[jobs.t]\ncommand = ["true"]\n'
        "[schedules]\n"
        'zoned = { job = "t", cron = "@daily", timezone = "UTC" }\n'
        'odd = { job = "t", cron = "0 0 */2 * MON" }\n'
        "[schedules.j]\n"
        'job = "t"\ncron = "* * * * *"\njitter = "5m"\n'
        '[jobs."a.b"]\ncommand = ["true"]\n'
        'user = "no-such-user-here"\n'
    )
    checked = env.run("validate")
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.splitlines() == [
        f"jobctl: warning: {env.config}:7: [schedules.odd] timezone: TZ='JST-9' is not a time"
        " zone this host knows (such as Asia/Tokyo): schedules that name no timezone follow"
        f" {_host_zone()} here, while their jobs see TZ=JST-9",
        f"jobctl: warning: {env.config}:11: [schedules.j] jitter: 5m is not shorter than the 1m"
        ' between fires: with overlap = "skip", a fire that comes while the previous run still'
        " waits out its jitter is skipped, so many fires will be (shorten the jitter, or set"
        ' overlap = "allow")',
        f"jobctl: warning: {env.config}:7: [schedules.odd] cron: '0 0 */2 * MON': day-of-month"
        " '*/2' and day-of-week 'MON' are both restricted: jobctl fires on days matching"
        " either, as POSIX cron does (vixie cron and cronie require both when one starts with"
        " '*')",
        f"jobctl: warning: {env.config}:14: [jobs.\"a.b\"] user: 'no-such-user-here' does not"
        " exist on this host: its jobs would fail here",
        f"jobctl: warning: {env.config}:2: [settings] log_dir: log folder {open_folder} is"
        f" writable by group or others (mode 0777, owner {_folder_owner(open_folder)}):"
        " workers would not start here",
    ]


def test_a_log_folder_beside_the_configs_database_is_warned_of_at_its_db(env: Env) -> None:
    """With no log_dir, the folder is `<db>.logs` beside the database [settings] db names:
    that line is where the warning points."""
    shared = env.root / "shared"
    shared.mkdir()
    (shared / "q.db.logs").mkdir(mode=0o777)
    (shared / "q.db.logs").chmod(0o777)
    env.write_config(f'[jobs.t]\ncommand = ["true"]\n\n[settings]\ndb = "{shared / "q.db"}"\n')
    result = _without_db(env, "--config", str(env.config), "validate")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"jobctl: warning: {env.config}:5: [settings] db: log folder {shared / 'q.db.logs'} is"
        f" writable by group or others (mode 0777, owner {_folder_owner(shared)}): workers"
        " would not start here\n"
    )


def _folder_owner(folder: Path) -> str:
    from jobctl.fsutil import user_name

    return user_name(folder.stat().st_uid)


def _host_zone() -> str:
    """The zone schedules follow when $TZ is no zone name: the host's."""
    from jobctl.timefmt import host_zone

    return host_zone()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[jobs]\na = { command = "true", timeout = "5x" }\n', ":2: [jobs.a] timeout:"),
        (
            'schedules.s.job = "t"\nschedules.s.cron = "0 0 32 * *"\n'
            '[jobs.t]\ncommand = ["true"]\n',
            ":2: [schedules.s] cron:",
        ),
        (
            '[jobs.t]\ncommand = ["true"]\n[schedules]\ns = { job = "t", cron = "0 25 * * *" }\n',
            ":4: [schedules.s] cron:",
        ),
    ],
    ids=["inline-job", "dotted-schedule", "inline-schedule"],
)
def test_an_error_in_a_table_without_a_header_names_its_line(
    env: Env, text: str, where: str
) -> None:
    """Inline tables and dotted keys are TOML too: their errors named no line."""
    env.write_config(text)
    result = env.run("validate")
    assert result.returncode == 2
    assert result.stderr.startswith(f"jobctl: {env.config}{where}"), result.stderr


def test_a_schedule_payload_over_max_payload_is_refused_by_validate(env: Env) -> None:
    """`validate` passed it, and every fire then failed to start ("Argument list too
    long"), while `enqueue` of the same payload was refused."""
    big = "y" * 2000
    env.write_config(
        '[settings]\nmax_payload = "1KiB"\n[jobs.t]\ncommand = ["echo", "{x}"]\n'
        f'[schedules.s]\njob = "t"\ncron = "@daily"\npayload = {{ x = "{big}" }}\n'
    )
    refused = env.run("validate")
    assert refused.returncode == 2
    assert refused.stderr == (
        f"jobctl: {env.config}:8: [schedules.s] payload: payload is 2008 bytes, over the limit"
        " of 1024 ([settings] max_payload)\n"
    )


def test_a_config_saved_with_a_byte_order_mark_is_read(env: Env) -> None:
    """Windows Notepad starts a UTF-8 file with one: it read as 'Invalid statement'."""
    env.config.write_bytes(b'\xef\xbb\xbf[jobs.a]\ncommand = ["true"]\n')
    assert env.run("validate", check=True).stdout.endswith("ok (1 job, 0 schedules)\n")


def test_validate_warns_of_a_user_job_a_worker_of_this_user_cannot_start(env: Env) -> None:
    """The unit runs validate as its worker's user: an imported `user = "root"` job passed,
    and every fire of it then failed ('only root may switch users')."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("no setpriv to run as another user")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # Outside pytest's own folder, which only its user may enter.
    folder = Path(tempfile.mkdtemp(prefix="jobctl-shared-"))
    try:
        folder.chmod(0o755)
        config = folder / "jobs.toml"
        config.write_text('[jobs.a]\ncommand = ["id"]\nuser = "root"\n[jobs.b]\ncommand = ["id"]\n')
        config.chmod(0o644)
        result = subprocess.run(
            [*prefix, *JOBCTL, "--config", str(config), "--db", str(folder / "q.db"), "validate"],
            capture_output=True,
            text=True,
            env=env.env | {"HOME": str(folder), "XDG_STATE_HOME": str(folder)},
            cwd=folder,
            timeout=60,
        )
    finally:
        shutil.rmtree(folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"jobctl: warning: {config}:3: [jobs.a] user: runs as user 'root': only a worker"
        " running as root (or as that user) can start it; run as this user, its jobs would fail"
    )
    assert "[jobs.b]" not in result.stderr


@pytest.mark.parametrize("args", [("--arg", "name:=null"), ("--payload", '{"name": null}')])
def test_a_null_placeholder_value_is_refused_at_enqueue(env: Env, args: tuple[str, str]) -> None:
    """A null reached the command as the word: `echo "hello, null"`, `tar -czf null`."""
    env.write_config(GREET)
    refused(env, "enqueue", "greet", *args, says="job 'greet': the value of {name} is null")
    assert env.run("list", "--json").stdout.strip() in ("", "[]")
    # A null the command does not use is a value like any other, in $JOBCTL_PAYLOAD.
    env.run("enqueue", "greet", "--arg", "name=a", "--arg", "extra:=null", check=True)
    env.run("enqueue", "ok", "--arg", "extra:=null", check=True)


@pytest.mark.parametrize("more", ["", ', "priority": 1'])
def test_a_null_placeholder_value_from_a_batch_is_a_line_error(env: Env, more: str) -> None:
    """Both ways a batch line is checked: the short one (job and payload alone) and the
    whole one."""
    env.write_config(GREET)
    batch = (
        '{"job": "greet", "payload": {"name": "a"}}\n'
        f'{{"job": "greet", "payload": {{"name": null}}{more}}}\n'
    )
    result = env.run("enqueue", "--batch", "-", input=batch)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "jobctl: <stdin>:2: job 'greet': the value of {name} is null: a placeholder needs a value\n"
    )
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


LONG_INTEGER = "9" * 5000


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("1e-400", "1e-400 is too close to 0 for a JSON number: it would be stored as 0"),
        ("-0.5E-330", "-0.5E-330 is too close to 0 for a JSON number"),
        (LONG_INTEGER, "a number of 5000 digits is too long (at most 4300; give it as a string)"),
        ("-" + LONG_INTEGER, "a number of 5000 digits is too long (at most 4300"),
    ],
    ids=["underflow", "underflow-upper-e", "long-integer", "long-negative-integer"],
)
@pytest.mark.parametrize("way", ["--payload", "--arg", "--payload-file"])
def test_a_number_jobctl_cannot_keep_as_written_is_refused(
    env: Env, way: str, number: str, says: str
) -> None:
    """1e-400 was stored as 0.0 and the command got 0.0; an integer of 5000 digits got
    Python's message, which names sys.set_int_max_str_digits()."""
    env.write_config(GREET)
    document = f'{{"name": {number}}}'
    if way == "--payload-file":
        path = env.root / "payload.json"
        path.write_text(document)
        args = (way, str(path))
    else:
        args = (way, document if way == "--payload" else f"name:={number}")
    refused(env, "enqueue", "greet", *args, says=says)
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


@pytest.mark.parametrize("number", ["0.0", "-0e-400", "0.000E+5", "5e-324", "1" * 4300])
def test_zeros_the_smallest_numbers_and_4300_digits_are_kept(env: Env, number: str) -> None:
    env.write_config(GREET)
    job_id = env.enqueue("greet", "--payload", f'{{"name": {number}}}')
    assert env.show(job_id)["payload"] == {"name": json.loads(number)}


NAME_RULE = "starting with a letter or a digit (at most 64)"


@pytest.mark.parametrize("name", ["-x", ".", "..", ":", "-", "_tmp"])
def test_a_bad_name_is_refused_with_the_rule_it_breaks(env: Env, name: str) -> None:
    """A name made of allowed characters only, refused for its first one, was told to use
    exactly the characters it was made of."""
    env.write_config(f'[jobs."{name}"]\ncommand = ["true"]\n')
    refused(
        env,
        "validate",
        says=f"bad job name: use ASCII letters, digits, '_', '-', '.', ':', {NAME_RULE}",
    )
    env.write_config(f'[schedules."{name}"]\ncron = "@daily"\ncommand = ["true"]\n')
    refused(
        env,
        "validate",
        says=f"bad schedule name: use ASCII letters, digits, '_', '-', '.', ':', {NAME_RULE}",
    )
    env.write_config(f'[jobs.ok]\ncommand = ["true"]\nqueue = "{name}"\n')
    refused(
        env,
        "validate",
        says=f"bad queue name: use ASCII letters, digits, '_', '-', '.', ':', {NAME_RULE}",
    )
    env.write_config(GREET)
    refused(env, "enqueue", f"--queue={name}", "ok", says=f"bad queue name {name!r}: use")
    refused(env, "enqueue", f"--queue={name}", "ok", says=NAME_RULE)
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("1e-400", "1e-400 is too close to 0 for a JSON number: it would be stored as 0"),
        (LONG_INTEGER, "a number of 5000 digits is too long (at most 4300; give it as a string)"),
    ],
    ids=["underflow", "long-integer"],
)
@pytest.mark.parametrize("more", ["", ', "priority": 1'])
def test_a_number_jobctl_cannot_keep_as_written_is_a_batch_line_error(
    env: Env, number: str, says: str, more: str
) -> None:
    """Both ways a batch line is read: the short one (job and payload alone) and the whole
    one."""
    env.write_config(GREET)
    batch = (
        '{"job": "greet", "payload": {"name": "a"}}\n'
        f'{{"job": "greet", "payload": {{"name": {number}}}{more}}}\n'
    )
    result = env.run("enqueue", "--batch", "-", input=batch)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"jobctl: <stdin>:2: invalid JSON: {says}\n"
    assert env.run("list", "--json").stdout.strip() in ("", "[]")


def _without_db(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS` with no database named (no --db, no $JOBCTL_DB): the config names it.
    A fork of the suite's server where it takes the call, as Env.run is."""
    environ = {k: v for k, v in env.env.items() if k != "JOBCTL_DB"}
    zygote = forkserver.zygote_for(args, environ)
    if zygote is not None:
        return zygote.run(args, environ=environ, cwd=env.root, input=None, timeout=60)
    return subprocess.run(
        [*JOBCTL, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=env.root,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_list_command_with_shell_true_runs_its_words_as_written(env: Env) -> None:
    """A list of one element went to the shell as a script, though validate warns that
    shell = true has no effect on a list command: `["touch F"]` made F."""
    marker = env.root / "pwned"
    env.write_config(
        f'[jobs.one]\nshell = true\ncommand = ["touch {marker}"]\nmax_attempts = 1\n'
        '[jobs.two]\nshell = true\ncommand = ["printf", "%s", "$HOME {x}"]\n'
    )
    checked = env.run("validate")
    assert checked.returncode == 0 and "has no effect on a list command" in checked.stderr
    one = env.enqueue("one")
    two = env.enqueue("two", "--arg", "x=$(id)")
    env.run("run-worker", "--burst", check=True)
    assert not marker.exists()
    assert env.show(one)["state"] == "dead"  # no program of that name
    assert env.run("logs", str(two), check=True).stdout == "$HOME $(id)"

"""End to end: payload values reach the command literally and never run as shell code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

DUMP = """\
import json, os, sys
out = os.path.join(sys.argv[1], os.environ["JOBCTL_JOB_ID"] + ".json")
with open(out, "w", encoding="utf-8") as handle:
    names = ["JOBCTL_PAYLOAD", "JOBCTL_JOB_NAME", "JOBCTL_ATTEMPT", "JOBCTL_MAX_ATTEMPTS",
             "JOBCTL_QUEUE", "CUSTOM"]
    json.dump({"argv": sys.argv[2:], "env": {n: os.environ.get(n) for n in names}}, handle)
"""


def hostile_values(root: Path) -> list[str]:
    return [
        f'"; touch {root}/pwned1; "',
        f"$(touch {root}/pwned2)",
        f"`touch {root}/pwned3`",
        f"'; touch {root}/pwned4; '",
        f"a && touch {root}/pwned5 || touch {root}/pwned6",
        f"x\ntouch {root}/pwned7\n",
        "line one\nline two\r\nthree\n",
        'it\'s a "quote" and a \\ backslash',
        "Zoë, 日本語, ✓, 🎉, \u200b, \u202e reversed",
        "{other} {{value}} {",
        "--flag=1",
        "-rf",
        "",
        "  spaces  around  ",
        "*",
        "~",
        "$HOME ${PATH} %s %n",
        "a;b|c&d>e<f(g)h",
        "\ttab and \x1b[31mescape\x1b[0m",
    ]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("jobctl: ")
    return lines[0]


def toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def assert_not_pwned(root: Path) -> None:
    assert sorted(p.name for p in root.glob("pwned*")) == []


def enqueue_batch(env: Env, job: str, payloads: list[dict[str, str]]) -> list[int]:
    lines = "".join(json.dumps({"job": job, "payload": p}) + "\n" for p in payloads)
    result = env.run("enqueue", "--batch", "-", input=lines, check=True)
    ids = [int(word) for word in result.stdout.split()]
    assert len(ids) == len(payloads)
    return ids


def list_all(env: Env) -> list[dict[str, Any]]:
    jobs = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    assert isinstance(jobs, list)
    return jobs


def log_of(env: Env, job_id: int) -> Path:
    """The first attempt's log, where the README documents it: <db>.logs/NNNNN/ID.RUN.log."""
    path = env.db.parent / (env.db.name + ".logs") / f"{job_id // 1000:05d}" / f"{job_id}.1.log"
    if job_id == 1:  # cross-check the convention once
        (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
        assert Path(attempt["log_path"]) == path
    return path


def test_values_arrive_literally_without_a_shell(env: Env) -> None:
    dump = env.root / "dump.py"
    dump.write_text(DUMP)
    out = env.root / "out"
    out.mkdir()
    env.write_config(
        "[jobs.dump]\n"
        f"command = [{toml(sys.executable)}, {toml(str(dump))}, {toml(str(out))},"
        ' "{value}", "pre-{value}-post", "{other}", "{{value}}"]\n'
        'queue = "dumps"\n'
        "max_attempts = 2\n"
        'env = { CUSTOM = "from config" }\n'
    )
    values = hostile_values(env.root)
    payloads = [{"value": value, "other": "OTHER"} for value in values]
    expected = dict(zip(enqueue_batch(env, "dump", payloads), payloads, strict=True))
    # One of each through --payload, --arg (the CLI's own argv) and --payload-file.
    payload_id = env.enqueue("dump", "--payload", json.dumps(payloads[1]))
    expected[payload_id] = payloads[1]
    arg_id = env.enqueue("dump", "--arg", f"value={values[0]}", "--arg", "other=OTHER")
    expected[arg_id] = {"value": values[0], "other": "OTHER"}
    payload_file = env.root / "payload.json"
    payload_file.write_text(json.dumps({"value": values[8], "other": "OTHER"}), "utf-8")
    file_id = env.enqueue("dump", "--payload-file", str(payload_file))
    expected[file_id] = {"value": values[8], "other": "OTHER"}

    result = env.run("run-worker", "--burst", "--concurrency", "4", timeout=120)
    assert result.returncode == 0, result.stderr
    states = {job["id"]: job["state"] for job in list_all(env)}
    assert states == dict.fromkeys(expected, "succeeded")
    for job_id, payload in expected.items():
        seen = json.loads((out / f"{job_id}.json").read_text(encoding="utf-8"))
        value = payload["value"]
        assert seen["argv"] == [value, f"pre-{value}-post", "OTHER", "{value}"], job_id
        assert json.loads(seen["env"]["JOBCTL_PAYLOAD"]) == payload
        assert seen["env"]["JOBCTL_JOB_NAME"] == "dump"
        assert seen["env"]["JOBCTL_ATTEMPT"] == "1"
        assert seen["env"]["JOBCTL_MAX_ATTEMPTS"] == "2"
        assert seen["env"]["JOBCTL_QUEUE"] == "dumps"
        assert seen["env"]["CUSTOM"] == "from config"
    assert_not_pwned(env.root)


def test_placeholder_inside_an_sh_c_script_is_refused(env: Env) -> None:
    env.write_config('[jobs.bad]\ncommand = ["sh", "-c", "echo {value}"]\n')
    result = env.run("validate")
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert f"{env.config}:2" in line
    assert "placeholder" in line
    # The script may still read the payload from the environment or from "$1".
    env.write_config(
        '[jobs.ok]\ncommand = ["sh", "-c", "printf %s \\"$1\\"", "sh", "{value}"]\n'
        '[jobs.env]\ncommand = ["sh", "-c", "printf %s \\"$JOBCTL_PAYLOAD\\""]\n'
    )
    assert env.run("validate").returncode == 0


def test_placeholder_inside_a_bash_ec_script_is_refused(env: Env) -> None:
    # Combined flags (-ec, -xc) end in a script just like a separate -c.
    env.write_config('[jobs.bad]\ncommand = ["bash", "-ec", "echo {value}"]\n')
    result = env.run("validate")
    assert result.returncode == 2
    assert "placeholder" in one_error_line(result.stderr)


def run_shell_job(env: Env, command_toml: str) -> None:
    env.write_config(f"[jobs.sh]\nshell = true\nmax_attempts = 1\ncommand = {command_toml}\n")
    values = hostile_values(env.root)
    payloads = [{"value": v, "other": "OTHER"} for v in values]
    ids = dict(zip(enqueue_batch(env, "sh", payloads), values, strict=True))
    result = env.run("run-worker", "--burst", "--concurrency", "4", timeout=120)
    assert result.returncode == 0, result.stderr
    assert_not_pwned(env.root)
    jobs = {job["id"]: job for job in list_all(env)}
    for job_id, value in ids.items():
        assert jobs[job_id]["state"] == "succeeded", (job_id, jobs[job_id]["error"])
        assert log_of(env, job_id).read_bytes() == f"<{value}|OTHER>".encode(), job_id


def test_shell_true_quotes_values_in_a_string_command(env: Env) -> None:
    run_shell_job(env, toml("printf '<%s|%s>' {value} {other}"))


def test_shell_true_quotes_values_in_a_list_command(env: Env) -> None:
    # A list is an argv even with shell = true: a value must never close a quote that
    # the joined command line opened around its placeholder.
    run_shell_job(env, '["printf", "<%s|%s>", "{value}", "{other}"]')


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("printf '<%s|%s>' '{value}' {other}", id="single-quoted"),
        pytest.param("printf '<%s|%s>' \"{value}\" {other}", id="double-quoted"),
    ],
)
def test_shell_true_placeholder_inside_quotes_is_refused_or_safe(env: Env, command: str) -> None:
    # Quoting a placeholder out of habit must not open a hole: either validation refuses
    # the command, or the value still arrives literally.
    env.write_config(f"[jobs.sh]\nshell = true\ncommand = {toml(command)}\n")
    check = env.run("validate")
    if check.returncode != 0:
        assert check.returncode == 2
        assert "command" in one_error_line(check.stderr)
        return
    run_shell_job(env, toml(command))


def test_a_nul_in_a_placeholder_value_is_refused_at_enqueue(env: Env) -> None:
    # An argument cannot hold a NUL byte: every attempt would fail, so nothing is stored.
    env.write_config('[jobs.echo]\ncommand = ["echo", "{v}"]\n')
    result = env.run("enqueue", "echo", "--payload", '{"v": "a\\u0000b"}')
    assert result.returncode == 2
    assert result.stderr.startswith("jobctl: ") and "NUL" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    # The same value is fine where no placeholder puts it into an argument.
    ok = env.run("enqueue", "echo", "--payload", '{"v": "x", "w": "a\\u0000b"}')
    assert ok.returncode == 0, ok.stderr


def test_an_arg_given_twice_is_refused_not_overwritten(env: Env) -> None:
    """`--arg msg=a --arg msg=b` kept b without a word: a script's defaults-then-override
    and a typo look the same, and one value is lost either way."""
    env.write_config('[jobs.echo]\ncommand = ["echo", "{msg}"]\n')
    for args in (["msg=a", "msg=b"], ["msg=a", "msg:=1"]):
        words = [w for a in args for w in ("--arg", a)]
        result = env.run("enqueue", "echo", *words)
        assert result.returncode == 2
        assert result.stderr == f"jobctl: --arg '{args[1]}': 'msg' is given twice\n"
    assert not env.db.exists()


def test_a_payload_file_over_max_payload_is_named(env: Env) -> None:
    """It said "payload: payload is N bytes", naming neither the file nor the setting."""
    env.write_config('[settings]\nmax_payload = 1024\n[jobs.a]\ncommand = ["echo", "{x}"]\n')
    big = env.root / "big.json"
    big.write_text(json.dumps({"x": "a" * 2000}))
    refused = env.run("enqueue", "a", "--payload-file", str(big))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"jobctl: --payload-file {big}: payload is 2008 bytes, over the limit of 1024"
        " ([settings] max_payload)\n"
    )


def test_a_payload_file_may_start_with_a_byte_order_mark(env: Env) -> None:
    """A file saved by a Windows editor starts with a BOM: `--batch` skipped it, while
    --payload-file (a file or stdin) refused the same file as invalid JSON."""
    from jobctl.payload import longest_json

    env.write_config('[settings]\nmax_payload = 1024\n[jobs.a]\ncommand = ["echo", "{x}"]\n')
    path = env.root / "payload.json"
    path.write_bytes('\ufeff{"x": "from a file"}'.encode())
    from_file = env.enqueue("a", "--payload-file", str(path))
    # The mark is not part of the text: the longest text read is still taken whole.
    longest = '{"x": "from stdin"}'.ljust(longest_json(1024))
    piped = env.run("enqueue", "a", "--payload-file", "-", input="\ufeff" + longest, check=True)
    assert env.show(from_file)["payload"] == {"x": "from a file"}
    assert env.show(int(piped.stdout))["payload"] == {"x": "from stdin"}
    over = env.run("enqueue", "a", "--payload-file", "-", input="\ufeff" + longest + " ")
    assert over.returncode == 2 and "too large for a payload" in over.stderr

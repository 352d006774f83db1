"""Each call imports only its command's module: the table that says which must be complete.
And what the dispatch makes of a call that names no command, or whose stdout's reader left."""

from __future__ import annotations

import importlib
import json
import os
import subprocess

import pytest
import typer
from conftest import JOBCTL, Env
from test_ops_support import start_worker

from jobctl.cli.app import app
from jobctl.cli.main import ALL_MODULES, COMMAND_MODULES, command_name


def test_every_command_is_in_the_dispatch_table() -> None:
    for module in ALL_MODULES:
        importlib.import_module(f"jobctl.cli.{module}")
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    names |= {g.typer_instance.info.name or "" for g in app.registered_groups}
    names.discard("")
    assert names == set(COMMAND_MODULES)


def test_no_command_s_signature_is_text_typer_would_compile_at_every_call() -> None:
    """typer reads each command's signature at every call, and evaluates an annotation
    kept as text (`from __future__ import annotations`) twice: compiled anew each time,
    some 5% of the instructions of `jobctl show` or `list`."""
    for module in ALL_MODULES:
        importlib.import_module(f"jobctl.cli.{module}")

    def callbacks(typer_app: typer.Typer) -> list[object]:
        found: list[object] = [c.callback for c in typer_app.registered_commands]
        found.append(typer_app.registered_callback and typer_app.registered_callback.callback)
        for group in typer_app.registered_groups:
            found.extend(callbacks(group.typer_instance))
        return [f for f in found if f is not None]

    texts = {
        f"{getattr(f, '__module__', '?')}.{getattr(f, '__name__', '?')}: {name}"
        for f in callbacks(app)
        for name, annotation in getattr(f, "__annotations__", {}).items()
        if isinstance(annotation, str)
    }
    assert not texts


def test_each_module_registers_the_commands_the_table_gives_it() -> None:
    for name, module in COMMAND_MODULES.items():
        source = importlib.import_module(f"jobctl.cli.{module}").__file__
        assert source is not None
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
        assert f'"{name}"' in text or f"def {name.replace('-', '_')}(" in text, (name, module)


def test_command_name_skips_global_options() -> None:
    assert command_name(["--config", "x.toml", "--db", "q.db", "enqueue", "a"]) == "enqueue"
    assert command_name(["-c", "x", "--log-format", "json", "run-worker"]) == "run-worker"
    assert command_name(["--config=x.toml", "list"]) == "list"
    assert command_name(["--version"]) is None
    assert command_name([]) is None


@pytest.mark.parametrize(
    "words", [[], ["dead"], ["schedule"]], ids=lambda words: " ".join(["jobctl", *words])
)
def test_a_missing_command_prints_its_usage_on_stderr_and_help_keeps_stdout(
    env: Env, words: list[str]
) -> None:
    """stdout carries results alone: `jobctl dead` in a script printed its help there (exit
    2), into whatever read the output. Asked for with -h or --help, the help is the result."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        if words:
            return env.run(*args)
        # `jobctl` alone: after a global option click says "Missing command." instead.
        return subprocess.run(
            [*JOBCTL, *args], capture_output=True, text=True, env=env.env, cwd=env.root
        )

    missing = run(*words)
    path = " ".join(["jobctl", *words])
    assert (missing.returncode, missing.stdout) == (2, "")
    usage, _, last = missing.stderr.rstrip("\n").rpartition("\n")
    assert usage.startswith(f"Usage: {path} ") and "Commands:" in usage
    assert last == f"jobctl: '{path}' needs a command, one of those listed above"
    for flag in ("-h", "--help"):
        asked = run(*words, flag)
        assert (asked.returncode, asked.stderr) == (0, "")
        assert asked.stdout.startswith(f"Usage: {path} ") and "Commands:" in asked.stdout


def run_with_its_reader_gone(
    env: Env, args: list[str], environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS | (exec 0<&-; ...)`: every write to stdout fails with EPIPE."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env if environ is None else environ,
            cwd=env.root,
            timeout=60,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args",
    [["enqueue", "ok"], ["enqueue", "ok", "--json"], ["enqueue", "ok", "--wait"], ["list"]],
    ids=" ".join,
)
def test_a_reader_gone_names_what_was_stored(env: Env, args: list[str], buffered: bool) -> None:
    """`jobctl enqueue x | (exec 0<&-; ...)`: the job was stored, and the call exited 141
    without a word, where a full stdout names it; a step retried on failure queued it
    twice. A listing stays quiet, as `cat` ends."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    environ = {k: v for k, v in env.env.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        environ["PYTHONUNBUFFERED"] = "1"
    result = run_with_its_reader_gone(env, args, environ)
    said = (
        "jobctl: cannot write to standard output: its reader went away (job 2 was queued, but"
        " its id could not be printed)\n"
    )
    assert (result.returncode, result.stderr) == (141, said if args[0] == "enqueue" else "")
    listed = env.run("list", "--json", check=True)
    assert len(json.loads(listed.stdout)) == 1 + (args[0] == "enqueue")


def test_a_followed_job_whose_reader_left_is_not_said_unnamed(env: Env) -> None:
    """`enqueue --follow | head`: the id went to stderr before the output, so a reader gone
    meanwhile ends it as `cat` ends (141), with no word that its id was not printed."""
    env.write_config('[jobs.say]\ncommand = ["echo", "hello"]\n')
    env.enqueue("say")  # (the database is made: no note of it)
    start_worker(env)
    result = run_with_its_reader_gone(env, ["enqueue", "say", "--follow"])
    assert (result.returncode, result.stderr) == (141, "jobctl: job 2 enqueued\n")


@pytest.mark.parametrize("args", [["retry", "1"], ["schedule", "run", "s"]], ids=" ".join)
def test_retry_and_schedule_run_name_the_job_a_gone_reader_missed(
    env: Env, args: list[str]
) -> None:
    """Like enqueue: each stores a job and prints its id, and said nothing of it when the
    reader of its stdout was gone."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[schedules.s]\njob = "ok"\ncron = "0 3 * * *"\n'
    )
    env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)
    result = run_with_its_reader_gone(env, args)
    assert (result.returncode, result.stderr) == (
        141,
        "jobctl: cannot write to standard output: its reader went away (job 2 was queued, but"
        " its id could not be printed)\n",
    )

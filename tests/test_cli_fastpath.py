"""`jobctl enqueue` read without typer (jobctl.cli.fastpath): the same options as typer
declares, read the same way, and typer left out of the process."""

from __future__ import annotations

import inspect
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import JOBCTL, Env
from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl.cli import enqueue as enqueue_module
from jobctl.cli import main
from jobctl.cli.context import STATE
from jobctl.cli.fastpath import (
    ENQUEUE_LEFT_TO_TYPER,
    ENQUEUE_OPTIONS,
    FLAG,
    GLOBAL_OPTIONS,
    NUMBER,
    VALUE,
    VALUES,
    read_enqueue,
)


def _click_app() -> Any:
    import typer.main

    from jobctl.cli import queue  # noqa: F401  (registers enqueue)
    from jobctl.cli.app import app

    return typer.main.get_command(app)


def _kind(param: Any) -> str:
    if param.is_flag:
        return FLAG
    # A type the fast path does not convert (a choice, a path, a float) shows as itself.
    kind = {"str": VALUE, "int": NUMBER}.get(param.type.name, param.type.name)
    return VALUES if param.multiple and kind == VALUE else kind


def _options(command: Any) -> dict[str, tuple[str, str]]:
    found = {}
    for param in command.params:
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                found[name] = (param.name, _kind(param))
    return found


def _plain(param: Any) -> bool:
    """Whether an option is read as the fast path reads it: no environment variable, no
    callback, nothing given means None (False for a flag), one value a time."""
    default = False if param.is_flag else None
    return (
        param.envvar is None
        and param.callback is None
        and param.default == default
        and param.nargs == 1
        and not param.is_eager
        and not getattr(param, "count", False)
    )


def test_the_enqueue_table_is_the_options_typer_declares() -> None:
    group = _click_app()
    command = group.commands["enqueue"]
    declared = _options(command)
    declared_help = set(command.get_help_option_names(group.make_context("jobctl", ["enqueue"])))
    for name, spec in ENQUEUE_OPTIONS.items():
        assert declared.get(name) == spec, name
    for param in command.params:
        if param.param_type_name == "option" and set(param.opts) & set(ENQUEUE_OPTIONS):
            assert _plain(param), param.name
    # Every declared option is read here or left to typer on purpose: a new option must be
    # placed in one of the two.
    assert set(declared) | declared_help == set(ENQUEUE_OPTIONS) | ENQUEUE_LEFT_TO_TYPER


def test_the_global_table_is_the_options_typer_declares() -> None:
    group = _click_app()
    declared = _options(group)
    assert {n: s for n, s in declared.items() if n not in ("--version",)} == GLOBAL_OPTIONS
    for param in group.params:
        if set(param.opts) & set(GLOBAL_OPTIONS):
            assert _plain(param), param.name


def test_typers_callback_does_nothing_the_fast_path_does_not() -> None:
    """The app's callback only hands the global options to STATE.set_options, as the fast
    path does: a check added there must go into set_options, or the fast path skips it."""
    import ast
    import textwrap

    from jobctl.cli.app import main as callback

    tree = ast.parse(textwrap.dedent(inspect.getsource(callback)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    assert len(body) == 1, ast.unparse(function)
    assert ast.unparse(body[0]) == "STATE.set_options(config, db, log_format, log_level)"


# -- the same command line, read both ways --------------------------------------------------


def _read_both(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """What the body receives (its arguments and the global options, or the error) when
    typer reads `argv`, and when the fast path does."""
    calls: list[dict[str, object]] = []
    signature = inspect.signature(enqueue_module.run_enqueue)

    def record(**kwargs: object) -> None:
        bound = signature.bind(**kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        for name in ("args", "arg", "named_before_exec"):  # empty and None say the same
            values[name] = values[name] or None
        globals_ = (STATE.config_path, STATE.db, STATE.log_format, STATE.log_level)
        calls.append({"body": values, "globals": globals_})

    monkeypatch.setattr(enqueue_module, "run_enqueue", record)

    def outcome(run: Any) -> object:
        calls.clear()
        STATE.set_options(None, None, None, None)
        try:
            run()
        except SystemExit as exc:
            return ("exit", exc.code)
        except Exception as exc:
            return ("error", type(exc).__name__, str(exc))
        return calls[0] if calls else ("no call",)

    fast = read_enqueue(argv)
    assert fast is not None, argv
    by_fast_path = outcome(fast)
    by_typer = outcome(lambda: main._run_typer(argv, argv, "enqueue", False, False))
    return by_typer, by_fast_path


READ_HERE = [
    ["enqueue", "backup"],
    ["enqueue", "backup", "--arg", "target=/srv", "-a", "n:=5", "--arg=x=y"],
    ["--db", "q.db", "-c", "jobs.toml", "enqueue", "backup", "--json"],
    ["--config=jobs.toml", "--log-level", "debug", "--log-format=json", "enqueue", "x"],
    ["enqueue", "--priority", "-5", "backup"],
    ["enqueue", "backup", "--max-attempts", "3", "--delay", "5m", "--at", "2030-01-01"],
    ["enqueue", "--key=--json", "backup"],  # an attached value is taken as written
    ["enqueue", "-q", "fast", "-k", "k1", "-p", "{}", "-d", "1s", "backup"],
    ["enqueue", "--payload-file", "-", "backup"],
    ["enqueue", "--batch", "-"],
    ["enqueue", "a", "b", "-"],  # extra words: the body says what is wrong
    ["enqueue"],
    ["enqueue", "x", "--arg="],
    ["--log-format", "yaml", "enqueue", "x"],  # refused by the global options, both ways
    ["--db", "", "enqueue", "x"],
    ["enqueue", "--exec", "--", "make", "-j4", "test"],
    ["enqueue", "-x", "ls", "--json"],
    ["enqueue", "--exec", "--", "echo", "--json", "--"],
    ["enqueue", "greet", "--exec", "--", "echo", "hi"],  # a name before --exec: refused
    ["enqueue", "-q", "q", "--exec", "a", "--exec", "b"],
    ["enqueue", "--exec"],
    ["enqueue", "--", "name"],
    ["enqueue", "--", "--exec", "x"],
    ["enqueue", "--exec", "sort", "-k", "2", "data.txt"],  # the command's own options
    ["enqueue", "--exec", "echo", "--json", "--wait", "--", "-x"],
    ["enqueue", "-q", "fast", "--exec", "-k", "k1", "--json", "ls", "-la"],
    ["enqueue", "--exec", "--priority=3", "-", "x"],
]


@pytest.mark.parametrize("argv", READ_HERE, ids=" ".join)
def test_a_command_line_is_read_as_typer_reads_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_typer, by_fast_path = _read_both(argv, monkeypatch)
    assert by_fast_path == by_typer


LEFT_TO_TYPER = [
    ["enqueue", "--help"],
    ["enqueue", "x", "-h"],
    ["--version", "enqueue", "x"],
    ["--help"],
    ["enqueue", "x", "--wait"],
    ["enqueue", "x", "-f", "--timeout", "1s"],
    ["enqueue", "x", "--arg"],  # no value
    ["enqueue", "x", "--priority", "high"],
    ["enqueue", "x", "--priority=2.5"],
    ["enqueue", "x", "--priority", "0x10"],  # int() refuses it, as click does
    ["enqueue", "x", "--priority", "1_000"],  # ASCII digits alone: typer says so
    ["enqueue", "x", "--max-attempts", " 3"],
    ["enqueue", "x", "--priority", "٣"],
    ["enqueue", "x", "--priority", "9223372036854775808"],  # more than a store holds
    ["enqueue", "--priority", "-5", "backup", "--priority", "7"],  # given twice: typer says so
    ["enqueue", "x", "-p", "{}", "--payload", "{}"],
    ["--db", "a.db", "--db", "b.db", "enqueue", "x"],
    ["enqueue", "x", "--json=yes"],
    ["enqueue", "x", "-ak=v"],  # a short option's attached value: typer's
    ["enqueue", "x", "-a=k=v"],
    ["enqueue", "--key", "--json", "backup"],  # an option of enqueue as a value: refused
    ["enqueue", "x", "-q", "--priority=3"],
    ["--db", "--log-level", "enqueue", "x"],  # and of the global options
    ["enqueue", "--key", "--exec", "x"],  # values typer's enqueue looks for first
    ["enqueue", "--key", "--", "x"],
    ["enqueue", "-k", "-x", "x"],
    ["enqueue", "--exec", "-kk1", "ls"],  # an attached value: typer's
    ["enqueue", "--exec", "-la"],
    ["enqueue", "x", "--db", "q.db"],  # a global option after the command
    ["enqueue", "x", "--bogus"],
    ["--db", "q.db"],
    ["list"],
    ["--db", "enqueue", "x"],  # "enqueue" is the database's name here
    ["enqueue", "x", "-5"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_other_command_lines_are_left_to_typer(argv: list[str]) -> None:
    assert read_enqueue(argv) is None


_READ_HERE_WORDS = st.sampled_from(
    [
        *ENQUEUE_OPTIONS,
        *("-", "", "job", "k=v", "n:=1", "5", "-5", "x=", "--arg=k=v", "="),
        *("7.5", "0x10", " 6", "+2", "1_0", "٣", "--exec", "--", "-x"),
    ]
)
_TYPERS_WORDS = st.sampled_from(
    ["--wait", "--help", "--priority=3", "--json=1", "-ak=v", "--bogus"]
)
# Mostly words read here, so that most command lines are read both ways.
WORDS = st.one_of(_READ_HERE_WORDS, _READ_HERE_WORDS, _READ_HERE_WORDS, _TYPERS_WORDS)
GLOBALS = st.lists(
    st.tuples(
        st.sampled_from(["--db", "-c", "--config", "--log-level", "--log-format"]),
        st.sampled_from(["q.db", "j.toml", "info", "json", "", "enqueue"]),
    ).map(list)
    | st.sampled_from([["--config=j.toml"], ["--db=q.db"]]),
    max_size=3,
).map(lambda groups: [word for group in groups for word in group])


@settings(max_examples=400, deadline=None)
@given(before=GLOBALS, after=st.lists(WORDS, max_size=8))
def test_any_command_line_read_here_is_read_as_typer_reads_it(
    before: list[str], after: list[str]
) -> None:
    argv = [*before, "enqueue", *after]
    if read_enqueue(argv) is None:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        by_typer, by_fast_path = _read_both(argv, monkeypatch)
    assert by_fast_path == by_typer, argv


# -- the real command -------------------------------------------------------------------------


def test_an_enqueue_does_not_import_typer(env: Env) -> None:
    """The point of the fast path: what `jobctl enqueue NAME --arg k=v` loads, through the
    real entry point (its streams, its collector, its exit)."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    imported = {name.split(".")[0] for name in _enqueue_imports(env)}  # (it makes the database)
    assert "jobctl" in imported and "sqlite3" in imported  # the listing is complete
    assert not imported & {"typer", "click", "rich"}, sorted(imported)
    # Nor, on a database that exists, the records of what runs jobs: their dataclasses take
    # dataclasses and inspect, some 10% of an enqueue's imports.
    modules = _enqueue_imports(env)
    assert not modules & {"jobctl.records", "dataclasses", "inspect"}, sorted(modules)


def _enqueue_imports(env: Env) -> set[str]:
    """The modules `jobctl enqueue noop --arg k=v --json` imports, as a new interpreter."""
    done = subprocess.run(
        [*JOBCTL, *env.global_args(), "enqueue", "noop", "--arg", "k=v", "--json"],
        capture_output=True,
        text=True,
        env={**env.env, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=env.root,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"created": true' in done.stdout
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize("wait", [False, True], ids=["fast path", "typer"])
def test_ctrl_c_ends_an_enqueue_with_130_and_no_word(env: Env, wait: bool) -> None:
    """Read without typer or by it, a Ctrl-C while the payload is read from stdin ends the
    call the same way: exit 130, nothing said, nothing queued."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    argv = ["enqueue", "noop", "--payload-file", "-", *(["--wait"] if wait else [])]
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
    )
    try:
        wchan = Path(f"/proc/{proc.pid}/wchan")
        env.wait_for(lambda: "pipe_read" in wchan.read_text())  # blocked on stdin
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (130, "", "")
    assert not env.db.exists()  # nothing queued: the database was never even made


@pytest.mark.parametrize("wait", [False, True], ids=["fast path", "typer"])
def test_exec_takes_every_word_from_the_commands_first_one(env: Env, wait: bool) -> None:
    """As pueue and task-spooler read `add sort -k 2 f`: jobctl's options end at the
    command's first word, so `-k 2` is sort's, not --key."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    before = ["--wait", "--timeout", "1ms"] if wait else []  # --wait: read by typer
    argv = ["enqueue", *before, "-q", "q1", "--exec", "sort", "-k", "2", "--json", "f.txt"]
    done = env.run(*argv)
    assert done.returncode == (124 if wait else 0), done.stderr
    (job,) = json.loads(env.run("list", "--json", check=True).stdout)
    assert (job["command"], job["key"], job["queue"]) == (
        ["sort", "-k", "2", "--json", "f.txt"],
        None,
        "q1",
    )


@pytest.mark.parametrize(
    "options",
    [["-xq", "q1"], ["-xqq1"], ["-qq1", "-x"], ["-wx", "-q", "q1", "--timeout", "1ms"]],
    ids=" ".join,
)
def test_exec_in_a_bundle_of_short_options_takes_every_word_from_the_commands(
    env: Env, options: list[str]
) -> None:
    """`-xq slow` is `-x -q slow`, as click reads a bundle: the command's options are its
    own. The bundle hid --exec, and `enqueue -xq q1 sort -k 2 f.txt` queued `sort f.txt`
    with the key 2."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    done = env.run("enqueue", *options, "sort", "-k", "2", "f.txt")
    assert done.returncode in (0, 124), done.stderr  # (124: -w waited for no worker)
    (job,) = json.loads(env.run("list", "--json", check=True).stdout)
    assert (job["command"], job["key"], job["queue"]) == (["sort", "-k", "2", "f.txt"], None, "q1")

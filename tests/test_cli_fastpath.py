"""`jobctl enqueue` read without typer (jobctl.cli.fastpath): the same options as typer
declares, read the same way, and typer left out of the process."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
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


def test_the_enqueue_table_is_the_options_typer_declares() -> None:
    group = _click_app()
    command = group.commands["enqueue"]
    declared = _options(command)
    declared_help = set(command.get_help_option_names(group.make_context("jobctl", ["enqueue"])))
    for name, spec in ENQUEUE_OPTIONS.items():
        assert declared.get(name) == spec, name
    # Every declared option is read here or left to typer on purpose: a new option must be
    # placed in one of the two.
    assert set(declared) | declared_help == set(ENQUEUE_OPTIONS) | ENQUEUE_LEFT_TO_TYPER


def test_the_global_table_is_the_options_typer_declares() -> None:
    group = _click_app()
    declared = _options(group)
    assert {n: s for n, s in declared.items() if n not in ("--version",)} == GLOBAL_OPTIONS


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
        values["args"] = values["args"] or None  # an empty list and None say the same
        values["arg"] = values["arg"] or None
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
    ["enqueue", "--priority", "-5", "backup", "--priority", "7"],  # the last counts
    ["enqueue", "backup", "--max-attempts", " 3", "--delay", "5m", "--at", "2030-01-01"],
    ["enqueue", "--key", "--json", "backup"],  # --json is the key's value, as click takes it
    ["enqueue", "-q", "fast", "-k", "k1", "-p", "{}", "-d", "1s", "backup"],
    ["enqueue", "--payload-file", "-", "backup"],
    ["enqueue", "--batch", "-"],
    ["enqueue", "a", "b", "-"],  # extra words: the body says what is wrong
    ["enqueue"],
    ["enqueue", "x", "--arg="],
    ["--log-format", "yaml", "enqueue", "x"],  # refused by the global options, both ways
    ["--db", "", "enqueue", "x"],
    ["enqueue", "x", "--priority", "1_000"],
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
    ["enqueue", "--exec", "--", "ls"],
    ["enqueue", "x", "--wait"],
    ["enqueue", "x", "-f", "--timeout", "1s"],
    ["enqueue", "x", "--arg"],  # no value
    ["enqueue", "x", "--priority", "high"],
    ["enqueue", "x", "--priority=2.5"],
    ["enqueue", "x", "--json=yes"],
    ["enqueue", "x", "-ak=v"],  # a short option's attached value: typer's
    ["enqueue", "x", "-a=k=v"],
    ["enqueue", "--", "x"],
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
    [*ENQUEUE_OPTIONS, "-", "", "job", "k=v", "n:=1", "5", "-5", "x=", "--arg=k=v", "=", "7.5"]
)
_TYPERS_WORDS = st.sampled_from(
    ["--exec", "--wait", "--help", "--", "--priority=3", "--json=1", "-ak=v", "--bogus"]
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


def test_an_enqueue_does_not_import_typer(tmp_path: Path) -> None:
    """The point of the fast path: what `jobctl enqueue NAME --arg k=v` loads."""
    config = tmp_path / "jobs.toml"
    config.write_text('[jobs.noop]\ncommand = ["true"]\n', encoding="utf-8")
    script = (
        "import sys\n"
        "from jobctl.cli import main\n"
        "try:\n"
        "    main.run(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'rich')))\n"
    )
    argv = ["--db", str(tmp_path / "q.db"), "--config", str(config), "enqueue", "noop"]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv, "--arg", "k=v", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("[]"), done.stdout
    assert '"created": true' in done.stdout

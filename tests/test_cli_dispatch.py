"""Each call imports only its command's module: the table that says which must be complete.
And what the dispatch makes of a call that names no command."""

from __future__ import annotations

import importlib
import subprocess

import pytest
from conftest import JOBCTL, Env

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

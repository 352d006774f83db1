"""Each call imports only its command's module: the table that says which must be complete."""

from __future__ import annotations

import importlib

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

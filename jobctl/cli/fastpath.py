"""`jobctl enqueue NAME --arg k=v`, read without typer.

Importing typer, and the click it carries, is some 30 ms of a 70 ms enqueue, a command that
runs in shell loops and cron lines. So the common command lines of `enqueue` - the global
options, then `enqueue` and the options that store a job or queue a command - are read here
and handed to the body typer would call (jobctl.cli.enqueue.run_enqueue). The option names
are typer's: a test holds these tables to the options jobctl.cli.app and jobctl.cli.queue
declare, and reads command lines both ways. Anything else - help, --wait, an unknown option,
a value missing or not a number - is typer's to read, or to say what is wrong with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobctl.cli.options import stored_number

# What an option takes: one value (given twice, typer refuses it), a value each time it is
# given, a whole number (one too), or nothing (a flag).
VALUE, VALUES, NUMBER, FLAG = "value", "values", "number", "flag"

GLOBAL_OPTIONS: dict[str, tuple[str, str]] = {
    "--config": ("config", VALUE),
    "-c": ("config", VALUE),
    "--db": ("db", VALUE),
    "--log-format": ("log_format", VALUE),
    "--log-level": ("log_level", VALUE),
}
# --version and --help end the call: typer's.

ENQUEUE_OPTIONS: dict[str, tuple[str, str]] = {
    "--arg": ("arg", VALUES),
    "-a": ("arg", VALUES),
    "--payload": ("payload", VALUE),
    "-p": ("payload", VALUE),
    "--payload-file": ("payload_file", VALUE),
    "--delay": ("delay", VALUE),
    "-d": ("delay", VALUE),
    "--at": ("at", VALUE),
    "--priority": ("priority", NUMBER),
    "--queue": ("queue", VALUE),
    "-q": ("queue", VALUE),
    "--key": ("key", VALUE),
    "-k": ("key", VALUE),
    "--max-attempts": ("max_attempts", NUMBER),
    "--after": ("after", VALUES),
    "--batch": ("batch", VALUE),
    "--json": ("as_json", FLAG),
    "--exec": ("exec_", FLAG),
    "-x": ("exec_", FLAG),
    "--cwd": ("cwd", VALUE),
}
# Typer's: they wait for the job, where start-up time no longer counts, or end the call.
ENQUEUE_LEFT_TO_TYPER = frozenset(
    {"--wait", "-w", "--follow", "-f", "--timeout", "-t", "--help", "-h"}
)
# Words that typer's enqueue looks for before it reads the options (see jobctl.cli.queue): as
# an option's value they are left to typer.
_MARKERS = frozenset({"--", "--exec", "-x"})


# The options each parser has beyond its table: an option's value that names one is refused.
_GLOBAL_OPTIONS_LEFT_TO_TYPER = frozenset({"--version", "--help", "-h"})


def _an_option(value: str, table: dict[str, tuple[str, str]]) -> bool:
    """Whether typer refuses `value` as a value for being an option of the table's command."""
    if not value.startswith("-") or value == "-":
        return False
    others = ENQUEUE_LEFT_TO_TYPER if table is ENQUEUE_OPTIONS else _GLOBAL_OPTIONS_LEFT_TO_TYPER
    name = value.partition("=")[0] if value.startswith("--") else value
    return name in table or name in others


def read_enqueue(args: list[str]) -> Callable[[], None] | None:
    """The enqueue that `args` (the words after `jobctl`) ask for, ready to run; None when
    they are not an enqueue this module reads."""
    global_options: dict[str, Any] = {}
    index = _read_options(args, 0, GLOBAL_OPTIONS, global_options, None)
    if index is None or index >= len(args) or args[index] != "enqueue":
        return None
    options: dict[str, Any] = {}  # run_enqueue's keyword arguments
    words: list[str] = []
    if _read_options(args, index + 1, ENQUEUE_OPTIONS, options, words) is None:
        return None

    def run() -> None:
        from jobctl.cli.context import STATE
        from jobctl.cli.enqueue import run_enqueue

        STATE.set_options(
            config=global_options.get("config"),
            db=global_options.get("db"),
            log_format=global_options.get("log_format"),
            log_level=global_options.get("log_level"),
        )
        run_enqueue(args=words or None, **options)

    return run


def _read_options(
    args: list[str],
    index: int,
    table: dict[str, tuple[str, str]],
    into: dict[str, Any],
    words: list[str] | None,
) -> int | None:
    """Read options from `args[index:]` into `into`, as click reads them. Without `words`
    (the global options) the first other word ends them: its index is returned. With
    `words`, other words are gathered there, between options too, to the end. None when a
    word is not read here."""
    while index < len(args):
        word = args[index]
        if word == "--" and words is not None:  # the rest are words: `--exec -- ls -la`
            words.extend(args[index + 1 :])
            return len(args)
        if word == "-" or not word.startswith("-"):  # click's test for an option
            if words is None:
                return index
            if into.get("exec_"):  # --exec's command: its first word ends jobctl's options
                words.extend(args[index:])
                return len(args)
            words.append(word)
            index += 1
            continue
        name, equals, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        spec = table.get(name)
        if spec is None:  # `--`, help, an unknown option, `-kVALUE`: typer's
            return None
        dest, kind = spec
        if kind == FLAG:
            if equals:
                return None  # `--json=yes`: typer says a flag takes no value
            if dest == "exec_" and not into.get(dest):  # a job name given before --exec
                into["named_before_exec"] = list(words or ())
            into[dest] = True
            index += 1
            continue
        if equals:
            value = attached
            index += 1
        elif index + 1 < len(args):
            value = args[index + 1]  # whatever it is, as click takes it: `--priority -5`
            if value in _MARKERS or _an_option(value, table):
                return None  # typer refuses one of the command's options as a value
            index += 2
        else:
            return None  # typer says which option lacks its value
        if kind in (VALUE, NUMBER) and dest in into:  # given twice: typer says so
            return None
        if kind == NUMBER:
            try:
                into[dest] = stored_number(value)  # as typer's path reads it (see cli.app)
            except (ValueError, OverflowError):
                return None
        elif kind == VALUES:
            values = into.setdefault(dest, [])
            assert isinstance(values, list)
            values.append(value)
        else:
            into[dest] = value
    return None if words is None else index

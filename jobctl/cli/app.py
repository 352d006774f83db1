"""The typer application, its global options, and what every command shares.

Commands import their heavy modules inside the function body: `jobctl enqueue` runs in
shell loops and cron lines, so start-up must not pay for rich, croniter or the worker.
Modules whose functions typer inspects (this one, completers.py and every module of
commands) do without `from __future__ import annotations`: typer reads every signature on
each call, and string annotations would be compiled and evaluated anew each time. (Their
other functions quote what is imported only for the type checker.)
"""

from collections.abc import Callable
from typing import Annotated, Any

import typer

from jobctl import __version__
from jobctl.cli.context import STATE
from jobctl.cli.options import option_named, stored_number, value_is_an_option


def click_number(read: Callable[[str | int], int]) -> Callable[[str | int], int]:
    """`read` as click's integer types call it: its OverflowError (a number beyond what it
    takes) becomes the option's bad value, which click turns into its one line, not a
    crash."""
    from typer._click.exceptions import BadParameter

    def number(value: str | int) -> int:
        try:
            return read(value)
        except OverflowError as exc:
            raise BadParameter(str(exc)) from None

    return number


def _read_strictly() -> None:
    """Have click refuse what it would read by guessing, for every command alike:

    - an option that takes one value given twice: click kept the last, so `enqueue --key k1
      --key k2` stored a job under k2, and `--db a --db b` used b, without a word. Options
      meant to repeat (lists in the signatures: --arg, --state, --after...) still do, and a
      flag given twice is still the flag.
    - a number in anything but ASCII digits (see whole_number), or beyond what a store
      holds: the error names the option or argument, as for any value it refuses.

    - an option that takes a value, given one of the command's own option names as that
      value: click took the name, so `enqueue greet --key --json` stored a job keyed
      `--json` and printed no JSON, and `list --queue --json` printed a table. An attached
      value (`--key=--json`, `-k--json`) is still taken as written.

    click has no setting for any of these: this wraps its option parser and its integer type, in
    the copy typer 0.28 carries (pyproject pins typer below 0.29), and
    tests/test_cli_strict_input.py fails if a typer release moves them."""
    from typer._click import parser, types
    from typer._click.core import Parameter
    from typer._click.exceptions import BadOptionUsage
    from typer.core import TyperOption

    read = parser._OptionParser.parse_args
    match_long = parser._OptionParser._match_long_opt
    match_short = parser._OptionParser._match_short_opt

    def parse_args(
        self: parser._OptionParser, args: list[str]
    ) -> tuple[dict[str, Any], list[str], list[Parameter]]:
        opts, rest, order = read(self, args)
        if self.ctx is not None and self.ctx.resilient_parsing:  # completing a word
            return opts, rest, order
        seen: set[int] = set()
        for param in order:
            if not isinstance(param, TyperOption) or param.multiple or param.is_flag:
                continue
            if param.count or id(param) not in seen:
                seen.add(id(param))
                continue
            name = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            raise BadOptionUsage(name, f"{name} was given twice: it takes one value", self.ctx)
        return opts, rest, order

    def check_next_value(
        self: parser._OptionParser, option: parser._Option, state: parser._ParsingState
    ) -> None:
        """Refuse the next word as `option`'s value when it is one of this command's options."""
        if not state.rargs or (self.ctx is not None and self.ctx.resilient_parsing):
            return
        word = state.rargs[0]
        if option_named(word, self._long_opt.keys() | self._short_opt.keys()):
            name = (option._long_opts or option._short_opts)[0]
            raise BadOptionUsage(name, value_is_an_option(name, word), self.ctx)

    def match_long_opt(
        self: parser._OptionParser,
        opt: str,
        explicit_value: str | None,
        state: parser._ParsingState,
    ) -> None:
        option = self._long_opt.get(opt)
        if option is not None and option.takes_value and explicit_value is None:
            check_next_value(self, option, state)
        match_long(self, opt, explicit_value, state)

    def match_short_opt(self: parser._OptionParser, arg: str, state: parser._ParsingState) -> None:
        # The option whose value is the next word: the first of the bundle that takes a
        # value, when it ends the bundle (`-xk` then the key; `-kx` is the key `x`).
        for position, letter in enumerate(arg[1:], start=2):
            option = self._short_opt.get(f"{arg[0]}{letter}")
            if option is None or option.takes_value:
                if option is not None and position == len(arg):
                    check_next_value(self, option, state)
                break
        match_short(self, arg, state)

    parser._OptionParser.parse_args = parse_args  # type: ignore[method-assign]
    parser._OptionParser._match_long_opt = match_long_opt  # type: ignore[method-assign]
    parser._OptionParser._match_short_opt = match_short_opt  # type: ignore[method-assign]
    types.IntParamType._number_class = staticmethod(click_number(stored_number))  # type: ignore[assignment]


_read_strictly()

app = typer.Typer(
    name="jobctl",
    help="A durable job queue, worker pool and cron daemon in one command.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from jobctl.store.sqlite.connection import SCHEMA_VERSION

        # The schema tells builds apart where it matters: which databases each one opens.
        typer.echo(f"jobctl {__version__} (SQLite schema {SCHEMA_VERSION})")
        raise typer.Exit(0)


@app.callback()
def main(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file (default: $JOBCTL_CONFIG, ./jobs.toml, "
            "$XDG_CONFIG_HOME/jobctl/jobs.toml).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE",
            help="The queue: a SQLite file, or redis[s]://[[user]:password@]host[:port][/db]"
            " (default: $JOBCTL_DB, [settings] db, $XDG_STATE_HOME/jobctl/jobctl.db).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="Event lines on stderr: text or json (default: [settings] log_format, text).",
            show_default=False,
            metavar="FORMAT",
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error (default: [settings] log_level, info).",
            show_default=False,
            metavar="LEVEL",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """A durable job queue, worker pool and cron daemon in one command.

    Exit codes: 0 ok, 1 failed operation (e.g. a job ended dead), 2 bad usage, config or
    payload, 3 database unusable, 124 wait timed out, 130 interrupted.
    """
    STATE.set_options(config, db, log_format, log_level)

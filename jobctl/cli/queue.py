"""`jobctl enqueue`: put jobs on the queue, one, ad hoc, or a whole batch. Its options
are declared here; what it does is in jobctl.cli.enqueue.

No `from __future__ import annotations` here: see jobctl.cli.app."""

from typing import Annotated

import typer
from typer._click import Context as ClickContext
from typer._click.types import IntParamType
from typer.core import TyperCommand

from jobctl.cli.app import app, click_number
from jobctl.cli.completers import complete_enqueue, complete_queue
from jobctl.cli.options import whole_number

_BEFORE_EXEC = "jobctl.enqueue.before_exec"

# The options a new job's shape is given by, shared with `retry` (jobctl.cli.control), which
# takes them for the job it queues again: one spelling, help and completion for both.
ArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arg", "-a", help="Payload value key=value (key:=json for JSON).", metavar="KEY=VALUE"
    ),
]
DelayOption = Annotated[
    str | None,
    typer.Option("--delay", "-d", help="Run after this long, e.g. 30s, 5m.", metavar="DURATION"),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Run at this time: 2030-05-01T09:30 (ISO-8601; local time unless it has an"
        " offset), 2030-05-01 9:30, 21:30 (the next one), today 9:00, tomorrow 9:00, +10m"
        " (from now), or now. A time already past runs now.",
        show_default=False,
        metavar="TIME",
    ),
]


class _AnySizeNumber(IntParamType):
    """A whole number of any size, for options whose own range a job's check refuses with
    one line naming it (jobctl.producer.check_numbers): read with the store's 64-bit bound
    (see jobctl.cli.app), a --priority beyond it quoted a second, other ceiling."""

    _number_class = staticmethod(click_number(whole_number))  # type: ignore[assignment]


PriorityOption = Annotated[
    int | None,
    typer.Option(
        "--priority",
        help="Higher runs first (default: the job's).",
        metavar="N",
        click_type=_AnySizeNumber(),
    ),
]
QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue", "-q", help="Queue name.", autocompletion=complete_queue, metavar="QUEUE"
    ),
]
MaxAttemptsOption = Annotated[
    int | None,
    typer.Option(
        "--max-attempts",
        help="Attempts before the job is dead.",
        metavar="N",
        click_type=_AnySizeNumber(),
    ),
]
AfterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--after",
        help="Run once job ID has succeeded (repeat, or ID,ID...: once all have); if one"
        " ends dead or cancelled, this job is dead too.",
        metavar="ID",
    ),
]


class _EnqueueCommand(TyperCommand):
    """`enqueue`, which reads --exec's command as pueue and task-spooler do: jobctl's own
    options end at the command's first word (`--exec sort -k 2 f` runs `sort -k 2 f`, where
    click would take `-k 2` as --key), and a word before the flag is a job name given by
    mistake (`jobctl enqueue greet --exec -- echo hi` would queue `greet echo hi`). The fast
    path (jobctl.cli.fastpath) reads the same way."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        args = self._unbundled(args)
        options = args[: args.index("--")] if "--" in args else args
        flag = next((i for i, word in enumerate(options) if word in ("--exec", "-x")), None)
        if flag is None:
            return super().parse_args(ctx, args)
        if flag:
            from typer._click.exceptions import UsageError as ClickUsageError

            try:  # the words before the flag alone: what is left are the positional ones
                opts, _, _ = self.make_parser(ctx).parse_args(args[:flag])
            except ClickUsageError:
                pass  # an option left without its value: click reports it below
            else:
                ctx.meta[_BEFORE_EXEC] = list(opts.get("args") or ())
        first = self._command_start(options, flag + 1)
        if first is not None:
            args = [*args[:first], "--", *args[first:]]
        return super().parse_args(ctx, args)

    def _option_names(self) -> dict[str, bool]:
        """Each option's names, and whether it takes a value."""
        names: dict[str, bool] = {}
        for param in self.params:
            if param.param_type_name == "option":
                takes = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
                for name in [*param.opts, *param.secondary_opts]:
                    names[name] = takes
        return names

    def _unbundled(self, args: list[str]) -> list[str]:
        """Short options bundled in one word (`-xq slow`, `-wx`) apart, as click reads them,
        up to the command's first word: `enqueue -xq slow sort -k 2 f` queued `sort f` with
        the key 2, the bundle hiding --exec from the reading above. Words before --exec that
        are no option (`edit`'s ids, a job name given by mistake) are passed over, as the
        fast path passes over them: `edit 42 -xq slow make` read `-xq` as an id."""
        names = self._option_names()
        out: list[str] = []
        index = 0
        exec_seen = False
        while index < len(args):
            word = args[index]
            if word == "--":
                break
            if word == "-" or not word.startswith("-"):
                if exec_seen:  # the command's first word: the rest are its own
                    break
                out.append(word)
                index += 1
                continue
            if word.startswith("--") and "=" in word and word.split("=", 1)[0] in names:
                out.append(word)  # `--queue=slow`: its value is in the word
                index += 1
                continue
            if word in names:  # an option whole: its value, if it takes one, goes with it
                parts, takes_value = [word], names[word]
            else:
                bundle = _bundle_parts(word, names)
                if bundle is None:
                    break  # `--name=value`, a mistake: click reads the rest as it always did
                parts, takes_value = bundle
            exec_seen = exec_seen or any(part in ("--exec", "-x") for part in parts)
            taken = 2 if takes_value else 1  # (the value: the word that follows)
            out.extend([*parts, *args[index + 1 : index + taken]])
            index += taken
        return [*out, *args[index:]]

    def _command_start(self, options: list[str], index: int) -> int | None:
        """Where the command's first word is, among the words after --exec; None when an
        option click alone reads (`-kVALUE`, a mistake) comes first: click then reads the
        words as it always did."""
        names = self._option_names()
        while index < len(options):
            word = options[index]
            if word == "-" or not word.startswith("-"):
                return index
            if word.startswith("--") and "=" in word and word.split("=", 1)[0] in names:
                index += 1
            elif word in names:
                index += 2 if names[word] else 1
            else:
                return None
        return None


def _bundle_parts(word: str, names: dict[str, bool]) -> tuple[list[str], bool] | None:
    """`-xq` as `-x -q`, `-qslow` as `-q slow`, as click reads a bundle, and whether its last
    option takes the word that follows as its value (`-xq slow`); None for a word that is
    no bundle of known short options."""
    if word.startswith("--") or len(word) < 3:
        return None
    parts: list[str] = []
    for at, letter in enumerate(word[1:], start=1):
        name = f"-{letter}"
        if name not in names:
            return None
        parts.append(name)
        if names[name]:  # it takes the rest of the word as its value, if any is left
            rest = word[at + 1 :]
            return ([*parts, rest], False) if rest else (parts, True)
    return parts, False


@app.command(
    cls=_EnqueueCommand,
    epilog="Examples:  jobctl enqueue greet --arg name=Ada  |  "
    "jobctl enqueue --delay 5m report --arg title=hi  |  "
    "jobctl enqueue --exec -- uname -a  |  "
    "jobctl enqueue --batch jobs.jsonl  |  jobctl enqueue greet --arg name=Ada --wait --follow",
)
def enqueue(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="The job name; with --exec, the command and its arguments.",
            show_default=False,
            autocompletion=complete_enqueue,
        ),
    ] = None,
    arg: ArgOption = None,
    payload: Annotated[
        str | None,
        typer.Option("--payload", "-p", help="The payload as a JSON object.", metavar="JSON"),
    ] = None,
    payload_file: Annotated[
        str | None,
        typer.Option(
            "--payload-file",
            help="Read the JSON payload from FILE, or - for stdin.",
            metavar="FILE",
        ),
    ] = None,
    delay: DelayOption = None,
    at: AtOption = None,
    priority: PriorityOption = None,
    queue: QueueOption = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", "-k", help="Unique key: no second active job with this key.", metavar="KEY"
        ),
    ] = None,
    max_attempts: MaxAttemptsOption = None,
    after: AfterOption = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", help="JSON lines from FILE or - : all are stored or none.", metavar="FILE"
        ),
    ] = None,
    exec_: Annotated[
        bool,
        typer.Option(
            "--exec",
            "-x",
            help="Queue the given command (no job type needed); it runs once (one attempt)"
            " unless --max-attempts or [settings] exec_max_attempts says more.",
        ),
    ] = False,
    cwd: Annotated[
        str | None,
        typer.Option(
            "--cwd",
            help="With --exec: run the command in DIR, not the current directory (with"
            " --batch: the command lines' that give no 'cwd').",
            metavar="DIR",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job(s) as JSON.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", "-w", help="Wait for the job to end; exit with its exit code."),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Like --wait, streaming the job's output.")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            "-t",
            help="With --wait: give up after this long (exit 124).",
            metavar="DURATION",
        ),
    ] = None,
) -> None:
    """Queue a job and print its id."""
    from jobctl.cli.enqueue import run_enqueue

    run_enqueue(
        args=args,
        arg=arg,
        payload=payload,
        payload_file=payload_file,
        delay=delay,
        at=at,
        priority=priority,
        queue=queue,
        key=key,
        max_attempts=max_attempts,
        after=after,
        batch=batch,
        exec_=exec_,
        as_json=as_json,
        wait=wait,
        follow=follow,
        timeout=timeout,
        cwd=cwd,
        named_before_exec=ctx.meta.get(_BEFORE_EXEC),
    )

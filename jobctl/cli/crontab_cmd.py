"""`jobctl import-crontab`: a crontab turned into jobs and schedules (jobctl.crontab
converts; this reads the file, checks the options and says what it left out)."""

import re
import sys
from typing import Annotated

import typer

from jobctl.cli.app import app
from jobctl.text import say

# A job name's start: a job name (config.JOB_NAME) short enough to leave room after it.
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}")
# The most of a crontab read, in characters: far beyond any real one. Read whole,
# `yes | jobctl import-crontab -` or /dev/zero took every byte of memory the host had
# within seconds.
LONGEST_CRONTAB = 4 << 20


@app.command("import-crontab", epilog="Example:  crontab -l | jobctl import-crontab - > jobs.toml")
def import_crontab(
    source: Annotated[
        str, typer.Argument(help="A crontab file, or - for stdin.", metavar="FILE")
    ] = "-",
    system: Annotated[
        bool,
        typer.Option(
            "--system",
            help="/etc/crontab format, with a user column (/etc/crontab and /etc/cron.d/*"
            " always are).",
        ),
    ] = False,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            help="The crontab's owner: jobs run as USER, in USER's home, named USER-...",
            show_default=False,
            metavar="USER",
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            help="Name the jobs PREFIX-..., so that imports appended to one config keep apart.",
            show_default=False,
            metavar="PREFIX",
        ),
    ] = None,
) -> None:
    """Turn a crontab into jobs and schedules (TOML on stdout, notes on stderr)."""
    from jobctl.crontab import USER_NAME
    from jobctl.crontab import import_crontab as convert
    from jobctl.errors import UsageError
    from jobctl.processes import known_user

    system = system or _system_crontab(source)
    if user is not None and system:
        raise UsageError(
            "--user is for one user's crontab; a system crontab (--system, /etc/crontab,"
            " /etc/cron.d) names each line's user"
        )
    if user is not None and not USER_NAME.match(user):
        raise UsageError(f"--user: {user!r} is not a user name")
    if prefix is not None and not _PREFIX.fullmatch(prefix):
        raise UsageError(
            f"--prefix: {prefix!r} is no name start: letters, digits, '_', '-', '.', ':'"
            " (at most 32, starting with a letter or digit)"
        )
    result = convert(_read_crontab(source), system=system, user=user, prefix=prefix)
    skipped_by_cron = _untrusted_system_crontab(source) if system else None
    if skipped_by_cron:
        say(f"jobctl: warning: {source}: {skipped_by_cron}")
    for warning in result.warnings:
        say(f"jobctl: {source}: {warning}")
    if user is not None and not known_user(user):
        typer.echo(
            f"jobctl: --user {user}: no such user on this host; its jobs fail to start"
            " until there is one",
            err=True,
        )
    sys.stdout.write(result.toml)
    if not result.entries:
        # No mistake (a user's empty crontab, in a loop over users), yet `crontab -l` of
        # none prints nothing, and a config of no job is what `> jobs.toml` then keeps.
        say(
            f"jobctl: note: {source}: no crontab entry in the input (only comments, blank lines"
            " or variables); nothing imported"
        )
    if not result.names and result.entries:
        # Every entry was left out: `import-crontab crontab > jobs.toml && jobctl up` must
        # not go on with an empty config.
        from jobctl.errors import OperationFailed

        raise OperationFailed(f"{source}: nothing imported: every entry was left out (see above)")


def _system_crontab(source: str) -> bool:
    """/etc/crontab and the files of /etc/cron.d have a user column, whatever the options
    say: cron tells the format by the file's place, and so does jobctl."""
    import os.path

    if source == "-":
        return False
    return any(
        path == "/etc/crontab" or os.path.dirname(path) == "/etc/cron.d"
        for path in (os.path.abspath(source), os.path.realpath(source))
    )


def _untrusted_system_crontab(source: str) -> str | None:
    """Why cron would not read `source` as a system crontab, whose lines run as the users they
    name (root's too): a file root does not own, or that group or others may write
    (cron logs WRONG FILE OWNER or BAD FILE MODE and skips it). None for stdin."""
    import os

    from jobctl.fsutil import not_private

    if source == "-":
        return None
    try:
        info = os.stat(source)
    except OSError:
        return None  # the read said so already
    problem = not_private(info, owner=0) if info.st_uid == 0 else "is not owned by root"
    if problem is None:
        return None
    return (
        f"{problem}: cron skips such a system crontab, as its lines run as the users they"
        " name (root's too); the jobs imported from it would run all the same"
    )


def _read_crontab(source: str) -> str:
    """The text of a crontab file, or of stdin for "-", decoded the same way: an undecodable
    byte stays a lone surrogate (surrogateescape), so that the converter leaves out the
    lines holding one, each reported by number, and converts the rest, as cron, which reads
    bytes, would run them."""
    import io

    from jobctl.errors import UsageError

    most = LONGEST_CRONTAB + 1  # one more, to tell a crontab of the limit from a longer one
    try:
        if source == "-":
            raw = getattr(sys.stdin, "buffer", None)
            if raw is None:  # a text stream (an embedding program's): as it decoded it
                text = sys.stdin.read(most)
            else:
                # Universal newlines, as open() gives a file; detach so stdin stays open.
                wrapper = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
                try:
                    text = wrapper.read(most)
                finally:
                    wrapper.detach()
        else:
            with open(source, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read(most)
    except OSError as exc:
        raise UsageError(f"{source}: {exc.strerror}") from None
    if len(text) > LONGEST_CRONTAB:
        shown = "<stdin>" if source == "-" else source
        raise UsageError(
            f"{shown}: over {LONGEST_CRONTAB} characters, far longer than a crontab"
            " (nothing imported)"
        )
    return text

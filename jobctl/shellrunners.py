"""Programs other than shells that run a value they are given as code, and how each reads
its words: sg, tmux and screen, GNU parallel, git, rsync, PowerShell and expect (shellscan
asks each of these, by its program's name, about a command's argv); and the readers of
command words and option bundles both modules use.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from typing import NamedTuple

from jobctl.payload import PLACEHOLDER, placeholders

_POWERSHELL = re.compile(r"(pwsh|powershell)(?:[-_]?(?:preview|[0-9][0-9.]*))?(?:\.exe)?", re.I)


def program_name(word: str) -> str:
    """The program a command word names, by the last part of its path; PowerShell by any of
    its names as "pwsh" or "powershell"."""
    name = os.path.basename(word.lstrip("`"))
    powershell = _POWERSHELL.fullmatch(name)
    return powershell.group(1).lower() if powershell else name


def starts_with_placeholder(word: str, index: int = 0) -> bool:
    match = PLACEHOLDER.match(word, index)
    return bool(match and match.group(1))


def option_bundle(arg: str, argv: Sequence[str], index: int, letters: str) -> tuple[str, str, int]:
    """A bundle of short options (-tt, -p22, -o NAME=VALUE) as ssh, scp and sftp read it:
    the letter that takes a value ("" when none does; "?" when a placeholder stands where a
    letter would, which could be any option), that value (from the next word when the
    bundle ends with the letter), and the index of the word after what was read."""
    for position in range(1, len(arg)):
        if starts_with_placeholder(arg, position):
            return "?", "", index
        if arg[position] in letters:
            value = arg[position + 1 :]
            if not value and index < len(argv):
                value, index = argv[index], index + 1
            return arg[position], value, index
    return "", "", index


# -- Other programs that run a value as code -------------------------------------------------


def option_letters(arg: str, takes: str) -> tuple[str, int]:
    """The option letters of a bundle (-abc, -fFILE) up to the first that takes a value, and
    how many words after it that value is (1 when the bundle ends with that letter)."""
    for position in range(1, len(arg)):
        if arg[position] in takes:
            return arg[1 : position + 1], int(position + 1 == len(arg))
    return arg[1:], 0


def _sg_group(argv: Sequence[str], start: int) -> int:
    """Where the group of sg [-] GROUP [[-c] COMMAND] is."""
    return start + 2 if argv[start + 1 : start + 2] == ["-"] else start + 1


def _sg_hazard(argv: Sequence[str], start: int) -> str | None:
    """sg (shadow) runs its command with sh -c, with or without -c before it, and drops the
    words after it: "sg" for a placeholder after the group."""
    return "sg" if placeholders(argv[_sg_group(argv, start) + 1 :]) else None


def sg_command(argv: Sequence[str], start: int) -> str | None:
    after = argv[_sg_group(argv, start) + 1 :]
    if after[:1] == ["-c"] and len(after) > 1:
        return after[1]
    return after[0] if after else None


class _TmuxCommand(NamedTuple):
    """A tmux command that runs a shell command, or expands a format (where #(...) runs one)."""

    alias: str
    takes: str  # its option letters that take a value
    formats: str  # those whose value is a format (-F, a start directory, a session's name)
    shell: str  # those whose value is a shell command
    # "one": a single operand is a shell command (several run directly); "all": every operand
    # is one (or tmux commands, or keys typed into a pane's shell); "format": a format
    operands: str


_TMUX_COMMANDS: dict[str, _TmuxCommand] = {
    "new-session": _TmuxCommand("new", "ceFfnstxy", "cFns", "", "one"),
    "new-window": _TmuxCommand("neww", "ceFnt", "cF", "", "one"),
    "split-window": _TmuxCommand("splitw", "ceFlt", "cF", "", "one"),
    "respawn-pane": _TmuxCommand("respawnp", "cet", "c", "", "one"),
    "respawn-window": _TmuxCommand("respawnw", "cet", "c", "", "one"),
    "display-popup": _TmuxCommand("popup", "bcdehsStTwxy", "d", "", "all"),
    "run-shell": _TmuxCommand("run", "cdt", "c", "", "all"),
    "if-shell": _TmuxCommand("if", "t", "", "", "all"),
    "pipe-pane": _TmuxCommand("pipep", "t", "", "", "all"),
    "send-keys": _TmuxCommand("send", "Nt", "", "", "all"),
    "detach-client": _TmuxCommand("detach", "Est", "", "E", ""),
    "display-message": _TmuxCommand("display", "cdFt", "F", "", "format"),
}
_TMUX_VALUE_LETTERS = "cfLST"  # of tmux itself; its -c is a shell command


def _tmux_hazard(argv: Sequence[str], start: int) -> str | None:
    """tmux [options] COMMAND [ARGS] [; COMMAND...]: "tmux" for a placeholder in tmux's own
    -c, or where a command runs it with the shell's -c or types it into a pane, and
    "tmux-format" for one in a format (_tmux_command_hazard). A word ending in ; ends a
    command, so a value at the end of a word may end one: the next word is read both ways."""
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        if starts_with_placeholder(arg):
            return "tmux"  # it may be -cCMD
        if arg[:1] != "-" or arg == "-":
            break
        index += 1
        if arg == "--":
            break
        letter, value, index = option_bundle(arg, argv, index, _TMUX_VALUE_LETTERS)
        if letter == "?" or (letter == "c" and placeholders([value])):
            return "tmux"
    words: list[str | None] = []
    for word in argv[index:]:
        if word.endswith(";") and not word.endswith("\\;"):
            words.extend([word[:-1]] if word[:-1] else [])
            words.append(None)
        else:
            words.append(word)
    words.append(None)
    begin = 0
    for end, separator in enumerate(words):
        if separator is not None:
            continue
        command = [word for word in words[begin:end] if word is not None]
        maybe = [at + 1 for at, word in enumerate(command) if _ends_with_placeholder(word)]
        for first in [0, *maybe]:
            kind = _tmux_command_hazard(command[first:])
            if kind is not None:
                return kind
        begin = end + 1
    return None


def _ends_with_placeholder(word: str) -> bool:
    matches = list(PLACEHOLDER.finditer(word))
    return bool(matches) and bool(matches[-1].group(1)) and matches[-1].end() == len(word)


def _tmux_command_hazard(words: list[str]) -> str | None:
    """One tmux command: a placeholder as its one-word shell-command (new-session,
    new-window, split-window, respawn-pane and -window; several words run directly), in any
    operand of run-shell, if-shell, pipe-pane, display-popup or send-keys, or in the value
    of detach-client -E: "tmux". One in a format, where #(...) runs a shell command (-F, a
    start directory -c, new-session's -s and -n, display-message's message): "tmux-format".
    A placeholder where the command reads its options may be one of them, or -F#(...)."""
    if not words:
        return None
    name = words[0]
    if starts_with_placeholder(name):
        return "tmux" if placeholders(words[1:]) else None  # it may be run-shell
    spec = _tmux_command(name)
    takes = spec.takes if spec else "F"  # (any other command: its -F, if it has one)
    index = 1
    maybe_option = False
    while index < len(words):
        arg = words[index]
        if arg == "--":
            index += 1
            break
        if starts_with_placeholder(arg):
            maybe_option = True
            break
        if arg[:1] != "-" or arg == "-":
            break
        index += 1
        letter, value, index = option_bundle(arg, words, index, takes)
        if letter == "?":
            return "tmux-format"  # -{x}: -F#(...)
        if placeholders([value]):
            if (spec and letter in spec.formats) or (spec is None and letter == "F"):
                return "tmux-format"
            if spec and letter in spec.shell:
                return "tmux"
    if spec is None:
        return None
    operands = words[index:]
    if maybe_option and (spec.formats or spec.shell or placeholders(operands[1:])):
        return "tmux-format" if spec.operands == "format" else "tmux"
    if spec.operands == "one" and len(operands) == 1 and placeholders(operands):
        return "tmux"
    if spec.operands == "all" and placeholders(operands):
        return "tmux"
    if spec.operands == "format" and placeholders(operands):
        return "tmux-format"
    return None


def _tmux_command(name: str) -> _TmuxCommand | None:
    """The command of _TMUX_COMMANDS that tmux takes `name` for: its name, its alias, or a
    start of its name (tmux takes any that only one command's name starts with)."""
    if not name or name.startswith("-"):
        return None
    exact = [spec for full, spec in _TMUX_COMMANDS.items() if name in (full, spec.alias)]
    started = [spec for full, spec in _TMUX_COMMANDS.items() if full.startswith(name)]
    found = exact or started
    return found[0] if found else None


_SCREEN_VALUE_LETTERS = "cehpsStT"
_SCREEN_RUNNING = {"stuff", "eval", "at"}  # typed into the window, or screen commands run


def _screen_hazard(argv: Sequence[str], start: int) -> str | None:
    """screen [options] -X COMMAND [ARGS]: "screen" for a placeholder in the ARGS of stuff
    (typed into the window, whose shell reads it), eval or at (screen commands, which may
    stuff or exec), or in COMMAND when ARGS have one. Without -X screen runs its command
    directly."""
    sending = False
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        if starts_with_placeholder(arg):
            return "screen" if placeholders(argv[index + 1 :]) else None  # it may be -X
        if arg[:1] != "-" or arg == "-":
            break
        index += 1
        if arg == "-Logfile":
            index += 1
            continue
        letters, following = option_letters(arg, _SCREEN_VALUE_LETTERS)
        sending = sending or "X" in letters
        index += following
    command = argv[index:] if sending else []
    if not command or not placeholders(command[1:]):
        return None
    return "screen" if command[0] in _SCREEN_RUNNING or placeholders(command[:1]) else None


# GNU parallel: the words of its command, joined into a line for a shell (where it also
# evaluates {= perl =}); its arguments, after ::: or ::::, are data it quotes.
_PARALLEL_ARGUMENTS = {":::", "::::", ":::+", "::::+"}
_PARALLEL_VALUE_LETTERS = "aCdEIjLNnPsS"
_PARALLEL_DATA_LETTERS = "aCdEIjLNnPs"  # not -S, a login that may be an ssh command
_PARALLEL_DATA_LONG = {
    *("arg-file", "arg-file-sep", "arg-sep", "block", "block-size", "colsep", "delay"),
    *("delimiter", "env", "eof", "halt", "halt-on-error", "jobs", "joblog", "load"),
    *("max-args", "max-chars", "max-lines", "max-procs", "max-replace-args", "memfree"),
    *("nice", "retries", "timeout", "tmpdir"),
}
_PARALLEL_LONG_VALUES = _PARALLEL_DATA_LONG | {
    *("basefile", "bf", "filter", "header", "results", "res", "return", "rpl", "ssh"),
    *("sshlogin", "sshloginfile", "slf", "tag-string", "tagstring", "wd", "workdir"),
}


def _parallel_hazard(argv: Sequence[str], start: int) -> str | None:
    """parallel [options] COMMAND... [::: ARGS]: "parallel" for a placeholder in COMMAND,
    where parallel reads an option (it may be --ssh=..., or the command), or in the value
    of an option whose value is not data (--ssh, -S, --filter, --tag-string...)."""
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        if arg in _PARALLEL_ARGUMENTS:
            return None
        if starts_with_placeholder(arg):
            return "parallel"
        if arg[:1] != "-" or arg == "-":
            break
        index += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            if not equals and name in _PARALLEL_LONG_VALUES and index < len(argv):
                value, index = argv[index], index + 1
            if placeholders([name]) or (placeholders([value]) and name not in _PARALLEL_DATA_LONG):
                return "parallel"
            continue
        letter, value, index = option_bundle(arg, argv, index, _PARALLEL_VALUE_LETTERS)
        if letter == "?" or (placeholders([value]) and letter not in _PARALLEL_DATA_LETTERS):
            return "parallel"
    for word in argv[index:]:
        if word in _PARALLEL_ARGUMENTS:
            break
        if placeholders([word]):
            return "parallel"
    return None


# git config keys whose value git runs as a command (with a shell, or as the program it
# names) or that bring in such values (include.path), lower-case, as fnmatch patterns.
_GIT_COMMAND_KEYS = (
    *("alias.*", "pager.*", "*command", "*cmd", "*editor", "*.program", "*.helper"),
    *("core.pager", "core.askpass", "core.fsmonitor", "core.hookspath", "core.gitproxy"),
    *("diff.external", "*.textconv", "merge.*.driver", "filter.*.clean", "filter.*.smudge"),
    *("filter.*.process", "include.path", "includeif.*.path", "init.templatedir"),
    *("*.uploadpack", "*.receivepack", "uploadpack.packobjectshook"),
    *("interactive.difffilter", "sendemail.smtpserver"),
)
_GIT_VALUE_OPTIONS = {"-C", "--git-dir", "--work-tree", "--namespace"}
# Subcommands that reach another repository with a command of their options
# (--upload-pack, --receive-pack, --exec), and read options after their operands.
_GIT_TRANSPORTS = {"clone", "fetch", "pull", "ls-remote", "push", "archive"}
_GIT_TRANSPORT_COMMANDS = ("--upload-pack", "--receive-pack", "--exec")
# Their options that take the next word as a value (git reads it so, whatever it starts with).
_GIT_TRANSPORT_VALUES = {
    *("-b", "--branch", "-o", "--origin", "--reference", "--reference-if-able", "--depth"),
    *("--deepen", "--shallow-since", "--shallow-exclude", "--separate-git-dir", "--template"),
    *("-j", "--jobs", "--filter", "--server-option", "--push-option", "--repo", "--remote"),
    *("--prefix", "--format", "--output", "--negotiation-tip", "--refmap", "--bundle-uri"),
    *("-c", "--config", *_GIT_TRANSPORT_COMMANDS),
}
_GIT_CONFIG_READS = {"get", "list", "unset", "remove-section", "rename-section", "edit"}


def _git_hazard(argv: Sequence[str], start: int) -> str | None:
    """git [options] SUBCOMMAND...: "git" for a placeholder in a config value that git runs
    as a command (-c NAME=VALUE, --config-env, clone -c, git config NAME VALUE) or in a
    transport's command (--upload-pack, --receive-pack, --exec); "git-option" for one where
    git reads an option, when a later word has one (the value may be -c), or where clone,
    fetch, push... read one (it may be --upload-pack=CMD)."""
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if starts_with_placeholder(arg):
            return "git-option" if placeholders(argv[index:]) else None
        if arg in ("-c", "--config-env"):
            entry, index = (argv[index], index + 1) if index < len(argv) else ("", index)
            if _git_runs(entry):
                return "git"
        elif arg.startswith("--config-env="):
            if _git_runs(arg.partition("=")[2]):
                return "git"
        elif arg in _GIT_VALUE_OPTIONS:
            index += 1
        elif arg[:1] != "-":
            if arg == "config":
                return _git_config_hazard(argv[index:])
            if arg in _GIT_TRANSPORTS:
                return _git_transport_hazard(arg, argv[index:])
            return None
    return None


def _git_runs(entry: str) -> bool:
    """Whether a NAME=VALUE of git -c (or NAME=ENVVAR of --config-env) would have git run a
    value as a command: a placeholder in its value, under a key of _GIT_COMMAND_KEYS, or in
    its name (which may hold an = and such a key)."""
    name, _, value = entry.partition("=")
    return bool(placeholders([name])) or (bool(placeholders([value])) and _git_command_key(name))


def _git_command_key(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), key) for key in _GIT_COMMAND_KEYS)


def _git_transport_hazard(subcommand: str, args: Sequence[str]) -> str | None:
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            return None
        if starts_with_placeholder(arg):
            return "git-option"  # it may be --upload-pack=CMD
        name, equals, value = arg.partition("=")
        short = subcommand in ("clone", "ls-remote") and arg[:2] == "-u"  # (push -u: a flag)
        takes = name in _GIT_TRANSPORT_VALUES or (short and arg == "-u")
        if not equals and index < len(args) and takes:
            value, index = args[index], index + 1
        if subcommand == "clone" and name in ("-c", "--config"):
            entry = value
        elif subcommand == "clone" and arg[:2] == "-c" and arg[2:3] != "-":
            entry = arg[2:]  # -cNAME=VALUE
        else:
            entry = ""
        if entry and _git_runs(entry):
            return "git"
        long = len(name) > 3 and any(option.startswith(name) for option in _GIT_TRANSPORT_COMMANDS)
        if (long or short) and placeholders([arg[2:] if short and arg[2:] else value]):
            return "git"
    return None


def _git_config_hazard(args: Sequence[str]) -> str | None:
    """git config [options] [set] NAME VALUE stores a value that later git commands run,
    when NAME is a key of _GIT_COMMAND_KEYS (or holds a placeholder)."""
    operands: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            operands.extend(args[index:])
            break
        if arg[:1] != "-" or arg == "-" or starts_with_placeholder(arg):
            operands.append(arg)
        elif arg in ("-f", "--file", "--blob", "--type", "--default", "--comment"):
            index += 1
        elif arg.startswith(("--get", "--unset", "--list", "--remove", "--rename", "--edit")):
            return None
        elif arg[1:2] != "-" and set(arg[1:]) & set("le"):
            return None  # -l, -e: list, edit
    if operands[:1] == ["set"]:
        operands = operands[1:]
    elif operands[:1] and operands[0] in _GIT_CONFIG_READS:
        return None
    if len(operands) < 2 or not placeholders(operands):
        return None
    if placeholders(operands[:1]) or _git_command_key(operands[0]):
        return "git"
    return None


_RSYNC_VALUE_LETTERS = "eBfTM@"
_RSYNC_LONG_VALUES = {
    *("address", "backup-dir", "block-size", "bwlimit", "checksum-choice", "checksum-seed"),
    *("chmod", "chown", "compare-dest", "compress-choice", "compress-level", "contimeout"),
    *("copy-dest", "debug", "exclude", "exclude-from", "files-from", "filter", "groupmap"),
    *("iconv", "include", "include-from", "info", "link-dest", "log-file", "log-file-format"),
    *("max-alloc", "max-delete", "max-size", "min-size", "modify-window", "only-write-batch"),
    *("out-format", "outbuf", "partial-dir", "password-file", "port", "protocol"),
    *("read-batch", "remote-option", "skip-compress", "sockopts", "stop-after", "stop-at"),
    *("suffix", "temp-dir", "timeout", "usermap", "write-batch"),
}


def _rsync_hazard(argv: Sequence[str], start: int) -> str | None:
    """rsync [options] SRC... DEST: "rsync" for a placeholder in -e (--rsh), the program and
    arguments rsync runs to reach a remote host, or in --rsync-path, which the remote shell
    runs; "rsync-option" for one where rsync reads an option (popt reads them after the
    operands too, up to --) when a remote host may be reached: it may be -eCMD."""
    maybe_options: list[str] = []
    operands: list[str] = []
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            operands.extend(argv[index:])
            break
        if starts_with_placeholder(arg):
            maybe_options.append(arg)
        elif arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            runs = len(name) > 1 and ("rsh".startswith(name) or "rsync-path".startswith(name))
            if not equals and (runs or name in _RSYNC_LONG_VALUES) and index < len(argv):
                value, index = argv[index], index + 1
            if placeholders([name]):
                maybe_options.append(arg)
            elif runs and placeholders([value]):
                return "rsync"
        elif arg[:1] == "-" and len(arg) > 1:
            letter, value, index = option_bundle(arg, argv, index, _RSYNC_VALUE_LETTERS)
            if letter == "?":
                maybe_options.append(arg)
            elif letter == "e" and placeholders([value]):
                return "rsync"
        else:
            operands.append(arg)
    remote = any(":" in operand or placeholders([operand]) for operand in operands)
    return "rsync-option" if maybe_options and (remote or len(maybe_options) > 1) else None


# PowerShell's parameters that take a value, by name and by the shortest start of the name
# it takes (it takes any longer start too).
_PWSH_VALUES = {
    *("configurationname", "config", "configurationfile", "custompipename", "executionpolicy"),
    *("ex", "ep", "inputformat", "inp", "if", "outputformat", "o", "of", "settingsfile"),
    *("settings", "windowstyle", "w", "workingdirectory", "wd", "encodedarguments", "ea"),
}


def pwsh_parameter(name: str) -> str:
    """What a parameter of pwsh is: "command" (-Command, -c, -CommandWithArgs, -cwa: every
    word after it is code), "encoded" (-EncodedCommand, -e, -ec), "file" (-File, -f),
    "value" (one that takes a value), or "" (a switch)."""
    if name and ("command".startswith(name) or "commandwithargs".startswith(name)):
        return "command"
    if name == "cwa":
        return "command"
    if name in ("e", "ec") or (len(name) > 1 and "encodedcommand".startswith(name)):
        return "encoded"
    if name and "file".startswith(name):
        return "file"
    if name in _PWSH_VALUES or any(
        value.startswith(name) for value in _PWSH_VALUES if len(name) > 2
    ):
        return "value"
    return ""


def _pwsh_hazard(argv: Sequence[str], start: int) -> str | None:
    """pwsh [parameters] [-File FILE ARGS | -Command WORDS]: "pwsh" for a placeholder in its
    command (every word after -Command, which it joins into the command; -EncodedCommand's
    value; from the first operand of powershell, which takes it for -Command), or where it
    reads a parameter when a later word has one: the value may be -Command."""
    command_first = program_name(argv[start]) == "powershell"
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if starts_with_placeholder(arg):
            return "pwsh" if command_first or placeholders(argv[index:]) else None
        if arg[:1] != "-" or arg == "-":
            return "pwsh" if command_first and placeholders(argv[index - 1 :]) else None
        name, _, attached = arg.lstrip("-").lower().partition(":")
        kind = pwsh_parameter(name)
        if placeholders([name]) or (kind == "command" and placeholders([attached, *argv[index:]])):
            return "pwsh"
        if kind in ("command", "file"):
            return None  # a file's arguments are data
        if kind in ("encoded", "value"):
            if kind == "encoded" and placeholders(argv[index : index + 1]):
                return "pwsh"
            index += 1
    return None


EXPECT_VALUE_LETTERS = "bcDf"


def _expect_hazard(argv: Sequence[str], start: int) -> str | None:
    """expect [-dDinN] [-c CMDS]... [[-f|-b] FILE] [ARGS]: "expect" for a placeholder in a -c
    script (Tcl, whose exec runs programs), or where expect reads an option (a value may be
    -cCMDS, its value in the same word)."""
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if starts_with_placeholder(arg):
            return "expect"
        if arg == "--" or arg[:1] != "-" or arg == "-":
            return None  # the script file; its arguments are data ($argv)
        letter, value, index = option_bundle(arg, argv, index, EXPECT_VALUE_LETTERS)
        if letter == "?" or (letter == "c" and placeholders([value])):
            return "expect"
        if letter in ("b", "f"):
            return None
    return None


OTHER_RUNNERS = {
    "sg": _sg_hazard,
    "tmux": _tmux_hazard,
    "screen": _screen_hazard,
    "parallel": _parallel_hazard,
    "git": _git_hazard,
    "rsync": _rsync_hazard,
    "pwsh": _pwsh_hazard,
    "powershell": _pwsh_hazard,
    "expect": _expect_hazard,
}

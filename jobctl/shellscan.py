"""Where a placeholder's value would be parsed as shell code, in spite of its quoting.

A `{key}` in an argv element reaches the command as (part of) one argument, and with
`shell = true` its value is shell-quoted. Both hold only while nothing parses the value as
shell code again: `sh -c '{x}'` (also behind env, nice or sudo, and as the command of flock,
su, runuser or script -c), `eval {x}`, `echo {x} | sh`, a here-document's body, or quotes
written around a placeholder in a shell script. `jobs.toml` is refused when a command does
any of these; `validate` says which. Read for commands that have placeholders only: the
config of every `jobctl enqueue` loads this module only then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from jobctl.payload import PLACEHOLDER, placeholders

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash", "fish"}
_INSIDE_A_SCRIPT = "a {placeholder} inside a shell script would run payload values as shell code; "
_AFTER_SCRIPT = "pass the value as an argument after the script: sh -c '... \"$1\"' sh {x}"
_AFTER_EVAL = (
    "a {placeholder} after eval would run payload values as shell code; pass the value as an"
    " argument or read $JOBCTL_PAYLOAD"
)
_FED_TO_A_SHELL = (
    "a {placeholder} fed to a shell's standard input would run as shell code; pass the value"
    " as an argument or read $JOBCTL_PAYLOAD"
)
_SHELL_PATH_OPTIONS = {"-s", "--shell"}  # useradd -s /bin/bash: a path, not a command
_RUNNERS = {"flock", "su", "runuser", "script"}  # their -c / --command goes to a shell
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "{", "}"}
_KEYWORDS |= {"exec", "command", "builtin"}


def shell_hazard(command: Sequence[str], shell: bool) -> str | None:
    """Why filling `command` would let a payload value run as shell code; None if it would
    not. With `shell`, a one-element command is a script, a longer one the line its
    elements make, each quoted."""
    if shell and len(command) == 1:
        return _script_hazard(command[0])
    if _shell_script_index(command) is not None:
        return _INSIDE_A_SCRIPT + (
            _AFTER_SCRIPT + ", or write the command as a string with shell = true (values are"
            " then quoted)"
        )
    if not shell:
        return None
    import shlex  # (here, as below: a command without a shell needs none of it)

    return _parsed_again(shlex.join(command))


def _script_hazard(script: str) -> str | None:
    inside = quoted_placeholders(script)
    if inside:
        return (
            f"{{{inside[0]}}} is inside quotes; with shell = true write placeholders bare:"
            " their values are quoted for you"
        )
    inside = heredoc_placeholders(script)
    if inside:
        return (
            f"{{{inside[0]}}} is inside a here-document, where the shell would expand its value"
            " as code; pass it as an argument or read $JOBCTL_PAYLOAD"
        )
    return _parsed_again(script)


def _parsed_again(script: str) -> str | None:
    """In a script, `eval {x}`, `sh -c {x}`, `echo {x} | sh` or `sh <<< {x}` would parse the
    quoted value as shell code once more."""
    import shlex

    separators = "();<>|&`\n"
    lexer = shlex.shlex(script, posix=True, punctuation_chars=separators)
    lexer.whitespace = " \t\r"  # a newline ends a command, like ;
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None  # unbalanced quotes: the shell itself will refuse the script
    words: list[str] = []
    piped: list[str] = []  # the words of the pipeline so far, before this command
    tokens.append(";")
    for position, token in enumerate(tokens):
        if not token or not all(char in separators for char in token):
            words.append(token)
            continue
        if token == "<<<":  # a here-string: the next word is this command's stdin
            fed = tokens[position + 1 : position + 2]
            if _shell_reading_stdin(_command_words(words)) and placeholders(fed):
                return _FED_TO_A_SHELL
            continue
        command = _command_words(words)
        if command and command[0] == "eval" and placeholders(command[1:]):
            return _AFTER_EVAL
        if _shell_script_index(command) is not None:
            return _INSIDE_A_SCRIPT + _AFTER_SCRIPT
        if _shell_reading_stdin(command) and placeholders(piped):
            return _FED_TO_A_SHELL
        piped = [*piped, *words] if token in ("|", "|&") else []
        words = []
    return None


def _shell_script_index(argv: Sequence[str]) -> int | None:
    """Where in `argv` a shell is handed a script that holds a placeholder, if anywhere."""
    for start, word in enumerate(argv):
        name = os.path.basename(word.lstrip("`"))
        if name in _RUNNERS:
            for index in range(start + 1, len(argv) - 1):
                if argv[index] in ("-c", "--command") and placeholders([argv[index + 1]]):
                    return index + 1
            continue
        if name not in _SHELLS or (start > 0 and argv[start - 1] in _SHELL_PATH_OPTIONS):
            continue
        found_c = False
        index = start + 1
        while index < len(argv):
            arg = argv[index]
            if arg == "--":
                index += 1
                break
            if arg in ("-o", "+o", "-O", "+O"):
                index += 2  # an option that takes a name
                continue
            if arg[:1] in ("-", "+") and len(arg) > 1:
                found_c = found_c or (arg[:2] != "--" and "c" in arg[1:])
                index += 1
                continue
            break
        if found_c and index < len(argv) and placeholders([argv[index]]):
            return index  # the first word after the options is the script
    return None


def _command_words(words: list[str]) -> list[str]:
    """A simple command without the keywords and VAR=value words before its command word."""
    first = 0
    while first < len(words) and (
        words[first] in _KEYWORDS or ("=" in words[first] and not words[first].startswith("="))
    ):
        first += 1
    return words[first:]


def _shell_reading_stdin(command: list[str]) -> bool:
    """A shell given no script (no -c, no file): it reads its commands from stdin."""
    if not command or os.path.basename(command[0]) not in _SHELLS:
        return False
    return all(arg[:1] in ("-", "+") and "c" not in arg[1:] for arg in command[1:])


def _quote_step(text: str, index: int, quote: str) -> tuple[int, str] | None:
    """Step over a backslash escape or a quote character of a shell script at `index`: the
    next index and the quote open after it ("" for none); None for any other character."""
    char = text[index]
    if quote != "'" and char == "\\":
        return index + 2, quote
    if quote and char == quote:
        return index + 1, ""
    if not quote and char in "'\"":
        return index + 1, char
    return None


def quoted_placeholders(script: str) -> list[str]:
    """Placeholders that sit inside quotes of a shell script. Their values are quoted on
    their own, and a quote around them would undo that, so these are refused."""
    found: list[str] = []
    quote = ""
    index = 0
    while index < len(script):
        step = _quote_step(script, index, quote)
        if step is not None:
            index, quote = step
            continue
        if script[index] in "{}":
            match = PLACEHOLDER.match(script, index)
            if match:
                if quote and match.group(1):
                    found.append(match.group(1))
                index = match.end()  # past "{{" and "}}" too: they are literal braces
                continue
        index += 1
    return found


_HEREDOC = r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([^\s<>|&;()'\"]+))"


def heredoc_placeholders(script: str) -> list[str]:
    """Placeholders in the body of a here-document. The shell does no quote removal there,
    so a quoted value would be expanded, `$(...)` and all: these are refused too. A `<<`
    inside quotes is text, not a here-document."""
    found: list[str] = []
    delimiters: list[tuple[str, bool]] = []  # (word, strip leading tabs) still to be closed
    quote = ""  # the quote open at the end of the previous line, if any
    for line in script.split("\n"):
        if delimiters:
            word, strip_tabs = delimiters[0]
            if (line.lstrip("\t") if strip_tabs else line) == word:
                delimiters.pop(0)
            else:
                found.extend(sorted(placeholders([line])))
            continue
        index = 0
        while index < len(line):
            step = _quote_step(line, index, quote)
            if step is not None:
                index, quote = step
                continue
            if not quote and line.startswith("<<", index):
                match = re.compile(_HEREDOC).match(line, index)  # (re caches it)
                before = line[:index]
                if line.startswith("<<<", index):
                    index += 3  # a here-string: one quoted word, safe
                    continue
                if match and before.count("((") <= before.count("))"):  # not a shift
                    word = next(g for g in match.groups()[1:] if g is not None)
                    delimiters.append((word, match.group(1) == "-"))
                    index = match.end()
                    continue
            index += 1
    return found

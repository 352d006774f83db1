"""Where a placeholder's value would be parsed as shell code, in spite of its quoting.

A `{key}` in an argv element reaches the command as (part of) one argument, and with
`shell = true` its value is shell-quoted. Both hold only while nothing parses the value as
shell code again: `sh -c '{x}'` (any shell: bash5.2, /bin/rbash, busybox sh, mksh, fish -C,
`${SHELL:-sh}`; also behind env, env -S, nice or sudo, after options such as bash --rcfile
FILE, and as the command of flock, su, runuser, sg or script -c), a value after the -c
script that the script runs as its `$0`, `$1`... (`sh -c '$0' {x}`, `eval "$1"`, `$(( $1 ))`),
`eval {x}`, `trap {x} EXIT`, `. {x}`,
`echo {x} | sh` (also into a group: `| (cd / && sh)`, a `"$(sh)"`, `| sh <(cat)` or
`| xargs sh -c`, a `$(cat)` made code: `| eval "$(cat)"`, `| sh -c "$(cat)"`, and a -c
script that runs its stdin: `| sh -c 'eval "$(cat)"'`; into a command that starts a shell
or runs a script read there: `| su USER`, `| sg GROUP`, `| sudo -s`, `| at now`, `| batch`,
`| crontab -`, `| ssh HOST`, `| pwsh`, `| expect`; not `| sh < file`, whose stdin is
the file, but `| sh < /dev/stdin`),
`exec <<< {x}` before a shell that reads stdin, `sh <(echo {x})`, a here-document's
body, `...` backquotes, a comment, a `$` right before it (line continuations are taken out
first, as the shell does), quotes written around a placeholder in a shell script, or
arithmetic: in `$(( {x} ))`, `(( ))`, `let`, an array index, `[[ {x} -eq 1 ]]` or a
variable name of read or declare (or where printf or wait reads an option: a value
-va[...]), dash and bash expand `$(...)` and `a[...]` of the value's text, quoted or not.
So do commands that join their words into a line for a shell: watch without -x, ssh
(its remote command; -o ProxyCommand, LocalCommand, KnownHostsCommand; and a value where it
reads an option, -oProxyCommand=...), GNU parallel (its command) and tmux (a one-word
shell-command of new-session, new-window, split-window, respawn-pane; run-shell, if-shell,
pipe-pane, display-popup; #(...) in a format: -F, -c, new-session -s; send-keys, as screen
-X stuff, types into a shell); and those that run a value as a program or as code of
their own: git (a -c value it runs: core.pager, core.sshCommand, *.command, alias.x=!...;
--upload-pack), rsync -e (--rsh, --rsync-path), PowerShell (-Command) and expect -c.
`jobs.toml` is refused when a command does any of these; `validate` says which. Read for
commands that have placeholders only: the config of every `jobctl enqueue` loads this
module only then.

What the shell does with a variable later (`n={x}; echo $((n))`, `read -r l; eval "$l"`)
is not followed, nor other interpreters (python -c, perl -e) or tmux and screen commands
not named here (set-option, bind-key, source-file).
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from jobctl.payload import PLACEHOLDER, placeholders
from jobctl.shellrunners import (
    EXPECT_VALUE_LETTERS,
    OTHER_RUNNERS,
    option_bundle,
    option_letters,
    program_name,
    pwsh_parameter,
    sg_command,
    starts_with_placeholder,
)
from jobctl.shelltext import (
    ansi_c_differs,
    backquoted_placeholders,
    closing_bracket,
    dollar_placeholders,
    escaped_placeholders,
    positionals_as_placeholders,
    quote_step,
    quoted_placeholders,
    read_script,
)

# A shell, by the last part of its path; also restricted (rbash) and versioned (bash5.2,
# zsh-5.9, ksh93) names.
_SHELL = re.compile(
    r"r?(?:sh|ash|bash|dash|hush|posh|yash|zsh|ksh|mksh|lksh|pdksh|oksh|loksh|csh|tcsh|fish"
    r"|osh|ysh|bosh|mrsh|elvish|xonsh|nu)"
    r"(?:[-_]?[0-9][0-9.]*)?"
)
# A shell named in a script by a variable ($SHELL, ${BASH}), or by a parameter expansion whose
# default or alternative is one (${SHELL:-sh}, ${X:=/bin/bash}, ${SHELL+sh}).
_SHELL_VARIABLES = {"SHELL", "BASH"}
_PARAMETER_EXPANSION = re.compile(r"\$(?:(\w+)|\{\0?(\w+)(?:(:?[-=?+])(.*?))?\}?)", re.DOTALL)
# PowerShell, by the last part of its path: pwsh runs its first operand as a file, powershell
# (Windows PowerShell) as a command.
_INSIDE_A_SCRIPT = "a {placeholder} inside a shell script would run payload values as shell code; "
_AFTER_SCRIPT = "pass the value as an argument after the script: sh -c '... \"$1\"' sh {x}"
_OR_A_STRING = ", or write the command as a string with shell = true (values are then quoted)"
_AFTER_EVAL = (
    "a {placeholder} after eval would run payload values as shell code; pass the value as an"
    " argument or read $JOBCTL_PAYLOAD"
)
_FED_TO_A_SHELL = (
    "a {placeholder} fed to a shell's standard input (or to xargs sh -c, or to a command that"
    " runs what it reads there: su USER, sg GROUP, at, batch, crontab -, ssh HOST) would run"
    " as shell code; pass the value as an argument or read $JOBCTL_PAYLOAD"
)
_FED_BY_EXEC = (
    "a {placeholder} that exec makes the script's standard input would run as shell code in"
    " a shell that reads it there; pass the value as an argument or read $JOBCTL_PAYLOAD"
)
_FED_AS_A_FILE = (
    "a {placeholder} in the script a shell reads from <(...) would run as shell code; pass"
    " the value as an argument or read $JOBCTL_PAYLOAD"
)
_SHELL_OPTIONS = (
    "a {placeholder} where a shell reads its options would let a value such as -c turn a"
    " later value into a shell script; put -- before it: bash -- {script} {x}"
)
_IN_ENV_SPLIT = (
    "a {placeholder} inside an env -S string would be split into words again, and run as"
    " shell code if they start a shell; pass the value as an argument after the string"
)
_RUN_FROM_STDIN = (
    "a {placeholder} on the standard input of a $(...) or `...` whose output is run as shell"
    ' code or as the command (sh -c "$(cat)", eval $(cat), . "$(cat)", $(cat)) would run as'
    " shell code; pass the value as an argument or read $JOBCTL_PAYLOAD"
)
_IN_ARITHMETIC = (
    "a {placeholder} in arithmetic ($(( )), (( )), $[ ], let, [[ -eq ]], an array index or"
    " ${var:offset}) would run payload values as shell code: the shell expands $(...) and"
    " a[...] of the value; compare it with test or expr, or read $JOBCTL_PAYLOAD"
)
_SHELL_PATH_OPTIONS = {"-s", "--shell"}  # useradd -s /bin/bash: a path, not a command
_RUNNERS = {"flock", "su", "runuser", "script", "sg"}  # their -c / --command goes to a shell
_JOINERS = {"watch", "ssh", "scp", "sftp"}  # as a command: their words may reach a shell
_JOINERS |= {"tmux", "screen", "parallel", "git", "rsync", "pwsh", "powershell", "expect"}
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "{", "}"}
_KEYWORDS |= {"exec", "command", "builtin"}
_STDIN_FILES = {"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"}


def _after(name: str, what: str = "would run payload values as shell code") -> str:
    return (
        f"a {{placeholder}} after {name} {what}; pass the value as an argument or read"
        " $JOBCTL_PAYLOAD"
    )


def shell_hazard(command: Sequence[str], shell: bool) -> str | None:
    """Why filling `command` would let a payload value run as shell code; None if it would
    not. With `shell`, a one-element command is a script, a longer one the line its
    elements make, each quoted."""
    if shell and len(command) == 1:
        return _script_hazard(command[0])
    kind = _argv_hazard(command)
    if kind == "script":
        return _INSIDE_A_SCRIPT + _AFTER_SCRIPT + _OR_A_STRING
    if kind is not None:
        return _ARGV_MESSAGES[kind]
    if not shell:
        return None
    import shlex  # (here, as below: a command without a shell needs none of it)

    return _parsed_again(shlex.join(command))


def _script_hazard(script: str) -> str | None:
    read = read_script(script)
    if read.commented:
        return (
            f"{{{read.commented[0]}}} is in a comment, which a newline in its value would end:"
            " the rest would run as shell code; take it out of the comment"
        )
    if ansi_c_differs(read.text):
        return (
            "a $'...' with \\' in it is read differently by bash and sh, so a {placeholder}"
            " after it would be quoted in one of them only; write \\x27 for the quote"
        )
    inside = escaped_placeholders(read.text)
    if inside:
        return (
            f"{{{inside[0]}}} right after a backslash, which would escape the quote its value"
            " is given in, so that the value would run as shell code; remove the backslash"
            " (\\\\ before it is a backslash the shell keeps)"
        )
    inside = quoted_placeholders(read.text)
    if inside:
        return (
            f"{{{inside[0]}}} is inside quotes; with shell = true write placeholders bare:"
            " their values are quoted for you"
        )
    if read.in_heredocs:
        return (
            f"{{{read.in_heredocs[0]}}} is inside a here-document, where the shell would expand"
            " its value as code; pass it as an argument or read $JOBCTL_PAYLOAD"
        )
    inside = dollar_placeholders(read.text)
    if inside:
        return (
            f"{{{inside[0]}}} right after a $ (a backslash-newline between them is removed) would"
            " be read by bash as $'...', where its quoting does not hold; remove the $"
        )
    if arithmetic_placeholders(read.text):
        return _IN_ARITHMETIC
    script = PLACEHOLDER.sub(_unescape, read.text)  # {{ eval {x}; }}: a { group
    reason = _parsed_again(_substitutions_unquoted(script), read.substituting)
    if reason is not None:
        return reason
    inside = backquoted_placeholders(read.text)
    if inside:
        return (
            f"{{{inside[0]}}} is inside `...`, which the shell ends at a backquote in its value"
            " whatever its quoting; write $(...) instead"
        )
    return None


def _unescape(match: re.Match[str]) -> str:
    """ "{{" and "}}" as the braces the shell reads; a placeholder as it is. A "{{" before a
    name keeps a NUL after its brace: `${{HOME}}` is the shell's ${HOME}, which must not read
    as the placeholder {HOME} in a script nested in this one (sh -c 'echo ${{HOME}}')."""
    if match.group(1):
        return match.group(0)
    brace = match.group(0)[0]
    if brace == "{" and _NAME_START.match(match.string, match.end()):
        return "{\0"
    return brace


_NAME_START = re.compile(r"[A-Za-z_]")


_QUOTING = re.compile(r"[\\'\"`$()]")  # what _substitutions_unquoted reads; not the rest


def _substitutions_unquoted(script: str) -> str:
    """The script with each $( ) and ` ` inside double quotes moved out of them ("a$(sh)b"
    as "a"$(sh)"b"), for its commands to be read as those of an unquoted one are: they run
    on the stdin of the command they are in, quoted or not."""
    if '"' not in script or ("$(" not in script and "`" not in script):
        return script
    out: list[str] = []
    stack: list[str | int] = []  # '"' for double quotes, n for a $( ) in them, n ( deep
    index = 0
    while index < len(script):
        found = _QUOTING.search(script, index)
        if found is None:
            out.append(script[index:])
            break
        out.append(script[index : found.start()])
        index = found.start()
        char = script[index]
        inside = stack[-1] if stack else None
        if char == "\\":
            out.append(script[index : index + 2])
            index += 2
            continue
        if inside == '"':
            if char == "`":
                end = index + 1
                while end < len(script) and script[end] != "`":
                    end += 2 if script[end] == "\\" else 1
                out.append('"' + script[index : end + 1])
                index = _reopened(script, end + 1, stack, out)
                continue
            if script.startswith("$(", index):
                out.append('"$(')
                stack.append(0)
                index += 2
                continue
            if char == '"':
                stack.pop()
        elif char == "'":
            end = script.find("'", index + 1)
            end = len(script) if end < 0 else end
            out.append(script[index : end + 1])
            index = end + 1
            continue
        elif char == '"':
            stack.append(char)
        elif isinstance(inside, int) and char in "()":
            if char == ")" and inside == 0:
                stack.pop()
                out.append(char)
                index = _reopened(script, index + 1, stack, out)
                continue
            stack[-1] = inside + (1 if char == "(" else -1)
        out.append(char)
        index += 1
    return "".join(out)


def _reopened(script: str, index: int, stack: list[str | int], out: list[str]) -> int:
    """After a substitution moved out of double quotes: open them again, unless they end
    right there. Where to read on."""
    if script.startswith('"', index):
        stack.pop()
        return index + 1
    out.append('"')
    return index


# -- Commands of a script ------------------------------------------------------------------

_OPERATORS = sorted(
    {"&&", "||", ";;", "|&", "<<<", "<<", ">>", "&>>", "&>", "<&", ">&", "<>", ">|", "<(", ">("}
    | set("();<>|&`\n"),
    key=len,
    reverse=True,
)


def _operators(token: str) -> list[str]:
    """A run of punctuation shlex kept together (`);`, `)|`, `$((`'s `((`), as operators."""
    found: list[str] = []
    index = 0
    while index < len(token):
        operator = next((op for op in _OPERATORS if token.startswith(op, index)), token[index])
        found.append(operator)
        index += len(operator)
    return found


def _parsed_again(script: str, substituting: bool = True) -> str | None:
    """In a script, `eval {x}`, `sh -c {x}`, `echo {x} | sh`, `sh <<< {x}`, `let n={x}` and
    the like would parse the quoted value as shell code once more. `substituting`: a
    here-document of the script may run a $( ) or ` ` (which reads the stdin it replaces)."""
    tokens = _script_tokens(script)
    if tokens is None:
        return None  # unbalanced quotes: the shell itself will refuse the script
    return _commands_hazard(tokens, set(_OPERATORS), substituting)


def _script_tokens(script: str) -> list[str] | None:
    """The words (quotes removed) and operators of a script; None if its quotes do not
    balance."""
    import shlex

    separators = "();<>|&`\n"
    lexer = shlex.shlex(script, posix=True, punctuation_chars=separators)
    lexer.whitespace = " \t\r"  # a newline ends a command, like ;
    lexer.whitespace_split = True
    lexer.commenters = ""  # (read_script took comments out; shlex would end `a#b` at its #)
    try:
        tokens: list[str] = []
        for token in lexer:
            if token and all(char in separators for char in token):
                tokens.extend(_operators(token))
            else:
                tokens.append(token)
    except ValueError:
        return None
    return tokens


def _command_word_placeholders(script: str) -> set[str]:
    """The placeholders in the command words of a script's simple commands (after keywords,
    assignments and wrappers such as exec or nice): the value would name the program."""
    found: set[str] = set()
    words: list[str] = []
    target = False  # the next word is where a redirection goes
    operators = set(_OPERATORS)
    for token in [*(_script_tokens(script) or []), ";"]:
        if token in _REDIRECTIONS or token == "<<<":
            target = True
        elif token not in operators:
            if not target:
                words.append(token)
            target = False
        else:
            command = _command_words(words)
            start = _command_index(command)
            if start < len(command):
                found |= placeholders([command[start]])
            words, target = [], False
    return found


class _Command:
    """The simple command being read: its words, the pipeline before it, its redirections,
    and whether a here-string, a compound command in it, a $( ) or <( ) in its words or a
    >(...) of it gets a shell a value on stdin."""

    __slots__ = (
        *("drains", "expands", "fds", "feeds", "heard", "here", "here_at", "passes", "piped"),
        *("reading_file", "reads", "tapped", "targets", "words"),
    )

    def __init__(self, piped: list[str] | None = None, tapped: bool = False) -> None:
        self.words: list[str] = []
        self.piped: list[str] = piped or []
        self.tapped = tapped  # the pipe into it may carry the stdin of the group around it
        self.here = False  # a here-string with a placeholder is its stdin
        self.heard: list[str] = []  # that here-string's word: what it may write to a pipe
        self.here_at = -1  # which of its words is a here-string's $( ) or ` `, if one is
        self.targets: set[int] = set()  # which are a <( ), >( ) or ` ` it redirects to
        self.reads = False  # a ( ) or { }, if, while... in it runs a shell that reads stdin
        self.expands = False  # a $( ), ` ` or <( ) in it runs a shell that reads the stage's
        self.feeds = False  # a >(...) of it runs a shell that reads what it writes there
        self.passes = False  # a ( ), { }, while... in it has a command that reads its stdin
        self.drains = False  # and a $( ) or ` ` in it, one that reads the stage's stdin
        self.reading_file = False  # one of its words is such a <( ): _READING_FILE
        # Its redirections so far, in order: fd -> the fd of the shell around it that it is a
        # copy of (0 for `<&0` or `< /dev/stdin`), or None for a file, a here-document...
        self.fds: dict[str, str | None] = {}

    def source(self, fd: str) -> str | None:
        """The fd of the shell around it that `fd` is, after its redirections so far."""
        return self.fds.get(fd, fd)


class _Frame(NamedTuple):
    """A $( ), ` `, <( ), >( ), ( ) or compound command ({ }, if, while, for, case) open
    around the words being read."""

    outside: _Command  # the command it is part of
    closer: str  # the operator or reserved word that ends it
    opened: int  # where it opened, in the tokens
    kind: str  # $( ` <( >( ( or the reserved word that opened it
    # [a shell in it reads its stdin, or what a command in it read there; a command in it
    # reads its stdin at all (cat, tee...): what it writes may be what it read]
    reads: list[bool]


_COMPOUNDS = {"{": "}", "if": "fi", "while": "done", "until": "done", "for": "done"}
_COMPOUNDS |= {"select": "done", "case": "esac"}
_RESERVED = {"then", "else", "elif", "do", "!", "time", "}"}  # before a command word


def _commands_hazard(tokens: list[str], operators: set[str], substituting: bool) -> str | None:
    """The commands of a tokenized script, each checked as it ends. A shell that reads code
    from stdin is refused where that stdin may carry a value: a pipe from a command with a
    placeholder, a here-string, and so also anywhere inside a ( ), { }, if, while, for or
    case group, a $( ) or <( ) that receives it (the group's stdin is each command's). A
    command whose stdin is redirected (`< file`, `<&3`, a here-document) reads no pipe, nor
    does a group whose own stdin is; `< /dev/stdin` and `<&0` keep it. Whether a group's
    stdin carries a value is known at its end, after its redirections: what its commands
    read there is kept in its frame until then. `exec <<< {x}` (no command, only
    redirections) makes a value the stdin of the shell: refused if a shell reads its stdin
    anywhere in the script."""
    now = _Command()
    around: list[_Frame] = []
    stdin_fds = _stdin_fds(tokens, operators, substituting)
    seen = {"exec": False, "reader": False}  # exec gets a value on an fd; a shell reads fd 0

    def end_command(token: str) -> str | None:
        nonlocal now
        words = [w for at, w in enumerate(now.words) if at != now.here_at and at not in now.targets]
        command = _command_words(words)
        reason = _command_hazard(command)
        reads = now.reads or _reads_code_from_stdin(command)
        # sh <(cat): what the shell runs is read from its stdin, before its redirections;
        # eval "$(cat)": so is the code, as the text of a $( ) read there
        evaluated = now.drains and _runs_stdin_text(command)
        expands = now.expands or (now.reading_file and _runs_a_reading_file(command))
        expands = expands or evaluated
        # its stdin (or a copy of it, 3<&0) is still the stage's: the pipe, or the group's
        takes = any(fd in stdin_fds for fd in [now.source("0"), *now.fds.values()])
        piped = bool(placeholders(now.piped))
        if reason is None and reads and ((takes and piped) or now.here):
            reason = _FED_TO_A_SHELL  # printf {x} | (sh); { sh; } <<< {x}
        if reason is None and evaluated and piped:
            reason = _RUN_FROM_STDIN  # printf {x} | sh -c "$(cat)"
        if reason is None and expands and piped:
            reason = _FED_TO_A_SHELL  # printf {x} | echo $(sh): before its redirections
        if (
            reason is None
            and now.feeds
            and (placeholders(now.words) or (takes and piped) or now.here)
        ):
            reason = _FED_TO_A_SHELL  # printf {x} > >(sh)
        into = [w for at, w in enumerate(now.words) if at in now.targets or now.reads]
        if reason is None and reads and placeholders([w for w in into if w[:2] == "<("]):
            reason = _FED_AS_A_FILE  # { sh; } < <(printf {x}); sh < <(printf {x})
        stage = not now.piped or now.tapped  # its stdin is the group's, or a copy of it
        if around and stage and (((reads or now.feeds) and takes) or expands):
            around[-1].reads[0] = True  # a value on the group's stdin would reach a shell
        if (
            around
            and stage
            and not around[-1].reads[1]
            and (now.drains or (takes and (now.passes or _reads_stdin(command))))
        ):
            around[-1].reads[1] = True  # <(cat): it writes what the stdin brings
        # exec <<< {x}; exec 3<<< {x} (its 3 is a word here); exec < <(printf {x})
        if "exec" in words and all(word.isdigit() for word in command):
            into = [w for at, w in enumerate(now.words) if at in now.targets]
            seen["exec"] = seen["exec"] or now.here or bool(placeholders(into))
        if stage and (((reads or now.feeds) and now.source("0") is not None) or expands):
            seen["reader"] = True  # a shell that would read what exec gave the script
        tapped = stage and (takes or expands)  # cat | sh in a group: sh reads its stdin
        after = [*now.piped, *now.words, *now.heard]  # cat <<< {x} | sh: the value goes on
        now = _Command(after, tapped) if token in ("|", "|&") else _Command()
        return reason

    def close(position: int, token: str) -> str | None:
        nonlocal now
        reason = end_command(token)
        if reason is not None:
            return reason
        frame = around.pop()
        now = frame.outside
        inner = "".join(
            f"{{{name}}}" for name in sorted(placeholders(tokens[frame.opened : position]))
        )
        drained = _STDIN_TEXT if frame.reads[1] else ""  # what it writes may be what it read
        if frame.kind == "$(":
            now.words[-1] += f"({drained}{inner})"  # its output: (part of) a word of this command
        elif frame.kind in ("`", "<(", ">(") or inner:
            shown = "(" if frame.kind in _COMPOUNDS else frame.kind
            if frame.kind == "`":
                shown += drained
            if frame.kind == "<(" and frame.reads[1]:
                shown = _READING_FILE  # sh <(cat): a file of what its stdin brings
                now.reading_file = True
            now.words.append(f"{shown}{inner})")  # ( echo {x} ) | sh: what it writes
        if frame.reads[1] and frame.kind in ("$(", "`"):
            now.drains = True
        elif frame.reads[1] and frame.kind not in ("<(", ">("):
            now.passes = True
        if frame.reads[0] and frame.kind == ">(":
            now.feeds = True
        elif frame.reads[0] and frame.kind in ("$(", "`", "<("):
            now.expands = True  # run before the command's redirections, on the stage's stdin
        elif frame.reads[0]:
            now.reads = True  # after them: a group's own `< file` is its commands' stdin
        return None

    tokens = [*tokens, ";"]
    target = False  # the next word is where a redirection goes
    for position, token in enumerate(tokens):
        if token not in operators:
            if target:
                target = False
            elif all(word in _RESERVED for word in now.words) and token in _COMPOUNDS:
                around.append(_Frame(now, _COMPOUNDS[token], position, token, [False, False]))
                now = _Command()
            elif all(word in _RESERVED for word in now.words) and _closes(around, token):
                reason = close(position, ";")
                if reason is not None:
                    return reason
            else:
                now.words.append(token)
            continue
        target = False
        if token == "<<<":  # a here-string: the next word is this command's stdin, no argument
            following = tokens[position + 1]
            heard = _word_tokens(tokens, position + 1)
            if placeholders(heard):
                now.here = True
                now.heard += heard
            _redirect(now, tokens, position, substituting)
            if now.words and now.words[-1].isdigit():
                now.words.pop()  # sh 0<<< {x}: the fd, no operand of sh
            if following == "`" or following.endswith("$"):  # its $( ) is read, then left out
                now.here_at = len(now.words)
            else:
                target = True
            continue
        closing = _closes(around, token)
        substitution = token == "(" and bool(now.words) and now.words[-1].endswith("$")
        if (token in ("<(", ">(", "`") and not closing) or substitution:
            kind = token if token != "(" else "$("
            closer = "`" if token == "`" else ")"
            around.append(_Frame(now, closer, position, kind, [False, False]))
            now = _Command()
            continue
        if closing:
            reason = close(position, token)
            if reason is not None:
                return reason
            continue
        if _open_test(now.words):
            now.words.append(token)  # [[ ( a -eq b ) && c ]]: one command
            continue
        if token in _REDIRECTIONS:  # 2>/dev/null: no word of the command, and no end of it
            _redirect(now, tokens, position, substituting)
            if now.words and now.words[-1].isdigit():
                now.words.pop()
            if tokens[position + 1] in ("<(", ">(", "`"):
                now.targets.add(len(now.words))  # the word its frame will leave
            target = True
            continue
        piped, tapped = now.piped, now.tapped
        reason = end_command(token)
        if reason is not None:
            return reason
        if token == "(":  # a subshell: a stage of the pipeline, as a command is
            now.piped, now.tapped = piped, tapped
            around.append(_Frame(now, ")", position, "(", [False, False]))
            now = _Command()
    if seen["exec"] and seen["reader"]:
        return _FED_BY_EXEC  # exec <<< {x}; sh
    return None


# -- Redirections: which fd a command's stdin is a copy of ----------------------------------

_INPUT = {"<", "<&", "<>", "<<", "<<<"}  # fd 0 unless another is written before them
_WRITE_ONLY = {">", ">>", ">|"}  # a file opened for writing: nothing to read there
_BOTH = {"&>", "&>>"}  # stdout and stderr
_FD = re.compile(r"[0-9]+")


def _redirection(
    tokens: list[str], position: int, substituting: bool
) -> list[tuple[str, str | None]]:
    """What the redirection at tokens[position] does: [(fd, where it now reads)], with "0"
    for the stdin of the shell around the command, "N" for its fd N, None for a file, a
    closed fd or a here-document without $( ). Where that cannot be told, "0"."""
    operator = tokens[position]
    before = tokens[position - 1] if position else ""
    word = tokens[position + 1] if position + 1 < len(tokens) else ""
    after = tokens[position + 2] if position + 2 < len(tokens) else ""
    after_one = position > 1 and tokens[position - 2] in _REDIRECTIONS | {"<<<"}
    given = before if _FD.fullmatch(before) and not after_one else None  # not 2>&1 <x's 1
    if operator in _BOTH or (operator == ">&" and given is None and not _FD.fullmatch(word)):
        return [("1", None), ("2", None)]  # &>file, >&file
    fd = str(int(given)) if given is not None else "0" if operator in _INPUT else "1"
    substituted = word == "`" or (word.endswith("$") and after == "(") or "$(" in word
    substituted = substituted or "`" in word
    if operator in ("<&", ">&"):
        if word == "-":
            return [(fd, None)]  # closed
        return [(fd, str(int(word)) if _FD.fullmatch(word) else "0")]  # <&$fd: any fd
    if operator == "<<":
        return [(fd, "0" if substituting else None)]  # its body's $(cat) reads stdin
    if operator == "<<<":
        return [(fd, "0" if substituted else None)]  # <<< "$(cat)": stdin, as a string
    if operator in _WRITE_ONLY:
        return [(fd, None)]
    if word in ("<(", ">(") or substituted:
        return [(fd, "0")]  # < <(cat): what it reads; < $(cmd): a name it prints
    return [(fd, _file_source(word))]


def _redirect(now: _Command, tokens: list[str], position: int, substituting: bool) -> None:
    for fd, source in _redirection(tokens, position, substituting):
        now.fds[fd] = None if source is None else now.source(source)


# Paths that may open the stdin of the shell (or its fd N): a glob matching any is one of them.
_STDIN_PATHS = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "stdin", "fd/0", "0"]


def _file_source(word: str) -> str | None:
    """Which fd of the shell a file to read names: "0" for /dev/stdin, /dev/fd/0 or
    /proc/self/fd/0 (the pipe, where one is its stdin), "N" for /dev/fd/N; None for a file.
    A variable is taken for a file, unless the word names stdin or an fd around it."""
    if "$" in word:
        return "0" if re.search(r"stdin|fd", word) else None  # < "$f"; < /proc/$$/fd/0
    if any(char in word for char in "*?["):
        return "0" if any(fnmatch.fnmatchcase(path, word) for path in _STDIN_PATHS) else None
    path = posixpath.normpath(word)
    name = posixpath.basename(path)
    if name == "stdin":
        return "0"
    if _FD.fullmatch(name) and (
        posixpath.basename(posixpath.dirname(path)) == "fd" or path == name
    ):
        return str(int(name))  # /dev/fd/3, /proc/self/fd/0; 0 in /dev/fd
    return None


def _stdin_fds(tokens: list[str], operators: set[str], substituting: bool) -> set[str]:
    """The fds that may be a copy of a stdin somewhere in the script (exec 3<&0, then sh
    <&3): 0, and any a redirection copies one of them to, in any order."""
    found = {"0"}
    redirections = [
        fd_source
        for position, token in enumerate(tokens)
        if token in operators and (token in _REDIRECTIONS or token == "<<<")
        for fd_source in _redirection(tokens, position, substituting)
    ]
    grown = True
    while grown:
        grown = False
        for fd, source in redirections:
            if source in found and fd not in found:
                found.add(fd)
                grown = True
    return found


def _closes(around: list[_Frame], token: str) -> bool:
    return bool(around) and around[-1].closer == token


def _word_tokens(tokens: list[str], index: int) -> list[str]:
    """The tokens of the word at tokens[index], with a $( ) or ` ` in it."""
    end = index + 1
    if tokens[index] == "`":
        end = tokens.index("`", end) + 1 if "`" in tokens[end:] else len(tokens)
    elif tokens[index].endswith("$") and tokens[end : end + 1] == ["("]:
        depth = 0
        for end in range(index + 1, len(tokens)):
            depth += tokens[end] in ("(", "<(", ">(")
            depth -= tokens[end] == ")"
            if depth == 0:
                break
        end += 1
    return tokens[index:end]


_REDIRECTIONS = {"<", ">", ">>", "<&", ">&", "<>", ">|", "&>", "&>>", "<<"}


def _open_test(words: list[str]) -> bool:
    command = _command_words(words)
    return bool(command) and command[0] == "[[" and "]]" not in command


def _command_words(words: list[str]) -> list[str]:
    """A simple command without the keywords and VAR=value words before its command word
    (a NAME=, not any word with a `=`: `$1x=1` is a command, the value's first word)."""
    first = 0
    while first < len(words) and (words[first] in _KEYWORDS or _ASSIGNMENT.match(words[first])):
        first += 1
    return words[first:]


def _command_hazard(command: list[str]) -> str | None:
    if not command:
        return None
    kind = _argv_hazard(command)
    if kind == "script":
        return _INSIDE_A_SCRIPT + _AFTER_SCRIPT
    if kind is not None:
        return _ARGV_MESSAGES[kind]
    return _builtin_hazard(command)


# -- Builtins that read a value as code, arithmetic or a variable name ---------------------

_ARITHMETIC_TESTS = {"-eq", "-ne", "-lt", "-le", "-gt", "-ge"}
_DECLARES = {"declare", "typeset", "local", "export", "readonly"}
# A builtin: its options that take a value, those of them whose value is a variable name
# (or, for mapfile -C, code), and whether its operands are variable names.
_NAMING: dict[str, tuple[str, str, bool]] = {
    "read": ("adinNptu", "a", True),
    "mapfile": ("CcdnOsu", "C", True),
    "readarray": ("CcdnOsu", "C", True),
    "printf": ("v", "v", False),
    "wait": ("p", "p", False),
    "unset": ("", "", True),
}


def _builtin_hazard(command: list[str]) -> str | None:
    name, args = command[0], command[1:]
    if not placeholders(args):
        return None
    if name == "eval":
        return _AFTER_EVAL
    if name in ("trap", "alias"):
        return _after(name)
    if name == "let":
        return _IN_ARITHMETIC
    if name in (".", "source"):
        operands = args[1:] if args[:1] == ["--"] else args
        if placeholders(operands[:1]):
            return _after(name, "would run the file a payload value names as shell code")
        return None
    if name in ("[[", "test", "["):
        for index, word in enumerate(args):
            before = args[index - 1] if index else ""
            after = args[index + 1] if index + 1 < len(args) else ""
            if not placeholders([word]):
                continue
            if before in ("-v", "-R"):
                return _as_a_name(f"{name} {before}")
            if name == "[[" and (before in _ARITHMETIC_TESTS or after in _ARITHMETIC_TESTS):
                return _IN_ARITHMETIC
        return None
    for value, kind in _variable_names(name, args):
        if placeholders([value]):
            if kind == "option":
                return _as_an_option(name)
            return _after(f"{name} -C") if kind == "code" else _as_a_name(name)
    return None


def _as_a_name(name: str) -> str:
    return (
        f"a {{placeholder}} as a variable name of {name} would run payload values as shell"
        " code (bash expands $(...) in an index a[...] of a name); pass it as a value, or read"
        " $JOBCTL_PAYLOAD"
    )


def _as_an_option(name: str) -> str:
    letter = _NAMING[name][1]
    return (
        f"a {{placeholder}} where {name} reads its options could be -{letter}NAME, a variable"
        " name, in which bash expands $(...) in an index a[...]: payload values would run as"
        f" shell code; put -- before it: {name} -- {{x}}"
    )


def _variable_names(name: str, args: list[str]) -> list[tuple[str, str]]:
    """The words of a builtin that bash reads as variable names ("name"), or as code
    instead (mapfile -C: "code"). For declare -i or -n, the values too: arithmetic, a name.
    And a placeholder where printf or wait reads an option ("option"): the value may be one
    that takes a name, printf -va[$(id)] FORMAT."""
    if name in _DECLARES:
        options = 0
        while options < len(args) and args[options][:1] in ("-", "+"):
            options += 1
        whole = any(letter in "in" for option in args[:options] for letter in option[1:])
        return [(arg if whole else arg.partition("=")[0], "name") for arg in args[options:]]
    if name == "getopts":
        return [(arg, "name") for arg in args[1:2]]
    if name not in _NAMING:
        return []
    takes, named, operands_named = _NAMING[name]
    found: list[tuple[str, str]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        # (an operand of read is a name anyway; printf -vNAME needs a FORMAT after it)
        option = not operands_named and (name != "printf" or index + 1 < len(args))
        if option and starts_with_placeholder(arg):
            found.append((arg, "option"))
        if arg[:1] != "-" or len(arg) == 1:
            break
        index += 1
        for position, letter in enumerate(arg[1:], 2):
            if option and starts_with_placeholder(arg, position - 1):
                found.append((arg, "option"))  # -{x}: v, or va[$(id)]
                break
            if letter in takes:
                value = arg[position:]
                if not value and index < len(args):
                    value, index = args[index], index + 1
                if letter in named:
                    found.append((value, "code" if letter == "C" else "name"))
                break
    if operands_named:
        found.extend((arg, "name") for arg in args[index:])
    return found


# -- Arithmetic ----------------------------------------------------------------------------

_MARK = re.compile("\0([^\0]*)\0")
_NOT_BEFORE_ARITHMETIC = ("$", "<", ">")  # $(( is expansion; <((, >(( a process substitution
_INDEXED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[")
_PARAMETER = re.compile(r"[#!]?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])")


def _mark(match: re.Match[str]) -> str:
    name = match.group(1)
    return match.group(0)[0] if name is None else f"\0{name}\0"


def arithmetic_placeholders(script: str) -> list[str]:
    """Placeholders in an arithmetic context of a shell script: `$(( ))`, `$[ ]`, `(( ))`
    (also of `for`), an array index of `${a[i]}` or `a[i]=`, and `${var:offset:length}`.
    The shell expands `$(...)` and `a[...]` in a value's text there, quoted or not."""
    text = PLACEHOLDER.sub(_mark, script)  # {x} as \0x\0: the braces left are the shell's
    assigning = _assignment_words(text)
    found: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        step = quote_step(text, index, quote)
        if step is not None:
            index, quote = step
            continue
        if quote == "'":
            index += 1
            continue
        spans: list[tuple[int, int]] = []
        after = index + 1
        if text.startswith("$((", index):
            spans.append((index + 3, closing_bracket(text, index + 3, "(", ")")))
        elif text.startswith("$[", index):
            spans.append((index + 2, closing_bracket(text, index + 2, "[", "]")))
        elif (
            not quote
            and text.startswith("((", index)
            and text[index - 1 : index] not in _NOT_BEFORE_ARITHMETIC
        ):
            end = closing_bracket(text, index + 2, "(", ")")
            if end + 1 >= len(text) or text[end + 1] == ")":  # else ((cd x) 2>&1): subshells
                spans.append((index + 2, end))
        elif text.startswith("${", index):
            after = index + 2
            parameter = _PARAMETER.match(text, after)
            after = parameter.end() if parameter else after
            if text.startswith("[", after):
                end = closing_bracket(text, after + 1, "[", "]")
                spans.append((after + 1, end))
                after = end + 1
            if text.startswith(":", after) and text[after + 1 : after + 2] not in "-=?+":
                end = closing_bracket(text, after + 1, "{", "}")
                spans.append((after + 1, end))
                after = end
        elif not quote and index in assigning:
            name = _INDEXED_NAME.match(text, index)  # a[i]=value: i is arithmetic
            if name:
                end = closing_bracket(text, name.end(), "[", "]")
                if text.startswith(("]=", "]+="), end):
                    spans.append((name.end(), end))
        for start, end in spans:
            found.extend(_MARK.findall(text, start, end))
            after = max(after, end)
        index = max(after, index + 1)
    return found


# Builtins whose operands may be NAME[index]=value (or NAME[index]): the index is arithmetic.
_DECLARE_LIKE = _DECLARES | {"unset", "read", "let", "local", "readarray", "mapfile"}
_SEPARATORS = ";&|()\n`"


def _assignment_words(text: str) -> set[int]:
    """Where the words of a (marked) script begin that the shell could read as an assignment
    NAME[index]=value: at the start of a simple command (after keywords and other
    assignments), or as operands of declare, local, unset, read, let and the like (or of a
    command word that holds a placeholder, which may be one of them). Not in `echo a[i]=b`."""
    found: set[int] = set()
    starting, declaring, target = True, False, False
    quote = ""
    start = -1  # where the current word began, or -1 between words
    index = 0
    while index <= len(text):
        char = text[index] if index < len(text) else "\n"
        if start < 0 and not quote and char not in " \t" + _SEPARATORS:
            start = index
            if starting or declaring:
                found.add(index)
            name = _INDEXED_NAME.match(text, index)
            if name:  # a[i + 1]=x: one word, spaces and all
                index = closing_bracket(text, name.end(), "[", "]") + 1
                continue
        step = quote_step(text, index, quote) if index < len(text) else None
        if step is not None:
            index, quote = step
            continue
        if quote or char not in " \t" + _SEPARATORS:
            index += 1
            continue
        if start >= 0:
            word = text[start:index]
            redirection = _REDIRECTION_WORD.match(word)
            if redirection:  # >out or > out: no word of the command
                target = not redirection.group(1)
            elif target:
                target = False
            elif starting and not (word in _KEYWORDS or _ASSIGNMENT.match(word)):
                starting = False
                declaring = word in _DECLARE_LIKE or "\0" in word
            start = -1
        if char in _SEPARATORS:
            starting, declaring, target = True, False, False
        index += 1
    return found


_REDIRECTION_WORD = re.compile(r"[0-9]*(?:>>|<<<|<<-?|<>|>\||[<>]&?)(.*)", re.DOTALL)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[.*\])?\+?=", re.DOTALL)


# -- Shells in an argv ---------------------------------------------------------------------

_ARGV_MESSAGES = {
    "options": _SHELL_OPTIONS,
    "split": _IN_ENV_SPLIT,
    "file": _FED_AS_A_FILE,
    "watch": (
        "without -x (--exec), watch joins the words of its command and runs them with sh -c,"
        " so a {placeholder} in them (or where watch reads its options, where the command may"
        " start) would run payload values as shell code; give -x first: watch -x ls -d {path}"
    ),
    "remote": (
        "a {placeholder} in the command ssh runs on the remote host (its words after the"
        " destination, or RemoteCommand) would run payload values as shell code there: ssh"
        " joins the words into one line for the remote shell; pass the value on its standard"
        " input (with shell = true: printf '%s\\n' {x} | ssh HOST 'read -r x; ls -- \"$x\"')"
    ),
    "ssh-command": (
        "a {placeholder} in ssh's ProxyCommand, LocalCommand or KnownHostsCommand would run"
        " payload values as shell code (ssh runs them with the user's shell); keep values out"
        " of them: a jump host can be given as -J {jump}"
    ),
    "ssh-option": (
        "a {placeholder} where ssh reads its options (after the destination too) or as the"
        " name of a -o option could be -oProxyCommand=..., which ssh runs with a shell; name"
        " the options yourself, and put -- before the destination: ssh -p {port} -- {host} uptime"
    ),
    "positional": (
        "a {placeholder} after a shell's -c script is its $0, $1...: where the script runs"
        " that parameter as a command, evaluates it (eval, sh -c, a pipe into a shell) or"
        " reads it in arithmetic, payload values would run as shell code; use it as an"
        ' argument only ("$1"), and compare numbers with test: [ "$1" -gt 0 ]'
    ),
    "sg": (
        "sg runs its command with sh -c and passes it no arguments, so a {placeholder} after"
        " its group would run payload values as shell code; read the value from"
        " $JOBCTL_PAYLOAD in the command (sg passes the environment on)"
    ),
    "tmux": (
        "tmux runs a one-word shell-command (new-session, new-window, split-window,"
        " respawn-pane), the command of run-shell, if-shell, pipe-pane and display-popup, and"
        " its own -c with the shell, and send-keys types into a pane's shell: a {placeholder}"
        " there (or where the command reads its options) would run payload values as shell"
        " code; give the command as several words, which tmux runs directly:"
        " tmux new-session -d ls -- {x}"
    ),
    "tmux-format": (
        "tmux expands a format (-F, a start directory -c, new-session's -s and -n,"
        " display-message's message) and runs the command in its #(...) with the shell, so a"
        " {placeholder} there would run payload values as shell code; keep values out of them"
        " (cd in the command instead: tmux new-window sh -c 'cd -- \"$1\" && exec make' sh {dir})"
    ),
    "screen": (
        "a {placeholder} in what screen -X sends (stuff types it into the window's shell, eval"
        " and at run it as screen commands) would run payload values as shell code; keep values"
        " out of it"
    ),
    "parallel": (
        "GNU parallel joins the words of its command into a line for a shell (and runs"
        " {= perl =} in it), so a {placeholder} in them, where parallel reads an option, or in"
        " --ssh, -S or another option that is not data would run payload values as code; give"
        " the value after ::: (parallel quotes it): parallel gzip -- ::: {file}"
    ),
    "git": (
        "a {placeholder} in a git config value that git runs as a command (given with -c,"
        " --config-env, clone -c or git config: core.pager, core.editor, core.sshCommand,"
        " *.command, *.cmd, an alias, a credential helper, include.path...) or in"
        " --upload-pack, --receive-pack or --exec would run payload values as shell code; keep"
        " values out of them"
    ),
    "git-option": (
        "a {placeholder} where git reads an option could be -c NAME=CMD (with a later value)"
        " or, for clone, fetch, pull, push, ls-remote and archive, --upload-pack=CMD, which git"
        " runs with a shell; put -- before the operands (git clone -- {url} dest), and give an"
        " option's value in its word: --depth={n}"
    ),
    "rsync": (
        "a {placeholder} in rsync's -e (--rsh) or --rsync-path names the program rsync runs to"
        " reach the remote host, as ssh's ProxyCommand does: payload values would run as"
        " commands; keep values out of them"
    ),
    "rsync-option": (
        "a {placeholder} where rsync reads an option (after the files too) could be -eCMD, a"
        " command rsync runs to reach a remote host; put -- before the files:"
        " rsync -a -- {src} host:dest/"
    ),
    "pwsh": (
        "a {placeholder} in PowerShell's command (-Command, and every word after it, which it"
        " joins into the command; -EncodedCommand; powershell's first operand) or where it"
        " reads a parameter would run payload values as PowerShell code; run a script with"
        " -File and pass the value after it: pwsh -File job.ps1 {x}"
    ),
    "expect": (
        "a {placeholder} in an expect -c script, or where expect reads its options (a value may"
        " be -cCMDS), would run payload values as Tcl code, whose exec runs programs; pass the"
        " value after a script file, as $argv: expect -- job.exp {x}"
    ),
}


def _is_shell(word: str) -> bool:
    word = word.lstrip("`")
    expansion = _PARAMETER_EXPANSION.fullmatch(word) if word[:1] == "$" else None
    if expansion is None:
        return _SHELL.fullmatch(os.path.basename(word)) is not None
    name, braced, operator, default = expansion.groups()
    if (name or braced) in _SHELL_VARIABLES and "+" not in (operator or ""):
        return True
    words = default.split() if operator else []  # ${SHELL:-sh -e} (or cut there: ${SHELL:-sh)
    return bool(words) and _is_shell(words[0])


def _argv_hazard(argv: Sequence[str]) -> str | None:
    """How a shell in `argv` would run a placeholder's value as code, if one would: "script"
    (it is in the shell's script), "positional" (the script runs the $N that holds it),
    "options" (it may be the shell's -c), "split" (env -S splits it into words) or "file"
    (it is in what a shell reads from <(...)); or a command that joins its words for a
    shell: "watch", or ssh's "remote", "ssh-command" and "ssh-option" (_ssh_hazard); or one
    of OTHER_RUNNERS (sg, tmux, git...), each its own kind."""
    words, split = _split_env_strings(argv)
    if split:
        return "split"
    starts = _command_starts(words)
    command = starts[-1]
    for start, word in enumerate(words):
        name = program_name(word)
        if name in _RUNNERS or (name in _JOINERS and start in starts):
            runs = _runner_hazard(words, start, name)
            if runs is not None:
                return runs
            continue
        if not _is_shell(word) or (start > 0 and words[start - 1] in _SHELL_PATH_OPTIONS):
            continue
        for reading in _readings(words, start):
            if reading.code:
                return "script"
            if _positional_hazard(words, start, reading):
                return "positional"
            first = words[reading.operands] if reading.operands < len(words) else ""
            if not reading.command and first.startswith("<(") and placeholders([first]):
                return "file"
            if start == command and _value_as_options(words, start, reading):
                return "options"
    return None


def _value_as_options(argv: Sequence[str], start: int, reading: _Reading) -> bool:
    """A placeholder among a shell's options (or as its first operand, with no -- before
    it), and one after it: the first value could be -c, the second its script."""
    last = reading.operands - 1 if reading.ended else reading.operands
    for index in range(start + 1, min(last + 1, len(argv))):
        word = argv[index]
        match = PLACEHOLDER.match(word)
        as_option = word[:1] in ("-", "+") and placeholders([word])
        if ((match and match.group(1)) or as_option) and placeholders(argv[index + 1 :]):
            return True
    return False


_ALL_POSITIONALS = "positional.all"  # the placeholder written for "$@" and "$*"


def _positional_hazard(argv: Sequence[str], start: int, reading: _Reading) -> bool:
    """A placeholder after a shell's -c script is one of its positional parameters ($0 is
    the first): sh -c '$0' {x} runs the value as a command, bash -c 'echo $(( $1 ))' sh {x}
    evaluates it, as eval "$1", sh -c "$1" or a pipe of "$1" into a shell would. The script
    is read with each $N that holds a value written as that placeholder."""
    script = reading.operands
    if not reading.command or script >= len(argv) or "fish" in os.path.basename(argv[start]):
        return False
    held = {
        str(number): min(placeholders([word]))
        for number, word in enumerate(argv[script + 1 :])
        if placeholders([word])
    }
    if not held:
        return False
    if any(number != "0" for number in held):
        held["@"] = _ALL_POSITIONALS  # $1 and those after it
    text = positionals_as_placeholders(PLACEHOLDER.sub(_unescape, argv[script]), held)
    read = read_script(text)
    if not placeholders([read.text]):
        return False
    if arithmetic_placeholders(read.text):
        return True
    if _parsed_again(_substitutions_unquoted(read.text), read.substituting) is not None:
        return True
    commands = _command_word_placeholders(read.text)
    return bool(commands - {_ALL_POSITIONALS}) or (_ALL_POSITIONALS in commands and "1" in held)


class _Reading(NamedTuple):
    """One way a shell may read its command line."""

    command: bool  # -c (fish: -c or -C): it runs a command given on the command line
    stdin: bool  # -s: it reads its commands from stdin, its operands are arguments
    operands: int  # where its operands begin
    ended: bool  # -- (or -) ended its options
    code: bool  # a placeholder is in the command it runs


# Options that take the next word as their value: of every shell (-o, +o), of some
# (--rcfile, --init-file of bash, --emulate of zsh), and of some but a flag in others: -O
# (bash; zsh), -R (ksh93), -T (mksh; bash). The last, and long options not named here, are
# read both ways.
_VALUE_LETTERS = "o"
_MAYBE_VALUE_LETTERS = "ORT"
_LONG_VALUES = {"--rcfile", "--init-file", "--emulate"}
_LONG_FLAGS = {
    "--debug",
    "--debugger",
    "--dump-po-strings",
    "--dump-strings",
    "--help",
    "--login",
    "--noediting",
    "--noprofile",
    "--norc",
    "--posix",
    "--pretty-print",
    "--restricted",
    "--verbose",
    "--version",
    "--wordexp",
}


def _readings(argv: Sequence[str], start: int) -> set[_Reading]:
    """The ways the shell at argv[start] may read its options."""
    if "fish" in os.path.basename(argv[start]):
        return {_fish_reading(argv, start)}
    readings: set[_Reading] = set()
    seen: set[tuple[int, bool, bool]] = set()
    todo = [(start + 1, False, False)]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        index, given, stdin = state
        arg = argv[index] if index < len(argv) else ""
        if arg in ("-", "--"):
            readings.add(_sh_reading(argv, given, stdin, index + 1, True))
        elif arg.startswith("--"):
            name = arg.partition("=")[0]
            if "=" in arg or name in _LONG_FLAGS:
                todo.append((index + 1, given, stdin))
            elif name in _LONG_VALUES:
                todo.append((index + 2, given, stdin))
            else:
                todo.extend([(index + 1, given, stdin), (index + 2, given, stdin)])
        elif arg[:1] in ("-", "+") and len(arg) > 1:
            letters = arg[1:]
            given = given or "c" in letters
            stdin = stdin or (arg[0] == "-" and "s" in letters)
            values = 1 + sum(letter in _VALUE_LETTERS for letter in letters)
            maybe = sum(letter in _MAYBE_VALUE_LETTERS for letter in letters)
            todo.extend((index + values + extra, given, stdin) for extra in range(maybe + 1))
        else:
            readings.add(_sh_reading(argv, given, stdin, min(index, len(argv)), False))
    return readings


def _sh_reading(argv: Sequence[str], given: bool, stdin: bool, index: int, ended: bool) -> _Reading:
    code = given and index < len(argv) and bool(placeholders([argv[index]]))
    return _Reading(given, stdin, index, ended, code)


_FISH_VALUE_LETTERS = "cCpdof"
_FISH_LONG_VALUES = {
    "command",
    "init-command",
    "profile",
    "profile-startup",
    "debug",
    "debug-output",
    "features",
}


def _fish_reading(argv: Sequence[str], start: int) -> _Reading:
    """fish: -c CMD, -C CMD, -cCMD, --command=CMD, --init-command CMD (or a prefix of the
    name) are code; its options end at its first operand."""
    given = code = False
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return _Reading(given, False, index + 1, True, code)
        if arg[:1] != "-" or len(arg) == 1:
            break
        index += 1
        value, is_command = "", False
        if arg.startswith("--"):
            name, equals, attached = arg[2:].partition("=")
            names = [long for long in _FISH_LONG_VALUES if long.startswith(name)] if name else []
            is_command = bool({"command", "init-command"} & set(names))
            if equals:
                value = attached
            elif names and index < len(argv):
                value, index = argv[index], index + 1
        else:
            for position, letter in enumerate(arg[1:], 2):
                if letter in _FISH_VALUE_LETTERS:
                    is_command = letter in "cC"
                    value = arg[position:]
                    if not value and index < len(argv):
                        value, index = argv[index], index + 1
                    break
        if is_command:
            given = True
            code = code or bool(placeholders([value]))
    return _Reading(given, False, index, False, code)


def _runner_hazard(argv: Sequence[str], start: int, runner: str) -> str | None:
    """flock FILE -c CMD, su -c CMD (-lc, --command=CMD, -C, --session-command), script -c
    CMD: "script" for a placeholder in CMD; and for the shell su USER runs, what a shell
    would make of its arguments (su USER -- -c CMD). sg GROUP -c CMD; and as the command,
    watch, ssh, scp, sftp and the programs of OTHER_RUNNERS."""
    if runner == "watch":
        return _watch_hazard(argv, start)
    if runner == "ssh":
        return _ssh_hazard(argv, start)
    if runner in ("scp", "sftp"):
        return _copy_hazard(argv, start)
    if runner == "flock":
        return "script" if _flock_hazard(argv, start) else None
    if runner in ("su", "runuser"):
        return _su_hazard(argv, start, runner)
    if runner in OTHER_RUNNERS:
        return OTHER_RUNNERS[runner](argv, start)
    return "script" if placeholders(_script_commands(argv, start)) else None


def _script_commands(argv: Sequence[str], start: int) -> list[str]:
    """The values of the -c (--command) options of script (util-linux), anywhere in its
    words: commands it runs with $SHELL -c."""
    commands: list[str] = []
    for index in range(start + 1, len(argv)):
        arg = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg in ("-c", "--command"):
            value = following
        elif arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            if not name or not "command".startswith(name):
                continue
            value = value if equals else following
        elif arg[:1] == "-":
            position = next((at for at, c in enumerate(arg[1:], 2) if c == "c"), None)
            if position is None:
                continue
            value = arg[position:] or following
        else:
            continue
        commands.append(value)
    return commands


# watch (procps) reads its options up to its first operand, the command; without -x it runs
# the command's words, joined with spaces, with sh -c.
_WATCH_VALUE_LETTERS = "nq"
_WATCH_LONG: dict[str, bool] = {  # whether it takes a value (--differences: only with =)
    "beep": False,
    "chgexit": False,
    "color": False,
    "differences": False,
    "equexit": True,
    "errexit": False,
    "exec": False,
    "help": False,
    "interval": True,
    "no-color": False,
    "no-rerun": False,
    "no-title": False,
    "no-wrap": False,
    "precise": False,
    "version": False,
}


def _watch_hazard(argv: Sequence[str], start: int) -> str | None:
    """Whether watch would run a value with sh -c ("watch"): a placeholder in its command
    without -x (--exec), or where it reads an option before -x, where the value may be the
    command, or an option that takes the -x as its value."""
    execs = False
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if starts_with_placeholder(arg) and not execs:
            return "watch"  # {x} may be the command
        if arg[:1] != "-" or arg == "-" or starts_with_placeholder(arg):
            break
        index += 1
        if arg.startswith("--"):
            name, equals, _ = arg[2:].partition("=")
            names = [long for long in _WATCH_LONG if long.startswith(name)] if name else []
            names = [name] if name in names else names
            if placeholders([name]) and not execs:
                return "watch"
            execs = execs or names == ["exec"]
            if not equals and any(_WATCH_LONG[long] for long in names):
                index += 1  # its value
            continue
        for position in range(1, len(arg)):
            if starts_with_placeholder(arg, position):
                if not execs:
                    return "watch"  # -{x}: x, or n to take the -x as its value
                break
            letter = arg[position]
            execs = execs or letter == "x"
            if letter in _WATCH_VALUE_LETTERS and position + 1 == len(arg):
                index += 1  # its value is the next word
            if letter in _WATCH_VALUE_LETTERS or letter == "d":
                break  # the rest of the word is its value (-d takes one only so)
    if execs:
        return None  # the command runs directly; _argv_hazard scans its words as well
    return "watch" if placeholders(argv[index:]) else None


# ssh (OpenSSH) reads options, its destination (the first operand), options again, then the
# command, whose words it joins into one line for the remote shell; -- ends its options.
_SSH_VALUE_LETTERS = "BbcDEeFIiJLlmOoPpQRSWw"
_SSH_OPTION_END = re.compile(r"[\s=\"]")  # of its name: -o "Name value", -o Name=value
_SSH_LOCAL_COMMANDS = {"proxycommand", "localcommand", "knownhostscommand"}


def _ssh_hazard(argv: Sequence[str], start: int) -> str | None:
    """ssh [options] DESTINATION [options] [--] [COMMAND...]: "remote" for a placeholder in
    COMMAND (or -o RemoteCommand), "ssh-command" for one in -o ProxyCommand, LocalCommand or
    KnownHostsCommand, which run in the local user's shell, and "ssh-option" for one where
    ssh reads an option, or names a -o option: the value may be -oProxyCommand=CMD."""
    destination = False
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            if not destination:
                index += 1  # the destination; no options after it (and no host -oName=...)
            break
        if starts_with_placeholder(arg):
            return "ssh-option"
        if arg[:1] != "-" or arg == "-":
            if destination:
                index -= 1  # the command's first word
                break
            destination = True
            continue
        letter, value, index = option_bundle(arg, argv, index, _SSH_VALUE_LETTERS)
        if letter == "?":
            return "ssh-option"
        if letter == "o":
            kind = _ssh_option_hazard(value)
            if kind is not None:
                return kind
    return "remote" if placeholders(argv[index:]) else None


# scp and sftp (OpenSSH) read their options up to their first operand (a file, or the host
# of sftp); their -o goes to the ssh they run, and -S names the program run in its place.
_COPY_VALUE_LETTERS = "BbcDFiJlmoPRSX"


def _copy_hazard(argv: Sequence[str], start: int) -> str | None:
    """scp/sftp [options] [--] OPERANDS: "ssh-command" for a placeholder in -o ProxyCommand
    (and the like) or as the -S program, "ssh-option" for one where they read an option:
    the value may be -oProxyCommand=CMD, which ssh runs with a shell."""
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            return None  # the operands: files and hosts, given to ssh as data
        if starts_with_placeholder(arg):
            return "ssh-option"  # read as an option if its value starts with -
        if arg[:1] != "-" or arg == "-":
            return None
        letter, value, index = option_bundle(arg, argv, index, _COPY_VALUE_LETTERS)
        if letter == "?":
            return "ssh-option"
        if letter == "S" and placeholders([value]):
            return "ssh-command"
        if letter == "o":
            kind = _ssh_option_hazard(value)
            if kind is not None:
                return "ssh-option" if kind == "remote" else kind
    return None


def _ssh_option_hazard(option: str) -> str | None:
    """What a placeholder in the value of ssh -o (NAME=VALUE or NAME VALUE) would be."""
    name = _SSH_OPTION_END.split(option.lstrip(' \t"'), maxsplit=1)[0]
    if placeholders([name]):
        return "ssh-option"
    if not placeholders([option]):
        return None
    if name.lower() in _SSH_LOCAL_COMMANDS:
        return "ssh-command"
    return "remote" if name.lower() == "remotecommand" else None


# flock (util-linux) reads its options up to its first operand, the lock file; only a -c or
# --command right after the file runs a shell (before it, -c is no option of flock's).
_FLOCK_VALUE_LETTERS = "wE"
_FLOCK_LONG_VALUES = ("timeout", "wait", "conflict-exit-code")


def _flock_hazard(argv: Sequence[str], start: int) -> bool:
    """flock [options] FILE -c CMD with a placeholder in CMD. A placeholder among flock's
    options may be an option, one that takes the next word, or the file: each is followed."""
    seen: set[int] = set()
    todo = [start + 1]
    while todo:
        index = todo.pop()
        if index in seen or index >= len(argv):
            continue
        seen.add(index)
        arg = argv[index]
        if arg == "--":
            if _flock_runs_a_placeholder(argv, index + 1):
                return True
            continue
        if starts_with_placeholder(arg):  # an option (with a value or not), or the file
            todo.extend([index + 1, index + 2])
        elif arg.startswith("--"):
            name, equals, _ = arg[2:].partition("=")
            if not equals and placeholders([arg]):
                todo.extend([index + 1, index + 2])
            elif not equals and name and any(o.startswith(name) for o in _FLOCK_LONG_VALUES):
                todo.append(index + 2)
            else:
                todo.append(index + 1)
            continue
        elif arg[:1] == "-" and len(arg) > 1:
            after = [index + 1]
            for position in range(1, len(arg)):
                if starts_with_placeholder(arg, position):
                    after = [index + 1, index + 2]
                    break
                if arg[position] in _FLOCK_VALUE_LETTERS:
                    after = [index + 1 + (position + 1 == len(arg))]
                    break
            todo.extend(after)
            continue
        if _flock_runs_a_placeholder(argv, index):
            return True
    return False


def _flock_runs_a_placeholder(argv: Sequence[str], file: int) -> bool:
    """With argv[file] flock's lock file: is it followed by -c (--command) and a placeholder?"""
    if file + 2 >= len(argv) or argv[file + 1] not in ("-c", "--command"):
        return False
    return bool(placeholders([argv[file + 2]]))


# su and runuser (util-linux) read options anywhere before --, after operands too. Those
# that take a value; -c and -C take a command. With runuser -u USER, the operands are a
# command run directly (and -c, -C, -s, -l or -f is an error). Otherwise the first operand
# (after an optional -) is the user, and the rest are arguments of the user's shell.
_SU_VALUE_LETTERS = "cCgGsuw"
_SU_LONG: dict[str, bool] = {  # whether it takes a value
    "command": True,
    "session-command": True,
    "group": True,
    "supp-group": True,
    "shell": True,
    "whitelist-environment": True,
    "user": True,
    "fast": False,
    "login": False,
    "preserve-environment": False,
    "pty": False,
    "help": False,
    "version": False,
}


class _Su(NamedTuple):
    """How su or runuser reads its command line."""

    commands: list[str]  # the values of -c, -C and the like
    before_operands: int  # how many of them came before the first operand
    operands: list[str]  # the user, then the arguments of the user's shell
    maybe_option: bool  # a placeholder where su reads an option: a value could be -cCMD
    user_form: bool  # runuser -u USER: its operands are a command, run directly

    def shell(self) -> list[str]:
        """The shell su starts, with its arguments: sh -c CMD ARGS, or sh ARGS."""
        operands = self.operands[1:] if self.operands[:1] == ["-"] else self.operands
        return ["sh", *(["-c", self.commands[-1]] if self.commands else []), *operands[1:]]


def _su_hazard(argv: Sequence[str], start: int, runner: str) -> str | None:
    su = _read_su(argv, start, runner)
    if su.user_form:  # (a -c after the command's first word is no runuser option then: an error)
        if any(placeholders([command]) for command in su.commands[: su.before_operands]):
            return "script"
        return None  # the command runs directly; _argv_hazard scans its words as well
    if any(placeholders([command]) for command in su.commands):
        return "script"
    if su.maybe_option:
        return "script"
    shell = su.shell()
    for reading in _readings(shell, 0):
        if reading.code:
            return "script"
        if _positional_hazard(shell, 0, reading):
            return "positional"
        if _value_as_options(shell, 0, reading):
            return "options"
    return None


def _read_su(argv: Sequence[str], start: int, runner: str) -> _Su:
    commands: list[str] = []
    before_operands = 0
    operands: list[str] = []
    maybe_option = False
    user_form = False
    index = start + 1
    while index < len(argv):
        arg = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        index += 1
        if arg == "--":
            operands.extend(argv[index:])
            break
        if not operands:
            before_operands = len(commands)
        if starts_with_placeholder(arg):
            maybe_option = True
            operands.append(arg)
        elif arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            if placeholders([name]):
                maybe_option = True
            names = [long for long in _SU_LONG if long.startswith(name)] if name else []
            names = [name] if name in names else names
            if not equals and any(_SU_LONG[long] for long in names):
                value, index = following, index + 1
            if {"command", "session-command"} & set(names):
                commands.append(value)
            user_form = user_form or (runner == "runuser" and names == ["user"])
        elif arg[:1] == "-" and len(arg) > 1:
            for position in range(1, len(arg)):
                letter = arg[position]
                if starts_with_placeholder(arg, position):
                    maybe_option = True
                    break
                if letter in _SU_VALUE_LETTERS:
                    value = arg[position + 1 :]
                    if not value:
                        value, index = following, index + 1
                    if letter in "cC":
                        commands.append(value)
                    user_form = user_form or (runner == "runuser" and letter == "u")
                    break
        else:
            operands.append(arg)
    if not operands:
        before_operands = len(commands)
    return _Su(commands, before_operands, operands, maybe_option, user_form)


# env -S STRING (--split-string): env splits STRING into words, a command and its arguments.
_ENV_VALUE_LETTERS = "uCSP"


def _split_env_strings(argv: Sequence[str]) -> tuple[list[str], bool]:
    """`argv` with the string of each `env -S STRING` split into the words env makes of it;
    and whether any such string holds a placeholder."""
    import shlex

    words = list(argv)
    split = False
    while True:
        found = next(
            (
                where
                for start, word in enumerate(words)
                if os.path.basename(word) == "env"
                and (where := _env_split_string(words, start)) is not None
            ),
            None,
        )
        if found is None:
            return words, split
        first, last, string = found
        split = split or bool(placeholders([string]))
        try:
            parts = shlex.split(string, comments=True)
        except ValueError:
            parts = string.split()
        words[first:last] = parts  # (shorter each time: this ends)


def _env_split_string(words: list[str], start: int) -> tuple[int, int, str] | None:
    """The words that are the -S option of the env at words[start] (from, to) and its string."""
    index = start + 1
    while index < len(words):
        arg = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if arg == "--":
            return None
        if arg[:1] != "-" or arg == "-":
            if arg == "-" or ("=" in arg and not arg.startswith("=")):
                index += 1  # - is -i; NAME=VALUE
                continue
            return None  # the command
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            if len(name) > 2 and "--split-string".startswith(name):
                return (index, index + 1, value) if equals else (index, index + 2, following)
            takes = len(name) > 2 and any(o.startswith(name) for o in ("--unset", "--chdir"))
            index += 2 if takes and not equals else 1
            continue
        index += 1
        for position, letter in enumerate(arg[1:], 2):
            if letter in _ENV_VALUE_LETTERS:
                value = arg[position:]
                if letter == "S":
                    return (index - 1, index, value) if value else (index - 1, index + 1, following)
                index += 0 if value else 1
                break
    return None


# Commands that run the command after their options (and operands): the options of theirs
# that take a value, and how many operands come before the command.
_WRAPPERS: dict[str, tuple[str, int]] = {
    "env": ("uCSP", 0),
    "nice": ("n", 0),
    "nohup": ("", 0),
    "setsid": ("", 0),
    "stdbuf": ("ioe", 0),
    "timeout": ("sk", 1),
    "ionice": ("cnpt", 0),
    "chroot": ("", 1),
    "chrt": ("", 1),
    "taskset": ("", 1),
    "flock": ("wE", 1),
    "runuser": ("cCgGsuw", 0),  # runuser -u USER [--] COMMAND
    "sudo": ("CDghpRrTtUu", 0),
    "doas": ("Cu", 0),
    "busybox": ("", 0),
    "exec": ("a", 0),
    "command": ("", 0),
    "builtin": ("", 0),
    "time": ("fo", 0),
    "watch": ("nq", 0),  # (with -x; without, it joins the command for sh -c: _watch_hazard)
}
_WRAPPER_LONG_VALUES = {
    "--adjustment",
    "--chdir",
    "--close-from",
    "--equexit",
    "--group",
    "--host",
    "--interval",
    "--kill-after",
    "--other-user",
    "--prompt",
    "--role",
    "--signal",
    "--split-string",
    "--type",
    "--unset",
    "--user",
}


def _command_index(argv: Sequence[str]) -> int:
    """Where the command of `argv` begins, after wrappers such as env, nice, sudo, timeout."""
    return _command_starts(argv)[-1]


def _command_starts(argv: Sequence[str]) -> list[int]:
    """Where each wrapper of `argv` begins, and last the command they run."""
    starts: list[int] = []
    index = 0
    while index < len(argv) and os.path.basename(argv[index]) in _WRAPPERS:
        starts.append(index)
        takes, operands = _WRAPPERS[os.path.basename(argv[index])]
        index += 1
        while index < len(argv):
            arg = argv[index]
            if arg == "--":
                index += 1
                break
            if "=" in arg and arg[:1] not in ("-", "="):
                index += 1  # env NAME=VALUE
                continue
            if arg[:1] != "-" or len(arg) == 1:
                break
            index += 1
            if arg.startswith("--"):
                if "=" not in arg and arg in _WRAPPER_LONG_VALUES:
                    index += 1  # its value
                continue
            for position, letter in enumerate(arg[1:], 2):
                if letter in takes:
                    if position == len(arg):
                        index += 1  # its value is the next word
                    break
        index += operands
    return [*starts, index]


def _reads_code_from_stdin(command: list[str]) -> bool:
    """A shell given no script (no -c, no file, or -s), or `. /dev/stdin`: it reads its
    commands from stdin. So does xargs or parallel that runs what it reads as code, a
    program that starts such a shell (su USER, runuser -l USER, sg GROUP, newgrp, script,
    sudo -s) and one that runs what it reads as a script (at, batch, crontab -, ssh HOST,
    pwsh, expect)."""
    starts = _command_starts(command)
    start = starts[-1]
    for wrapper in starts[:-1]:
        name = os.path.basename(command[wrapper])
        if name == "runuser":
            su = _read_su(command, wrapper, name)
            if not su.user_form:  # runuser [-l] USER: the user's shell, as su starts it
                return _reads_code_from_stdin(su.shell())
        elif name in ("sudo", "doas") and start >= len(command):
            return _asks_for_a_shell(command[wrapper + 1 : start])
    if start >= len(command):
        return False
    name = program_name(command[start])
    if name in ("xargs", "parallel"):
        return _runs_its_input(command, start)
    if name in _STDIN_SCRIPTS:
        return _STDIN_SCRIPTS[name](command, start)
    if command[start] in (".", "source"):
        operands = command[start + 1 :]
        operands = operands[1:] if operands[:1] == ["--"] else operands
        return bool(operands) and operands[0] in _STDIN_FILES
    if not _is_shell(command[start]):
        return False
    return any(
        (
            not reading.command
            and (
                reading.stdin
                or reading.operands >= len(command)
                or command[reading.operands] in _STDIN_FILES
            )
        )
        or (
            reading.command
            and reading.operands < len(command)
            and "fish" not in os.path.basename(command[start])
            and _script_runs_its_stdin(command[reading.operands])
        )
        for reading in _readings(command, start)
    )


def _asks_for_a_shell(options: Sequence[str]) -> bool:
    """sudo -s or -i (--shell, --login), doas -s: with no command, they start a shell."""
    for arg in options:
        if arg in ("--shell", "--login"):
            return True
        if (
            arg[:1] == "-"
            and arg[1:2] != "-"
            and {"s", "i"} & set(option_letters(arg, "CDghpRrTtUu")[0])
        ):
            return True
    return False


def _shell_reads_stdin(command: str | None) -> bool:
    """Whether sh, given `command` as its -c script (None: none), runs a value on its stdin."""
    return _reads_code_from_stdin(["sh"] if command is None else ["sh", "-c", command])


def _sg_reads_stdin(command: list[str], start: int) -> bool:
    return _shell_reads_stdin(sg_command(command, start))


def _script_reads_stdin(command: list[str], start: int) -> bool:
    """script runs $SHELL (or -c CMD with it) in a terminal whose input is its stdin."""
    commands = _script_commands(command, start)
    return _shell_reads_stdin(commands[-1] if commands else None)


def _su_reads_stdin(command: list[str], start: int) -> bool:
    return _reads_code_from_stdin(_read_su(command, start, "su").shell())


def _at_reads_stdin(command: list[str], start: int) -> bool:
    """at and batch read the job, lines for sh, from stdin; not with -f FILE, nor when -l,
    -r, -d, -c or -V asks for something else."""
    for arg in command[start + 1 :]:
        if arg == "--":
            break
        if arg[:1] == "-" and set(option_letters(arg, "qft")[0]) & set("flrdcV"):
            return False
    return True


def _crontab_reads_stdin(command: list[str], start: int) -> bool:
    """crontab - (or with no file) installs the table it reads on stdin: lines for sh."""
    operands: list[str] = []
    index = start + 1
    while index < len(command):
        arg = command[index]
        index += 1
        if arg == "--":
            operands.extend(command[index:])
            break
        if arg[:1] != "-" or arg == "-":
            operands.append(arg)
            continue
        letters, following = option_letters(arg, "un")
        if set(letters) & set("lreiTVc"):
            return False  # list, remove, edit, test...
        index += following
    return not operands or operands[0] == "-" or operands[0] in _STDIN_FILES


_SSH_NO_STDIN = set("fGNnOsVW")  # no command reads ssh's stdin (-W forwards it to a port)


def _ssh_reads_stdin(command: list[str], start: int) -> bool:
    """ssh HOST without a command runs the remote user's shell, which reads its commands
    from stdin; so does a command that is one (ssh HOST sh, ssh HOST 'bash -s')."""
    remote = ""
    destination = False
    index = start + 1
    while index < len(command):
        arg = command[index]
        index += 1
        if arg == "--":
            index += 0 if destination else 1
            break
        if arg[:1] != "-" or arg == "-":
            if destination:
                index -= 1
                break
            destination = True
            continue
        if set(option_letters(arg, _SSH_VALUE_LETTERS)[0]) & _SSH_NO_STDIN:
            return False
        letter, value, index = option_bundle(arg, command, index, _SSH_VALUE_LETTERS)
        name, _, given = value.lstrip(' \t"').partition(" ")
        name, equals, attached = name.partition("=")
        if letter == "o" and name.lower() == "remotecommand":
            remote = attached if equals else given.lstrip(" \t=")
    script = " ".join(command[index:]) or remote
    return not script or _script_runs_its_stdin(script)


def _pwsh_reads_stdin(command: list[str], start: int) -> bool:
    """pwsh reads its commands from stdin with -Command - or -File -, or with neither (and
    no operand)."""
    index = start + 1
    while index < len(command):
        arg = command[index]
        index += 1
        if arg[:1] != "-" or arg == "-":
            return arg == "-"
        kind = pwsh_parameter(arg.lstrip("-").lower().partition(":")[0])
        if kind in ("command", "file"):
            return command[index : index + 1] == ["-"]
        index += kind in ("encoded", "value")
    return True


def _expect_reads_stdin(command: list[str], start: int) -> bool:
    """expect reads its script from stdin given none (nor -c), or - as its file; and with
    -i, after it."""
    commands = False
    index = start + 1
    while index < len(command):
        arg = command[index]
        index += 1
        if arg == "--":
            break
        if arg[:1] != "-" or arg == "-":
            index -= 1
            break
        letters, following = option_letters(arg, EXPECT_VALUE_LETTERS)
        if "i" in letters:
            return True
        if letters[-1:] in ("b", "f"):
            file = arg[len(letters) + 1 :] or "".join(command[index : index + following])
            return file == "-" or file in _STDIN_FILES
        commands = commands or "c" in letters
        index += following
    if index < len(command):
        return command[index] == "-" or command[index] in _STDIN_FILES
    return not commands


_STDIN_SCRIPTS: dict[str, Callable[[list[str], int], bool]] = {
    "su": _su_reads_stdin,
    "sg": _sg_reads_stdin,
    "newgrp": lambda command, start: True,
    "script": _script_reads_stdin,
    "at": _at_reads_stdin,
    "batch": _at_reads_stdin,
    "crontab": _crontab_reads_stdin,
    "ssh": _ssh_reads_stdin,
    "pwsh": _pwsh_reads_stdin,
    "powershell": _pwsh_reads_stdin,
    "expect": _expect_reads_stdin,
}

# What may run a value of a script's stdin as code, besides a shell: builtins that read
# their words as code or names, xargs, and the programs that start a shell or run a script.
_CODE_WORDS = {"eval", "trap", "alias", "let", ".", "source", "[[", "test", "[", "exec"}
_CODE_WORDS |= {"xargs", "parallel", "env", *_RUNNERS, *_DECLARE_LIKE, *_NAMING}
_CODE_WORDS |= {"runuser", "sudo", "doas", *_STDIN_SCRIPTS}
_SCRIPT_WORDS = re.compile(r"[\s;&|()<>`\"'=]+")  # ($SHELL and ${SHELL} stay whole)


def _script_runs_its_stdin(script: str) -> bool:
    """Whether the -c script of a shell, a literal one, would run a value on its stdin as
    code: sh -c 'eval "$(cat)"', sh -c 'cat | sh'. Read as the script of a { } that a
    value is piped into. (A placeholder in it is refused for itself.)"""
    if placeholders([script]) or _STDIN_TEXT in script:
        return False
    words = _SCRIPT_WORDS.split(script)
    named = "${" in script  # (a shell named by ${SHELL:=sh}, which the split takes apart)
    if not named and not any(word in _CODE_WORDS or _is_shell(word) for word in words):
        return False  # (no program or builtin that could run a value as code)
    # sh -c "eval \"\$(cat)\"": the word kept the \ that the shell takes out of "\$"
    for text in dict.fromkeys([script, script.replace("\\$", "$").replace("\\`", "`")]):
        read = read_script(f"printf %s {{stdin}} | {{ {text}\n}}")
        if _parsed_again(_substitutions_unquoted(read.text), read.substituting) is not None:
            return True
    return False


def _runs_stdin_text(command: list[str]) -> bool:
    """Whether a word made of what a $( ) or ` ` read on the command's stdin (_STDIN_TEXT)
    is where a placeholder would be code, or is the command itself: sh -c "$(cat)", eval
    $(cat), . "$(cat)", $(cat). The
    words of a ` ` are apart from the word it may be part of (""`cat`): both are tried.
    Unquoted, the text is split into words: sh $(cat) may be sh -c SCRIPT."""
    start = _command_index(command)
    if start < len(command) and _STDIN_TEXT in command[start]:
        return True  # $(cat) as the command: the value names the program (and its arguments)
    split = ["{stdin}", "{stdin}"]
    variants: list[list[str]] = [[]]
    for at, word in enumerate(command):
        variants[0].extend(split if _STDIN_TEXT in word else [word])
        if at and _STDIN_TEXT in word and word.startswith("`"):
            variants.append([*command[: at - 1], *split, *command[at + 1 :]])
    return any(_command_hazard(variant) is not None for variant in variants)


_READING_FILE = "<(\0"  # a <( ) word whose commands read the stdin of the command it is in
_STDIN_TEXT = "\1"  # in a word made of a $( ) or ` ` whose commands read that stdin
# Programs that never read their stdin (cat does not with files to read); any other may.
_NO_STDIN = {"echo", "printf", "true", "false", ":", "test", "[", "[[", "date", "seq", "sleep"}
_NO_STDIN |= {"pwd", "ls", "basename", "dirname", "uname", "id", "whoami", "curl", "wget"}


def _reads_stdin(command: list[str]) -> bool:
    """Whether the program of a simple command may read its stdin (as data)."""
    start = _command_index(command)
    if start >= len(command):
        return False
    name = os.path.basename(command[start])
    if name == "cat":
        files = [word for word in command[start + 1 :] if word[:1] != "-" or word == "-"]
        return not files or any(word == "-" or _file_source(word) for word in files)
    return name not in _NO_STDIN


def _runs_a_reading_file(command: list[str]) -> bool:
    """A shell (or . or source) whose script is a <( ) that reads its stdin: sh <(cat)."""
    start = _command_index(command)
    if start >= len(command):
        return False
    if command[start] in (".", "source"):
        operands = command[start + 1 :]
        operands = operands[1:] if operands[:1] == ["--"] else operands
        return bool(operands) and operands[0].startswith(_READING_FILE)
    if not _is_shell(command[start]):
        return False
    return any(
        not reading.command
        and reading.operands < len(command)
        and command[reading.operands].startswith(_READING_FILE)
        for reading in _readings(command, start)
    )


def _runs_its_input(command: list[str], start: int) -> bool:
    """xargs (or parallel) at command[start], whose stdin would become code: a shell's -c
    script (xargs sh -c; xargs -I{} sh -c '{}': any option with an I, i or J may set a
    replace string, any a may read the arguments from a file and leave stdin to the shell),
    eval, or for parallel (which runs its command lines in a shell, and with --pipe gives
    its stdin to them) any shell. Words are not told apart from option values: any one may
    be the command."""
    if os.path.basename(command[start]) == "parallel":
        pieces = [piece for word in command[start + 1 :] for piece in word.split()]
        return any(piece == "eval" or _is_shell(piece) for piece in pieces)
    replacing = arguments_file = False
    shells = 0
    for index in range(start + 1, len(command)):
        word = command[index]
        if word == "eval":
            return True
        if _is_shell(word):
            shells += 1
            if arguments_file and _reads_code_from_stdin(command[index:]):
                return True
            for reading in _readings(command, index):
                if reading.command and (replacing or reading.operands >= len(command)):
                    return True
                # xargs sh: what it reads are the shell's options, -c SCRIPT among them
                last = reading.operands >= len(command) and not reading.ended
                if last and shells == 1 and not replacing:
                    return True
        elif word.startswith("--"):
            replacing = replacing or word.startswith("--r")
            arguments_file = arguments_file or word.startswith("--a")
        elif word[:1] == "-":
            replacing = replacing or any(letter in word for letter in "IiJ")
            arguments_file = arguments_file or "a" in word
    return False

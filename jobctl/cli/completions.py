"""Shell completion: bash, zsh and fish scripts generated from the command tree, and the
callbacks that complete job, queue and state names.

The scripts carry the commands and options themselves, so completing them starts no
Python. Only values that depend on the config (job and queue names) call back into
`jobctl`, through click's completion protocol: the callbacks below read the config then,
never at start-up. Regenerate the scripts after changing a command with `make completions`
(`python -m jobctl.cli.completions completions/`); a test fails while they are stale.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from typer._click.shell_completion import (
    CompletionItem,
    ShellComplete,
    add_completion_class,
    split_arg_string,
)

from jobctl.text import clean

LINE_VAR = "_JOBCTL_COMPLETE_LINE"
SCRIPTS = {"bash": "jobctl.bash", "zsh": "_jobctl", "fish": "jobctl.fish"}


class LineComplete(ShellComplete):
    """The protocol the generated scripts speak (`_JOBCTL_COMPLETE=complete_line`): the
    command line up to the cursor in $_JOBCTL_COMPLETE_LINE; back, one `value<TAB>help`
    a line. One protocol for every shell, since each script does its own formatting."""

    name = "line"
    source_template = ""

    def source_vars(self) -> dict[str, Any]:
        return {}

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get(LINE_VAR, "")
        words = split_arg_string(line)[1:]
        if words and not line[-1:].isspace():
            return words[:-1], words[-1]
        return words, ""

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        """Click's answer, but a last word that bundles short options (`-xq`) is read as
        the options it holds (`-x -q`): click finds the option whose value is being typed
        only when it stands alone."""
        from typer._click.shell_completion import _resolve_context

        if args and "--" not in args and re.fullmatch(r"-[^-].+", args[-1]):
            ctx = _resolve_context(self.cli, self.ctx_args, self.prog_name, args)
            before = args[-2] if len(args) > 1 else None
            args = [*args[:-1], *_unbundled(ctx.command.get_params(ctx), args[-1], before)]
        return super().get_completions(args, incomplete)

    def complete(self) -> str:
        """One line per completion; a value that a terminal would obey (an escape, a newline
        from a database's queue name) is left out: it could not be typed as offered."""
        args, incomplete = self.get_completion_args()
        items = self.get_completions(args, incomplete)
        return "\n".join(
            self.format_completion(item) for item in items if _printable(str(item.value))
        )

    def format_completion(self, item: CompletionItem) -> str:
        # A description comes from the config (a job type's `description`): shells print it
        # as it is, so its control and bidi characters are shown escaped, as in tables.
        text = clean(" ".join((item.help or "").split()))
        return f"{item.value}\t{text}" if text else str(item.value)


def _printable(value: str) -> bool:
    return clean(value) == value


def _unbundled(params: list[Any], word: str, before: str | None) -> list[str]:
    """`word` as click's parser reads a bundle of short options: `-xq` is `-x -q`, `-qslow`
    is `-q slow` (the first option that takes a value takes the rest). Kept whole when it is
    the value of the option `before` it (`-k -xq`), or holds a letter that is no option of
    the command."""
    takes: dict[str, bool] = {}  # option name -> whether it takes a value
    for param in params:
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                takes[name] = not (param.is_flag or param.count)
    if before is not None and takes.get(before):
        return [word]
    words: list[str] = []
    for index, letter in enumerate(word[1:], 2):
        name = "-" + letter
        if name not in takes:
            return [word]
        words.append(name)
        if takes[name]:
            return words + ([word[index:]] if word[index:] else [])
    return words


add_completion_class(LineComplete, LineComplete.name)


# ---------------------------------------------------------------------------------------------
# The command tree, as the scripts need it


class Param:
    """An option (names) or an argument (no names) and how its value completes: `flag`
    takes none, `plain` takes one nothing can guess, then `file`, `dir`, `dynamic` (ask
    jobctl) or `choice` (the fixed `choices`)."""

    def __init__(
        self,
        names: list[str],
        help: str,
        kind: str,
        choices: list[str],
        variadic: bool = False,
    ) -> None:
        self.names = names
        self.help = help
        self.kind = kind
        self.choices = choices
        self.variadic = variadic


class Node:
    def __init__(
        self,
        path: str,
        help: str,
        options: list[Param],
        arguments: list[Param],
        children: dict[str, Node],
    ) -> None:
        self.path = path
        self.help = help
        self.options = options
        self.arguments = arguments
        self.children = children


def command_tree() -> Node:
    """The whole `jobctl` command tree, every command module imported."""
    import importlib
    import pkgutil

    import typer.main

    import jobctl.cli
    from jobctl.cli.app import app

    for module in pkgutil.iter_modules(jobctl.cli.__path__):
        importlib.import_module(f"jobctl.cli.{module.name}")
    return _node(typer.main.get_command(app), "", None)


def _node(command: Any, path: str, parent: Any) -> Node:
    from typer._click.core import Context

    ctx = Context(command, parent=parent, info_name=path, **command.context_settings)
    options: list[Param] = []
    arguments: list[Param] = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        kind, choices = _kind(param)
        if param.param_type_name == "option":
            # Long names first, in a fixed order (click keeps the help option's in a set).
            names = sorted([*param.opts, *param.secondary_opts], key=lambda n: (n[1] != "-", n))
            options.append(Param(names, _first_line(param.help), kind, choices))
        else:
            arguments.append(Param([], "", kind, choices, variadic=param.nargs == -1))
    children: dict[str, Node] = {}
    for name in sorted(getattr(command, "commands", {})):
        child = command.commands[name]
        if not child.hidden:
            children[name] = _node(child, f"{path} {name}".strip(), ctx)
    return Node(
        path, _first_line(command.get_short_help_str(limit=80)), options, arguments, children
    )


def _kind(param: Any) -> tuple[str, list[str]]:
    if param.param_type_name == "option" and (param.is_flag or param.count):
        return "flag", []
    if getattr(param, "_custom_shell_complete", None) is not None:
        return "dynamic", []
    metavar = (getattr(param, "metavar", None) or "").upper()
    if metavar in ("FILE", "PATH"):
        return "file", []
    if metavar == "DIR":
        return "dir", []
    if metavar in ("LEVEL", "FORMAT"):  # of event lines: a fixed set, checked by the CLI
        from jobctl.config import LOG_FORMATS, LOG_LEVELS

        return "choice", list(LOG_LEVELS if metavar == "LEVEL" else LOG_FORMATS)
    if metavar == "KIND":  # `logs --hook`: which hook's log
        from jobctl.cli.attemptlogs import HOOK_KINDS

        return "choice", list(HOOK_KINDS)
    choices = getattr(param.type, "choices", None)
    if choices:
        return "choice", [str(c) for c in choices]
    if param.type.name == "directory":
        return "dir", []
    if param.type.name in ("file", "path", "filename"):
        return "file", []
    return "plain", []


def _first_line(text: str | None) -> str:
    """An option's first sentence, for a shell's menu: one that ends at ". ", not at the
    dot of "e.g." or "i.e."."""
    if not text:
        return ""
    line = " ".join(text.split())
    end = re.search(r"(?<!\be\.g)(?<!\bi\.e)\. ", line)
    return line if end is None else line[: end.start() + 1]


def _walk(node: Node) -> list[Node]:
    nodes = [node]
    for child in node.children.values():
        nodes.extend(_walk(child))
    return nodes


# ---------------------------------------------------------------------------------------------
# Script generation. The three scripts share one algorithm: walk the words before the cursor
# to find the command path (skipping option values), then complete a subcommand, an option
# name, an option's value or an argument.

_HEADER = "{comment} {shell} completion for jobctl. Generated from the command tree by\n"
_HEADER += "{comment} `make completions` (python -m jobctl.cli.completions); do not edit.\n"


def _sh(text: str) -> str:
    """A single-quoted bash/zsh word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fish(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _value_cases(tree: Node) -> list[tuple[str, str]]:
    """(key, kind) for every option that takes a value; key is 'PATH OPTION'."""
    cases: list[tuple[str, str]] = []
    for node in _walk(tree):
        for option in node.options:
            if option.kind == "flag":
                continue
            kind = option.kind if option.kind != "choice" else "choice " + " ".join(option.choices)
            cases.extend((f"{node.path} {name}", kind) for name in option.names)
    return cases


def _argument_cases(tree: Node) -> list[tuple[str, str]]:
    """(key, kind) for arguments; key is 'PATH INDEX', or 'PATH *' for the variadic rest."""
    cases: list[tuple[str, str]] = []
    for node in _walk(tree):
        for index, argument in enumerate(node.arguments):
            kind = argument.kind
            if kind == "choice":
                kind = "choice " + " ".join(argument.choices)
            cases.append((f"{node.path} {'*' if argument.variadic else index}", kind))
    return cases


def bash_script(tree: Node) -> str:
    def case(name: str, items: list[tuple[str, str]], var: str, default: str) -> list[str]:
        out = [f"{name}() {{", '    case "$1" in']
        out += [f"        {_sh(key)}) {var}={_sh(value)} ;;" for key, value in items]
        out += [f"        *) {var}={_sh(default)} ;;", "    esac", "}"]
        return out

    nodes = _walk(tree)
    lines = _HEADER.format(comment="#", shell="bash").splitlines()
    lines += [
        "# Install: copy to ~/.local/share/bash-completion/completions/jobctl, or source it.",
        "",
    ]
    lines += case(
        "_jobctl_commands",
        [(n.path, " ".join(n.children)) for n in nodes if n.children],
        "REPLY",
        "",
    )
    lines += case(
        "_jobctl_options",
        [(n.path, " ".join(name for o in n.options for name in o.names)) for n in nodes],
        "REPLY",
        "",
    )
    lines += case("_jobctl_value", _value_cases(tree), "REPLY", "flag")
    lines += case("_jobctl_argument", _argument_cases(tree), "REPLY", "")
    lines += _BASH_BODY.splitlines()
    return "\n".join(lines) + "\n"


_BASH_BODY = r"""
# Sets REPLY to the value kind of option $2 of command $1, or of argument number $2.
_jobctl_kind() {
    _jobctl_value "$1 $2"
}

_jobctl_argument_kind() {
    _jobctl_argument "$1 $2"
    [[ -n $REPLY ]] || _jobctl_argument "$1 *"
}

# Values only jobctl knows (job and queue names): ask it with the line up to the cursor.
_jobctl_dynamic() {
    local prog=${1/#\~/$HOME} item IFS=$'\n'
    local -a found
    found=($(_JOBCTL_COMPLETE=complete_line _JOBCTL_COMPLETE_LINE="$2" "$prog" 2>/dev/null))
    for item in "${found[@]}"; do
        COMPREPLY+=("${item%%$'\t'*}")
    done
}

# The words of a line as the shell reads them, into `words`: a blank in quotes or after a
# backslash is no break (`-c "my dir/jobs.toml"` is one word), and the quotes and
# backslashes are taken out. REPLY: 1 when the line ends at a break, 0 in a word.
_jobctl_words() {
    local line=$1 word='' quote='' c
    local -i i n=${#line} have=0
    words=()
    REPLY=1
    for ((i = 0; i < n; i++)); do
        c=${line:i:1}
        if [[ -n $quote ]]; then
            if [[ $c == "$quote" ]]; then
                quote=''
            elif [[ $quote == '"' && $c == '\' ]] && ((i + 1 < n)); then
                i+=1
                word+=${line:i:1}
            else
                word+=$c
            fi
        elif [[ $c == '\' ]]; then
            have=1
            if ((i + 1 < n)); then
                i+=1
                word+=${line:i:1}
            fi
        elif [[ $c == [\'\"] ]]; then
            quote=$c
            have=1
        elif [[ $c == [[:space:]] ]]; then
            ((have)) && words+=("$word")
            word=''
            have=0
        else
            word+=$c
            have=1
        fi
    done
    if ((have)) || [[ -n $quote ]]; then
        words+=("$word")
        REPLY=0
    fi
}

_jobctl() {
    local line=${COMP_LINE:0:COMP_POINT} cur='' node='' pending='' dashdash='' kind REPLY w
    local exec=''
    local -a words
    local -i i j argi=0 cmdw=0
    COMPREPLY=()
    _jobctl_words "$line"
    if ((!REPLY)); then  # a word being typed: the last
        cur=${words[${#words[@]}-1]}
        words=("${words[@]:0:${#words[@]}-1}")
    fi
    for ((i = 1; i < ${#words[@]}; i++)); do
        w=${words[i]}
        if [[ -n $exec ]] && ((cmdw > 0)); then
            cmdw+=1  # the words of an --exec command, options too, are the command's
        elif [[ -n $pending ]]; then
            pending=''
        elif [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
            [[ $node == edit ]] && exec=1  # edit ID -- CMD ARGS...
        elif [[ -z $dashdash && $w == --?* ]]; then
            [[ ($node == enqueue || $node == edit) && $w == --exec ]] && exec=1
            if [[ $w != *=* ]]; then
                _jobctl_kind "$node" "$w"
                [[ $REPLY == flag ]] || pending=$w
            fi
        elif [[ -z $dashdash && $w == -?* ]]; then
            # Short options, alone or bundled (-xq): flags up to one that takes a value,
            # which is the rest of the word, or else the next word.
            for ((j = 1; j < ${#w}; j++)); do
                [[ ($node == enqueue || $node == edit) && ${w:j:1} == x ]] && exec=1
                _jobctl_kind "$node" "-${w:j:1}"
                if [[ $REPLY != flag ]]; then
                    ((j + 1 < ${#w})) || pending=-${w:j:1}
                    break
                fi
            done
        elif [[ -n $exec ]]; then
            cmdw+=1  # the command's name
        else
            _jobctl_commands "$node"
            if ((argi == 0)) && [[ " $REPLY " == *" $w "* ]]; then
                node=${node:+$node }$w
            else
                argi+=1
            fi
        fi
    done
    if [[ -n $exec && -z $pending ]] && ((cmdw > 0)); then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))  # an argument of the command
        return 0
    elif [[ -n $exec && -z $pending && ( -n $dashdash || $cur != -* ) ]]; then
        if [[ $cur == */* ]]; then  # the command's name: a path, or one found in PATH
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
        else
            COMPREPLY=($(compgen -c -- "$cur"))
        fi
        return 0
    elif [[ -n $pending ]]; then
        _jobctl_kind "$node" "$pending"
    elif [[ -z $dashdash && $cur == --*=* ]]; then
        _jobctl_kind "$node" "${cur%%=*}"
        cur=${cur#*=}
    elif [[ -z $dashdash && $cur == -* ]]; then
        _jobctl_options "$node"
        COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
        return 0
    else
        _jobctl_commands "$node"
        if [[ -n $REPLY ]]; then
            COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
            return 0
        fi
        _jobctl_argument_kind "$node" "$argi"
    fi
    kind=$REPLY
    case $kind in
        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        dynamic) _jobctl_dynamic "${words[0]}" "$line" ;;
        choice\ *) COMPREPLY=($(compgen -W "${kind#choice }" -- "$cur")) ;;
    esac
    # bash splits words at ':' too: complete only what follows the last one.
    if [[ $cur == *:* && $kind != file && $kind != dir ]]; then
        local colon=${cur%"${cur##*:}"}
        for ((i = 0; i < ${#COMPREPLY[@]}; i++)); do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
        done
    fi
    return 0
}

complete -F _jobctl jobctl"""


def zsh_script(tree: Node) -> str:
    def described(params: list[Param]) -> str:
        items = []
        for param in params:
            for name in param.names:
                items.append(_sh(f"{name}:{param.help}" if param.help else name))
        return " ".join(items)

    def children(node: Node) -> str:
        return " ".join(
            _sh(f"{name}:{child.help}".replace(":", "\\:", name.count(":")))
            for name, child in node.children.items()
        )

    nodes = _walk(tree)
    lines = ["#compdef jobctl", *_HEADER.format(comment="#", shell="zsh").splitlines()]
    lines += [
        "# Install: copy to a directory in $fpath (before compinit runs), or source it.",
        "",
        "_jobctl_commands() {",
        '    case "$1" in',
    ]
    lines += [f"        ({_sh(n.path)}) reply=({children(n)}) ;;" for n in nodes if n.children]
    lines += ["        (*) reply=() ;;", "    esac", "}", "", "_jobctl_options() {"]
    lines += ['    case "$1" in']
    lines += [f"        ({_sh(n.path)}) reply=({described(n.options)}) ;;" for n in nodes]
    lines += ["        (*) reply=() ;;", "    esac", "}", "", "_jobctl_value() {"]
    lines += ['    case "$1" in']
    lines += [f"        ({_sh(k)}) REPLY={_sh(v)} ;;" for k, v in _value_cases(tree)]
    lines += ["        (*) REPLY=flag ;;", "    esac", "}", "", "_jobctl_argument() {"]
    lines += ['    case "$1" in']
    lines += [f"        ({_sh(k)}) REPLY={_sh(v)} ;;" for k, v in _argument_cases(tree)]
    lines += ["        (*) REPLY='' ;;", "    esac", "}"]
    lines += _ZSH_BODY.splitlines()
    return "\n".join(lines) + "\n"


_ZSH_BODY = r"""
_jobctl_dynamic() {
    local line="${(j: :)words[1,CURRENT]}" item
    local -a found values
    found=("${(@f)$(_JOBCTL_COMPLETE=complete_line _JOBCTL_COMPLETE_LINE=$line \
        ${~words[1]} 2>/dev/null)}")
    for item in $found; do
        [[ -n $item ]] || continue
        if [[ $item == *$'\t'* ]]; then
            values+=("${${item%%$'\t'*}//:/\\:}:${item#*$'\t'}")
        else
            values+=("${item//:/\\:}")
        fi
    done
    _describe -t values value values
}

_jobctl() {
    local node='' pending='' dashdash='' kind REPLY w cur=${words[CURRENT]} exec=''
    local -a reply
    integer i j argi=0 at=0 cmdw=0
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        if [[ -n $exec ]] && ((cmdw > 0)); then
            cmdw+=1  # the words of an --exec command, options too, are the command's
        elif [[ -n $pending ]]; then
            pending=''
        elif [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
            [[ $node == edit ]] && exec=1  # edit ID -- CMD ARGS...
        elif [[ -z $dashdash && $w == --?* ]]; then
            [[ ($node == enqueue || $node == edit) && $w == --exec ]] && exec=1
            if [[ $w != *=* ]]; then
                _jobctl_value "$node $w"
                [[ $REPLY == flag ]] || pending=$w
            fi
        elif [[ -z $dashdash && $w == -?* ]]; then
            # Short options, alone or bundled (-xq): flags up to one that takes a value,
            # which is the rest of the word, or else the next word.
            for ((j = 2; j <= $#w; j++)); do
                [[ ($node == enqueue || $node == edit) && ${w[j]} == x ]] && exec=1
                _jobctl_value "$node -${w[j]}"
                if [[ $REPLY != flag ]]; then
                    ((j < $#w)) || pending=-${w[j]}
                    break
                fi
            done
        elif [[ -n $exec ]]; then
            at=i  # the command's name
            cmdw+=1
        else
            _jobctl_commands "$node"
            if ((argi == 0)) && (( ${reply[(I)${(b)w}:*]} || ${reply[(I)${(b)w}]} )); then
                node=${node:+$node }$w
            else
                argi+=1
            fi
        fi
    done
    if [[ -n $exec && -z $pending ]] && ((cmdw > 0)); then
        words=("${(@)words[at,-1]}")  # complete as the command itself would be
        (( CURRENT -= at - 1 ))
        _normal
        return
    elif [[ -n $exec && -z $pending && ( -n $dashdash || $cur != -* ) ]]; then
        _command_names -e
        return
    elif [[ -n $pending ]]; then
        _jobctl_value "$node $pending"
    elif [[ -z $dashdash && $cur == --*=* ]]; then
        _jobctl_value "$node ${cur%%=*}"
        compset -P '*='
    elif [[ -z $dashdash && $cur == -* ]]; then
        _jobctl_options "$node"
        _describe -t options option reply
        return
    else
        _jobctl_commands "$node"
        if (( $#reply )); then
            _describe -t commands command reply
            return
        fi
        _jobctl_argument "$node $argi"
        [[ -n $REPLY ]] || _jobctl_argument "$node *"
    fi
    kind=$REPLY
    case $kind in
        (file) _files ;;
        (dir) _files -/ ;;
        (dynamic) _jobctl_dynamic ;;
        (choice\ *) compadd -- ${=kind#choice } ;;
    esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _jobctl "$@"
else
    compdef _jobctl jobctl
fi"""


def fish_script(tree: Node) -> str:
    def switch(name: str, items: list[tuple[str, list[str]]], default: list[str]) -> list[str]:
        out = [f"function {name}", "    switch $argv[1]"]
        for key, values in items:
            out += [f"        case {_fish(key)}", f"            printf '%s\\n' {' '.join(values)}"]
        if default:
            out += ["        case '*'", f"            printf '%s\\n' {' '.join(default)}"]
        return [*out, "    end", "end", ""]

    def tabbed(name: str, text: str) -> str:
        return _fish(f"{name}\t{text}" if text else name)

    nodes = _walk(tree)
    lines = [*_HEADER.format(comment="#", shell="fish").splitlines()]
    lines += ["# Install: copy to ~/.config/fish/completions/jobctl.fish.", ""]
    lines += switch(
        "__jobctl_commands",
        [(n.path, [tabbed(k, c.help) for k, c in n.children.items()]) for n in nodes if n.children],
        [],
    )
    lines += switch(
        "__jobctl_options",
        [(n.path, [tabbed(name, o.help) for o in n.options for name in o.names]) for n in nodes],
        [],
    )
    lines += switch(
        "__jobctl_value", [(k, [_fish(v)]) for k, v in _value_cases(tree)], [_fish("flag")]
    )
    lines += switch("__jobctl_argument", [(k, [_fish(v)]) for k, v in _argument_cases(tree)], [])
    lines += _FISH_BODY.splitlines()
    return "\n".join(lines) + "\n"


_FISH_BODY = r"""function __jobctl_complete
    set -l words (commandline -opc)
    set -l prog $words[1]
    set -e words[1]
    set -l cur (commandline -ct)
    set -l node ''
    set -l pending ''
    set -l dashdash 0
    set -l argi 0
    set -l exec 0
    set -l cmdw 0
    for w in $words
        if test $exec = 1; and test $cmdw -gt 0
            set cmdw (math $cmdw + 1)  # the words of an --exec command are the command's
        else if test -n "$pending"
            set pending ''
        else if test $dashdash = 0; and test "x$w" = x--
            set dashdash 1
            if test "$node" = edit  # edit ID -- CMD ARGS...
                set exec 1
            end
        else if test $dashdash = 0; and string match -q -- '--?*' $w
            if contains -- "$node" enqueue edit; and test "x$w" = x--exec
                set exec 1
            end
            if not string match -q -- '*=*' $w
                test (__jobctl_value "$node $w") = flag; or set pending $w
            end
        else if test $dashdash = 0; and string match -q -- '-?*' $w
            # Short options, alone or bundled (-xq): flags up to one that takes a value,
            # which is the rest of the word, or else the next word.
            set -l letters (string split '' -- (string sub -s 2 -- $w))
            for j in (seq (count $letters))
                if contains -- "$node" enqueue edit; and test $letters[$j] = x
                    set exec 1
                end
                if test (__jobctl_value "$node -$letters[$j]") != flag
                    test $j -lt (count $letters); or set pending -$letters[$j]
                    break
                end
            end
        else if test $exec = 1
            set cmdw (math $cmdw + 1)  # the command's name
        else if test $argi = 0; and contains -- $w \
                (__jobctl_commands $node | string replace -r '\t.*' '')
            set node (string trim -- "$node $w")
        else
            set argi (math $argi + 1)
        end
    end
    set -l kind
    set -l prefix ''
    if test $exec = 1; and test -z "$pending"; and test $cmdw -gt 0
        __fish_complete_path $cur  # an argument of the command
        return
    else if test $exec = 1; and test -z "$pending"; and begin
            test $dashdash = 1; or not string match -q -- '-*' $cur
        end
        __fish_complete_command $cur  # the command's name
        return
    else if test -n "$pending"
        set kind (__jobctl_value "$node $pending")
    else if test $dashdash = 0; and string match -q -- '--*=*' $cur
        set prefix (string replace -r '=.*' '=' -- $cur)
        set kind (__jobctl_value "$node "(string replace -r '=.*' '' -- $cur))
        set cur (string replace -r '^[^=]*=' '' -- $cur)
    else if test $dashdash = 0; and string match -q -- '-*' $cur
        __jobctl_options $node
        return
    else
        set -l commands (__jobctl_commands $node)
        if test (count $commands) -gt 0
            printf '%s\n' $commands
            return
        end
        set kind (__jobctl_argument "$node $argi")
        test -n "$kind"; or set kind (__jobctl_argument "$node *")
    end
    switch "$kind"
        case file dir
            __fish_complete_path $cur
        case dynamic
            set -l line (commandline -cp)
            for item in (env _JOBCTL_COMPLETE=complete_line _JOBCTL_COMPLETE_LINE="$line" \
                    $prog 2>/dev/null)
                test -n "$item"; and printf '%s%s\n' $prefix $item
            end
        case 'choice *'
            for value in (string split ' ' -- (string replace 'choice ' '' -- $kind))
                printf '%s%s\n' $prefix $value
            end
    end
end

complete -c jobctl -f -a '(__jobctl_complete)'"""


GENERATORS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def generate() -> dict[str, str]:
    """File name -> content of every completion script."""
    tree = command_tree()
    return {SCRIPTS[shell]: make(tree) for shell, make in GENERATORS.items()}


def main(argv: list[str] | None = None) -> int:
    """Write the scripts into a directory (default: completions/ beside the package)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "completions"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (target / name).write_text(text, encoding="utf-8")
        print(target / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

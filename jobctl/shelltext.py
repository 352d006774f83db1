"""What a shell reads before it reads words, for jobctl.shellscan: quotes and escapes,
line continuations, comments and here-document bodies, and where placeholders stand among
them (inside double quotes, backquotes, after a `$`; as a -c script's `$1`). Readers of text
only: they call nothing back in the scanner."""

from __future__ import annotations

import re
from typing import NamedTuple

from jobctl.payload import PLACEHOLDER, placeholders


def quote_step(text: str, index: int, quote: str) -> tuple[int, str] | None:
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
        step = quote_step(script, index, quote)
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


_COMMENT_AFTER = " \t\n;&|()<>`"  # a # first or after one of these begins a comment


class ReadScript(NamedTuple):
    """A script as the shell reads it."""

    text: str  # its commands: without comments, here-document bodies and line continuations
    commented: list[str]  # the placeholders in its comments
    in_heredocs: list[str]  # and in the bodies of its here-documents
    substituting: bool  # a body it expands has a $( ) or ` `: run when the shell reads it


def read_script(script: str) -> ReadScript:
    """What the shell takes out of a script before it reads words: a backslash-newline
    outside single quotes (`ev\\<newline>al` is eval, `$\\<newline>{x}` is ${x}), a comment
    (from a `#` that begins a word to the end of the line; a value's newline would end it)
    and the body of a here-document, after the line that opens it."""
    text: list[str] = []
    line = 0  # where the current line begins in text
    commented: list[str] = []
    in_heredocs: list[str] = []
    substituting = False
    quote = ""
    index = 0
    while index < len(script):
        char = script[index]
        if char == "\\" and quote != "'" and script.startswith("\n", index + 1):
            index += 2
            continue
        step = quote_step(script, index, quote)
        if step is not None:
            text.append(script[index : step[0]])
            index, quote = step
            continue
        if char == "#" and not quote and (not text or text[-1][-1] in _COMMENT_AFTER):
            end = script.find("\n", index)
            end = len(script) if end < 0 else end
            commented.extend(sorted(placeholders([script[index:end]])))
            index = end
            continue
        text.append(char)
        index += 1
        if char == "\n" and not quote:
            for delimiter in _heredoc_delimiters("".join(text[line:])):
                in_heredocs.extend(sorted(placeholders([delimiter.word])))  # <<{x}: its end
                body = index
                index = _heredoc_body(script, index, delimiter, in_heredocs)
                expanded = "" if delimiter.quoted else script[body:index].replace("\\\n", "")
                substituting = substituting or _SUBSTITUTION.search(expanded) is not None
            line = len(text)
    return ReadScript("".join(text), commented, in_heredocs, substituting)


_SUBSTITUTION = re.compile(r"\$\(|`")


class _Delimiter(NamedTuple):
    word: str  # after quote removal
    strip_tabs: bool  # <<-
    quoted: bool  # the body is taken as it is: no expansion, no line continuation


_HEREDOC = re.compile(r"<<(-?)[ \t]*")


def _heredoc_delimiters(line: str) -> list[_Delimiter]:
    """The here-documents a command line opens, in order. A `<<` inside quotes is text, and
    `<<<` a here-string."""
    found: list[_Delimiter] = []
    quote = ""
    index = 0
    while index < len(line):
        step = quote_step(line, index, quote)
        if step is not None:
            index, quote = step
            continue
        if not quote and line.startswith("<<", index):
            if line.startswith("<<<", index):
                index += 3
                continue
            before = line[:index]
            if before.count("((") <= before.count("))"):  # not a shift
                operator = _HEREDOC.match(line, index)
                assert operator is not None
                word, quoted, end = _delimiter_word(line, operator.end())
                if end > operator.end():
                    found.append(_Delimiter(word, operator.group(1) == "-", quoted))
                    index = end
                    continue
        index += 1
    return found


def _delimiter_word(line: str, index: int) -> tuple[str, bool, int]:
    """The word at line[index:] with its quotes removed (as the shell takes a delimiter),
    whether any of it was quoted, and where it ends."""
    word: list[str] = []
    quoted = False
    quote = ""
    while index < len(line):
        char = line[index]
        if not quote and char in " \t\n<>|&;()":
            break
        escaped = char == "\\" and index + 1 < len(line) and quote != "'"
        if escaped and (not quote or line[index + 1] in '$`"\\'):
            word.append(line[index + 1])
            quoted, index = True, index + 2
        elif (not quote and char in "'\"") or char == quote:
            quote = "" if quote else char
            quoted, index = True, index + 1
        else:
            word.append(char)
            index += 1
    return "".join(word), quoted, index


def _heredoc_body(script: str, index: int, delimiter: _Delimiter, found: list[str]) -> int:
    """Read the body of a here-document from script[index:], adding its placeholders to
    `found`; where the line after its delimiter begins. Unless the delimiter is quoted, a
    backslash-newline joins two lines first: `a\\<newline>EOF` is no delimiter line."""
    while index < len(script):
        end = script.find("\n", index)
        end = len(script) if end < 0 else end
        line, index = script[index:end], end + 1
        while not delimiter.quoted and _continued(line) and index < len(script):
            end = script.find("\n", index)
            end = len(script) if end < 0 else end
            line, index = line[:-1] + script[index:end], end + 1
        if (line.lstrip("\t") if delimiter.strip_tabs else line) == delimiter.word:
            return min(index, len(script))
        found.extend(sorted(placeholders([line])))
    return len(script)


def _continued(line: str) -> bool:
    """Whether a line ends in a backslash that escapes its newline (an odd number of them)."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def heredoc_placeholders(script: str) -> list[str]:
    """Placeholders in the body of a here-document. The shell does no quote removal there,
    so a quoted value would be expanded, `$(...)` and all; with a quoted delimiter, a value's
    newline and delimiter would end the body. These are refused too."""
    return read_script(script).in_heredocs


def dollar_placeholders(text: str) -> list[str]:
    """Placeholders right after a `$` of a script (as read: a backslash-newline between them
    is gone). bash reads $'...' as ANSI-C quoting, where a value's backslash escapes its
    quote, and dash a literal $ then the value: refused, as ${x} is."""
    return [
        match.group(1)
        for match in PLACEHOLDER.finditer(text)
        if match.group(1) and text[: match.start()].endswith("$")
    ]


def escaped_placeholders(text: str) -> list[str]:
    """Placeholders right after a backslash that escapes what follows (outside single
    quotes; a backslash-newline is gone from the text as read). It would escape the opening
    quote of the value's quoting, and the value would be read as shell code: `C:\\{x}`
    becomes `C:\\'a; rm ...'`, and in double quotes a `"` of the value ends them."""
    found: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        if text[index] == "\\" and quote != "'":
            match = PLACEHOLDER.match(text, index + 1)
            if match and match.group(1):
                found.append(match.group(1))
        step = quote_step(text, index, quote)
        if step is None:
            index += 1
        else:
            index, quote = step
    return found


def backquoted_placeholders(text: str) -> list[str]:
    """Placeholders inside a backquoted command substitution of a script (as read). The
    shell ends `...` at the next backquote, one in a quoted value too, and takes backslashes
    out before it parses what is inside: the value's quoting does not hold there."""
    found: list[str] = []
    quote = ""
    inside = False
    index = 0
    while index < len(text):
        step = quote_step(text, index, quote)
        if step is not None:
            index, quote = step
            continue
        if text[index] == "`" and quote != "'":
            inside = not inside
        elif text[index] in "{}":
            match = PLACEHOLDER.match(text, index)
            if match:
                if inside and match.group(1):
                    found.append(match.group(1))
                index = match.end()
                continue
        index += 1
    return found


def ansi_c_differs(text: str) -> bool:
    """Whether a $'...' of a script (as read) has a backslash before what sh takes as its
    closing quote: bash (ANSI-C quoting) reads on past it, dash does not, so the two would
    see the placeholders after it on different sides of a quote."""
    quote = ""
    index = 0
    while index < len(text):
        if not quote and text.startswith("$'", index):
            end = text.find("'", index + 2)
            if end < 0:
                return False  # unbalanced: the shell refuses the script
            if _continued(text[index + 2 : end]):
                return True
            index = end + 1
            continue
        step = quote_step(text, index, quote)
        if step is not None:
            index, quote = step
            continue
        index += 1
    return False


# $N, $@ and $*, and the start of ${N...}, ${!N...}, ${@...} and ${*...}
_POSITIONAL = re.compile(r"\$(?:([0-9@*])|\{(!?)([0-9]+|[@*]))")
_OPERATORS = "-:#%/^,+=?@"


def positionals_as_placeholders(script: str, held: dict[str, str]) -> str:
    """The script with each positional parameter that `held` names ("0", "1"... and "@" for
    $@ and $*) outside single quotes written as that placeholder: the value it holds is
    then read where the script uses it. Of a ${N...} with an operator, the word after it is
    kept, read the same way, behind a parameter of no value (`${1:-$2}` as `{a}${_:-{b}}`),
    so that an arithmetic offset (`${1:0:$2}`) or a $( ) in it is seen; bash's indirection
    (`${!1}`, whose value names a variable, its subscript arithmetic) and prompt expansion
    (`${1@P}`, which runs the $( ) in its value) are written as the code they run."""
    out: list[str] = []
    quote = ""
    index = 0
    while index < len(script):
        if quote != "'" and script[index] == "$":
            match = _POSITIONAL.match(script, index)
            key = (match.group(1) or match.group(3)) if match else ""
            name = held.get("@" if key in ("@", "*") else key.lstrip("0") or key[:1])
            if match and name:
                written, index = _positional_written(script, match, name, held)
                out.append(written)
                continue
        step = quote_step(script, index, quote)
        if step is not None:
            out.append(script[index : step[0]])
            index, quote = step
            continue
        out.append(script[index])
        index += 1
    return "".join(out)


def _positional_written(
    script: str, match: re.Match[str], name: str, held: dict[str, str]
) -> tuple[str, int]:
    """What positionals_as_placeholders writes for the parameter `match` starts, and where
    the script goes on after it."""
    if match.group(1):  # $N, $@, $*
        return f"{{{name}}}", match.end()
    end = closing_bracket(script, match.end(), "{", "}")
    word = script[match.end() : end]
    if match.group(2):  # ${!N}
        return f"$(( {{{name}}} ))", end + 1
    if word.startswith("@P"):
        return f"$(eval {{{name}}})", end + 1
    if not word or word[0] not in _OPERATORS:
        return f"{{{name}}}", end + 1  # ${1}, or one the shell refuses
    return f"{{{name}}}${{_{positionals_as_placeholders(word, held)}}}", end + 1


def closing_bracket(text: str, index: int, opening: str, closing: str) -> int:
    """Where the `closing` that matches an `opening` before `index` is (past the pairs
    nested in it, and what is quoted); the end of `text` when none does."""
    depth = 0
    quote = ""
    while index < len(text):
        step = quote_step(text, index, quote)
        if step is not None:
            index, quote = step
            continue
        if not quote and text[index] == opening:
            depth += 1
        elif not quote and text[index] == closing:
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return len(text)

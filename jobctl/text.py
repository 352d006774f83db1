"""Stored or user-given text made safe for a person's terminal: one rule for tables, detail
views, event lines and error messages."""

from __future__ import annotations

import re
import sys

# C0 controls (newline and tab included), DEL, C1 controls, the zero-width and bidirectional
# formatting characters that can disguise text (U+200B-200F, U+2028-202E, U+2066-2069,
# U+FEFF), and lone surrogates: Python keeps an undecodable byte (of an argv, a file name)
# as U+DC80..U+DCFF.
_ABOVE_C0 = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_ABOVE_C0}]")
# In JSON text: json.dumps escapes C0 in strings itself, and a document's own newlines and
# indents are outside strings, where they must stay.
_JSON_UNSAFE = re.compile(f"[{_ABOVE_C0}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(text: str) -> str:
    """`text` with those characters shown as escapes (`\\x1b`, `\\n`, `\\u202e`), so it cannot
    clear the screen, recolour it, reorder it or split a line, and printing it never fails.
    Printable text is unchanged."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def json_safe(text: str) -> str:
    """JSON text (json.dumps output) with the characters `clean` escapes, and json.dumps
    leaves raw, written as \\u escapes: they decode to the same data, so the document stays
    valid and lossless, but can no longer drive a terminal that shows it. Outside strings
    JSON text is ASCII, so every match is inside a string."""
    return _JSON_UNSAFE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def shorten(text: str, most: int = 40) -> str:
    """The start of a value too long to quote whole in a one-line message."""
    return text if len(text) <= most else text[: most - 1] + "…"


def say(line: str) -> None:
    """A line of jobctl's own on stderr (`jobctl: warning: ...`, `jobctl: note: ...`). What
    it quotes (a path, a name, a TZ value) came from a user, a file or the environment:
    shown escaped, as in tables."""
    print(clean(line), file=sys.stderr)


def error_parts(error: str) -> tuple[str, str]:
    """An error as jobctl's own words ("exit code 3: ", "timeout after 5s: ") and what the
    job wrote after them, its stderr's tail; ("", error) when it has no such words. The one
    reading of an error for a cut table cell and for `wait`'s line."""
    words, sep, rest = error.partition(": ")
    if sep and len(words) <= 40 and "\n" not in words and "\r" not in words:
        return words + sep, rest
    return "", error


def error_gist(error: str) -> str:
    """An error on one line: jobctl's words, then the last line the job wrote that is not
    blank, where stderr says most (its first is a traceback's heading, or a progress line a
    carriage return wrote over), as a terminal's cut ERROR cell keeps the end too."""
    head, rest = error_parts(error)
    lines = [line.strip() for line in rest.splitlines()]  # at a carriage return too
    last = next((line for line in reversed(lines) if line), "")
    return (head + last) if last else head.removesuffix(": ")

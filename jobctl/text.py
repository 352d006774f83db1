"""Stored or user-given text made safe for a person's terminal: one rule for tables, detail
views, event lines and error messages."""

from __future__ import annotations

import re
import sys

# C0 controls (newline and tab included), DEL, C1 controls, the line and paragraph separators,
# lone surrogates (Python keeps an undecodable byte of an argv or a file name as
# U+DC80..U+DCFF), and the characters that show nothing yet change or hide text: every format
# character (Unicode category Cf: bidi marks and overrides, zero-width spaces and joiners, the
# soft hyphen, the word joiner, the tag characters of "ASCII smuggling") and the Hangul
# fillers, letters that draw as blanks. A list of ranges, not unicodedata read at import
# (every enqueue imports this module): a test holds it to the running Python's Cf, with the
# ranges later Unicode versions made Cf (U+13439-1343F). U+200C and U+200D are apart: see
# _JOINERS.
_INVISIBLE = (
    "\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
_ABOVE_C0 = f"\x7f-\x9f\u2028\u2029\ud800-\udfff{_INVISIBLE}"
# Zero-width non-joiner and joiner: they shape Persian and Indic words and join emoji
# (👨\u200d👩\u200d👧 is one family), so between two visible characters they stay as they
# are (see _escape); at a value's edge, beside a blank or another hidden character they only
# disguise it.
_JOINERS = "\u200c\u200d"
_UNSAFE = re.compile(f"[\x00-\x1f{_ABOVE_C0}{_JOINERS}]")
# In JSON text: json.dumps escapes C0 in strings itself, and a document's own newlines and
# indents are outside strings, where they must stay. There the joiners are always escaped:
# the data is the same, and a string's edge is a quote.
_JSON_UNSAFE = re.compile(f"[{_ABOVE_C0}{_JOINERS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(text: str) -> str:
    """`text` with those characters shown as escapes (`\\x1b`, `\\n`, `\\u202e`,
    `\\U000e0041`), so it cannot clear the screen, recolour it, reorder it, split a line or
    pass for other text, and printing it never fails. Printable text is unchanged."""
    if text.isascii() and text.isprintable():  # (most of it, at a cost of nothing)
        return text
    return _UNSAFE.sub(_escape, text)


# The escapes clean() writes: where a cut may not fall.
_ESCAPED = re.compile(r"\\(?:[nrt]|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def escape_cut(text: str, at: int) -> tuple[int, int]:
    """Where an escape of clean()'s that a cut at `at` would split starts and ends (`at`
    twice when it splits none): cleaned text cut inside one would start with the rest of it
    (`nValueError` of `\\nValueError`, `b]0;` of `\\x1b]0;`), words the text never held,
    or end with a part of it."""
    for match in _ESCAPED.finditer(text, max(0, at - 9)):
        if match.start() >= at:
            break
        if at < match.end():
            return match.start(), match.end()
    return at, at


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _JOINERS and _joins(match.string, match.start()):
        return char
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _joins(text: str, at: int) -> bool:
    """Whether the joiner at `at` shapes something: it stands between two visible
    characters of the scripts that use joiners, or emoji (an emoji sequence, Persian or
    Indic letters). Between Latin or Cyrillic letters it shapes nothing, and `de<ZWNJ>ploy`
    passed for `deploy`."""
    return 0 < at < len(text) - 1 and _shaped(text[at - 1]) and _shaped(text[at + 1])


def _shaped(char: str) -> bool:
    # From Arabic on (U+0600): Latin, Greek, Cyrillic and Hebrew letters need no joiner.
    return char >= "\u0600" and not char.isspace() and _UNSAFE.match(char) is None


def json_safe(text: str) -> str:
    """JSON text (json.dumps output) with the characters `clean` escapes, and json.dumps
    leaves raw, written as \\u escapes: they decode to the same data, so the document stays
    valid and lossless, but can no longer drive a terminal that shows it. Outside strings
    JSON text is ASCII, so every match is inside a string."""
    if text.isascii() and "\x7f" not in text:  # DEL: the one ASCII character it escapes
        return text
    return _JSON_UNSAFE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes a character past U+FFFF as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def digits_value(digits: str, most: int) -> int | None:
    """The number ASCII `digits` write; None when it has more than `most` digits, leading
    zeros apart. int() refuses more than 4,300 (sys.get_int_max_str_digits), leading zeros
    counted, with an error of its own that named a setting no user can reach."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= most else None


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

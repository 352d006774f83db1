"""Stored or user-given text made safe for a person's terminal: one rule for tables, detail
views, event lines and error messages."""

from __future__ import annotations

import re

# C0 controls (newline and tab included), DEL, C1 controls, the zero-width and bidirectional
# formatting characters that can disguise text (U+200B-200F, U+2028-202E, U+2066-2069,
# U+FEFF), and lone surrogates: Python keeps an undecodable byte (of an argv, a file name)
# as U+DC80..U+DCFF.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
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

"""The one byte-size format: an integer of bytes, or "64KiB", "10MiB", "1GiB", "500KB"."""

from __future__ import annotations

import re

from jobctl.errors import UsageError
from jobctl.text import shorten

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
# Compiled on first use (re's cache): start-up counts. ASCII digits and blanks, as durations
# read them: \d and \s also took any script's digits ('٢KiB') and a no-break space.
_SIZE = r"[ \t]*([0-9]+)[ \t]*([a-zA-Z]*)[ \t]*\Z"
# Far past any size jobctl takes (limits check the value): a longer number is refused here,
# before int() of thousands of digits raised a bare ValueError.
_MOST_DIGITS = 30


def parse_size(value: object) -> int:
    if isinstance(value, bool):
        raise UsageError(f"invalid size {value!r}: expected bytes or a string like '64KiB'")
    if isinstance(value, int):
        if value < 0:
            raise UsageError(f"invalid size {value}: must not be negative")
        return value
    if isinstance(value, str):
        match = re.match(_SIZE, value)
        if match and match.group(2).lower() in _UNITS:
            if len(match.group(1)) > _MOST_DIGITS:
                raise UsageError(f"invalid size {shorten(value)!r}: too large")
            return int(match.group(1)) * _UNITS[match.group(2).lower()]
        value = shorten(value)
    raise UsageError(f"invalid size {value!r}: expected bytes or a string like '64KiB' or '10MiB'")

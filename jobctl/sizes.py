"""The one byte-size format: an integer of bytes, or "64KiB", "10MiB", "1GiB", "500KB"."""

from __future__ import annotations

import re

from jobctl.errors import UsageError

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
_SIZE = r"^\s*(\d+)\s*([a-zA-Z]*)\s*$"  # compiled on first use (re's cache): start-up counts


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
            return int(match.group(1)) * _UNITS[match.group(2).lower()]
    raise UsageError(f"invalid size {value!r}: expected bytes or a string like '64KiB' or '10MiB'")

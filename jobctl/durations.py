"""The one duration format of jobctl: "250ms", "30s", "5m", "2h", "1d", "1h30m" (or "1h 30m").

Every option, config key and CLI flag that takes a duration goes through `parse_duration`,
and every duration shown to a person goes through `format_duration`.
"""

from __future__ import annotations

import re

from jobctl.errors import DurationError
from jobctl.text import shorten

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_ORDER = ["w", "d", "h", "m", "s", "ms"]
# Compiled on first use (re's cache): start-up counts. Blanks may part the units ("1h 30m",
# as systemd reads it), not a number from its unit. Digits are ASCII ones: \d also took any
# script's ('٣m' was 3 minutes), as sizes do not either.
_PART = r"[ \t]*([0-9]+(?:\.[0-9]+)?)(ms|w|d|h|m|s)"
# Durations beyond a century are surely mistakes, and floats lose precision past them.
MAX_SECONDS = 100 * 365 * 86400.0


def parse_duration(text: str) -> float:
    """Return seconds for a duration string; units must appear largest first, each once."""
    if not isinstance(text, str):
        raise DurationError(
            f"invalid duration {shorten(repr(text))}: expected a string like '30s' or '1h30m'"
        )
    s = text.strip()
    if not s:
        raise DurationError("invalid duration '': expected a value like '30s' or '1h30m'")
    if s == "0":  # no unit needed for none (`--delay 0`, `backoff = "0"`... as in systemd)
        return 0.0
    total = 0.0
    pos = 0
    last_rank = -1
    for match in re.finditer(_PART, s):
        if match.start() != pos:
            break
        unit = match.group(2)
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise DurationError(
                f"invalid duration {shorten(text)!r}: units must go from largest to smallest,"
                " each once"
            )
        last_rank = rank
        total += float(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if pos != len(s) or last_rank == -1:
        raise DurationError(
            f"invalid duration {shorten(text)!r}: expected a number with a unit "
            "(ms, s, m, h, d, w), like '250ms', '30s' or '1h30m'"
        )
    if total > MAX_SECONDS:
        raise DurationError(f"invalid duration {shorten(text)!r}: longer than 100 years")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds in the same format `parse_duration` reads (rounded to milliseconds)."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    parts: list[str] = []
    rest = millis
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit] * 1000)
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest:
        parts.append(f"{rest}ms")
    return "".join(parts)


def format_short(seconds: float) -> str:
    """A human figure with at most two units ("3m12s", "2d4h", "1.3s"), for tables."""
    if 0 <= seconds < 1:
        return format_duration(seconds)  # "250ms": one unit already (a worker's every job)
    if 1 <= seconds < 10:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    full = format_duration(seconds)
    units = [u for u in re.findall(r"\d+(?:ms|[dhms])", full) if seconds < 1 or "ms" not in u]
    return "".join(units[:2]) if units else full

"""Option values every command reads the same way: durations, instants and job states."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobctl.models import State


def duration_option(text: str | None, option: str) -> float | None:
    """A duration option's seconds; errors name the option."""
    if text is None:
        return None
    from jobctl.durations import parse_duration
    from jobctl.errors import DurationError

    try:
        return parse_duration(text)
    except DurationError as exc:
        raise DurationError(f"{option}: {exc}") from None


def instant_option(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    from jobctl.timefmt import parse_instant

    return parse_instant(text, option)


def state_option(text: str, option: str = "--state") -> State:
    from jobctl.errors import UsageError
    from jobctl.models import State

    try:
        return State(text.lower())
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise UsageError(f"{option}: unknown state {text!r} (one of: {names})") from None

"""Properties of the duration format and of payload templating (in process, no CLI)."""

from __future__ import annotations

import itertools
import json
import math
import shlex
import subprocess
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobctl.durations import MAX_SECONDS, format_duration, parse_duration
from jobctl.errors import DurationError, PayloadError
from jobctl.payload import placeholders, render_argv, value_text

# ---------------------------------------------------------------------------------------------
# Durations

MAX_MILLIS = int(MAX_SECONDS * 1000)


@given(st.integers(min_value=0, max_value=MAX_MILLIS))
@example(0)
@example(1)
@example(999)
@example(1000)
@example(MAX_MILLIS)
def test_format_then_parse_round_trips_milliseconds(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert parse_duration(text) == pytest.approx(millis / 1000, rel=1e-12, abs=1e-9)
    assert format_duration(parse_duration(text)) == text  # the written form is canonical


@given(st.floats(min_value=0, max_value=MAX_SECONDS - 1, allow_nan=False))
def test_format_rounds_to_the_millisecond(seconds: float) -> None:
    parsed = parse_duration(format_duration(seconds))
    assert abs(parsed - seconds) <= 0.0005 + 1e-6 * max(1.0, seconds)


@st.composite
def canonical_durations(draw: st.DrawFn) -> tuple[str, float]:
    """A duration written the way format_duration writes it, with its value in seconds."""
    parts = [
        ("d", draw(st.integers(0, 36499)), 86400),
        ("h", draw(st.integers(0, 23)), 3600),
        ("m", draw(st.integers(0, 59)), 60),
        ("s", draw(st.integers(0, 59)), 1),
        ("ms", draw(st.integers(0, 999)), 0.001),
    ]
    text = "".join(f"{n}{unit}" for unit, n, _ in parts if n)
    seconds = sum(n * size for _, n, size in parts)
    return (text or "0s"), seconds


@given(canonical_durations())
def test_parse_then_format_round_trips_canonical_text(case: tuple[str, float]) -> None:
    text, seconds = case
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-9)
    assert format_duration(parse_duration(text)) == text


ORDER = ["w", "d", "h", "m", "s", "ms"]
SIZES = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


@given(st.lists(st.sampled_from(ORDER), min_size=1, max_size=7), st.data())
@example(["h", "h"], None)
@example(["s", "m"], None)
@example(["m", "ms"], None)
def test_units_go_largest_first_each_once(units: list[str], data: st.DataObject | None) -> None:
    counts = [data.draw(st.integers(0, 99)) if data else 1 for _ in units]
    text = "".join(f"{n}{u}" for n, u in zip(counts, units, strict=True))
    ranks = [ORDER.index(u) for u in units]
    if all(a < b for a, b in itertools.pairwise(ranks)):
        expected = sum(n * SIZES[u] for n, u in zip(counts, units, strict=True))
        assert parse_duration(text) == pytest.approx(expected)
    else:
        with pytest.raises(DurationError, match="largest to smallest"):
            parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("0s", 0, "0s"),
        ("0", 0, "0s"),  # none needs no unit
        (" 0 ", 0, "0s"),
        ("0ms", 0, "0s"),
        ("1ms", 0.001, "1ms"),
        ("250ms", 0.25, "250ms"),
        ("999ms", 0.999, "999ms"),
        ("1000ms", 1, "1s"),
        ("1s", 1, "1s"),
        ("1.5s", 1.5, "1s500ms"),
        ("90s", 90, "1m30s"),
        ("1h30m", 5400, "1h30m"),
        ("2h0m5s", 7205, "2h5s"),
        ("1d", 86400, "1d"),
        ("2w", 1209600, "14d"),
        ("1w1d1h1m1s1ms", 694861.001, "8d1h1m1s1ms"),
        (" 30s ", 30, "30s"),
        ("1h 30m", 5400, "1h30m"),  # blanks may part the units, as systemd reads them
        ("2d\t1h  5s", 176405, "2d1h5s"),
    ],
)
def test_known_durations(text: str, seconds: float, canonical: str) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert format_duration(parse_duration(text)) == canonical


DURATION_ALPHABET = st.sampled_from([*"0123456789.msdhw -+eE_\t\n٣²", "ms", "1e9", "∞"])


@given(st.one_of(st.text(), st.lists(DURATION_ALPHABET, max_size=12).map("".join)))
@example("")
@example("   ")
@example("9" * 400 + "s")
@example("1e3s")
@example("-5s")
@example("5")
@example("s")
@example("1.s")
@example(".5s")
@example("1h 30m")
@example("nan")
@example("inf")
@example("٣s")
def test_garbage_raises_only_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert str(exc).startswith("invalid duration")
    else:
        assert math.isfinite(seconds)
        assert 0 <= seconds <= MAX_SECONDS


@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text()), st.binary()))
def test_non_strings_raise_duration_error(value: Any) -> None:
    with pytest.raises(DurationError):
        parse_duration(value)


# ---------------------------------------------------------------------------------------------
# Payload templating

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
ANY_TEXT = st.text()
# What a process can receive in argv or print: no NUL, no lone surrogates.
PRINTABLE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
LITERAL = st.text(st.characters(blacklist_characters="{}"), max_size=8)

# A template element is a list of pieces: ("lit", text), ("key", name), ("open",), ("close",).
PIECE = st.one_of(
    LITERAL.map(lambda text: ("lit", text)),
    KEYS.map(lambda name: ("key", name)),
    st.just(("open", "")),
    st.just(("close", "")),
)


def template_of(pieces: list[tuple[str, str]]) -> str:
    out = []
    for kind, text in pieces:
        out.append({"lit": text, "key": "{" + text + "}", "open": "{{", "close": "}}"}[kind])
    return "".join(out)


def expected_of(pieces: list[tuple[str, str]], payload: dict[str, str], shell: bool) -> str:
    out = []
    for kind, text in pieces:
        if kind == "key":
            value = payload[text]
            out.append(shlex.quote(value) if shell else value)
        else:
            out.append({"lit": text, "open": "{", "close": "}"}[kind])
    return "".join(out)


@given(
    st.lists(st.lists(PIECE, max_size=6), min_size=1, max_size=5),
    st.dictionaries(KEYS, ANY_TEXT, max_size=8),
    st.booleans(),
    st.data(),
)
def test_render_argv_fills_each_element_without_resplitting(
    elements: list[list[tuple[str, str]]],
    extra: dict[str, str],
    shell: bool,
    data: st.DataObject,
) -> None:
    needed = {text for pieces in elements for kind, text in pieces if kind == "key"}
    payload = dict(extra)
    for name in sorted(needed):
        payload[name] = data.draw(ANY_TEXT, label=name)
    argv = [template_of(pieces) for pieces in elements]
    assert placeholders(argv) == needed
    rendered = render_argv(argv, payload, shell)
    if shell and len(argv) > 1:
        # A shell command given as a list is an argv: filled, then quoted whole and joined.
        words = [expected_of(pieces, payload, False) for pieces in elements]
        assert rendered == [shlex.join(words)]
        assert shlex.split(rendered[0]) == words
    else:
        assert len(rendered) == len(argv)
        assert rendered == [expected_of(pieces, payload, shell) for pieces in elements]


@given(ANY_TEXT, ANY_TEXT)
def test_values_that_look_like_placeholders_stay_literal(value: str, other: str) -> None:
    payload = {"a": "{b}" + value, "b": other}
    assert render_argv(["{a}", "x{a}y"], payload, False) == [payload["a"], f"x{payload['a']}y"]


@given(KEYS, st.dictionaries(KEYS, ANY_TEXT, max_size=3))
def test_missing_value_raises_payload_error(key: str, payload: dict[str, str]) -> None:
    payload.pop(key, None)
    with pytest.raises(PayloadError):
        render_argv(["x", "{" + key + "}"], payload, False)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(ANY_TEXT, children),
    max_leaves=10,
)


@given(JSON_VALUES)
def test_non_string_values_render_as_compact_json(value: Any) -> None:
    (rendered,) = render_argv(["{v}"], {"v": value}, False)
    assert rendered == value_text(value)
    if isinstance(value, str):
        assert rendered == value
    else:
        assert json.loads(rendered) == value


@settings(max_examples=50, deadline=None)
@given(PRINTABLE_TEXT, PRINTABLE_TEXT)
@example("", "")
@example("'; touch pwned; '", "$(id)")
@example('"; touch pwned; "', "`id`")
@example("a\nb\r\n", "\\")
@example("-n", "%s %d")
def test_shell_quoting_survives_a_real_shell(value: str, other: str) -> None:
    (command,) = render_argv(
        ["printf '%s|%s' {value} {other}"], {"value": value, "other": other}, True
    )
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{value}|{other}".encode()


@settings(max_examples=50, deadline=None)
@given(PRINTABLE_TEXT, PRINTABLE_TEXT)
@example("", "")
@example("'; touch pwned; '", "$(id)")
@example("a b", "{value}")
def test_shell_list_command_survives_a_real_shell(value: str, other: str) -> None:
    argv = ["printf", "%s|%s", "{value}", "pre-{other}"]
    (command,) = render_argv(argv, {"value": value, "other": other}, True)
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{value}|pre-{other}".encode()

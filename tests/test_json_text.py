"""The text of `--json` documents and of their instants, written by jobctl's own fast paths:
character for character what json.dumps(indent=2) and datetime's isoformat write."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from enum import IntEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl.documents import json_text
from jobctl.text import json_safe

KEYS = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(KEYS, inner, max_size=5),
    ),
    max_leaves=30,
)


def dumped(document: object) -> str:
    return json_safe(json.dumps(document, ensure_ascii=False, indent=2))


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS)
def test_a_document_reads_as_json_dumps_writes_it(document: object) -> None:
    assert json_text(document) == dumped(document)


class Level(IntEnum):
    HIGH = 7


class Name(str):
    pass


def test_subclasses_of_numbers_and_strings_are_written_as_their_values() -> None:
    document = {Name("k"): [Level.HIGH, Name("v"), True, 1.5, -math.inf, {}, [], ()]}
    assert json_text(document) == dumped(document)


def test_what_json_cannot_write_fails_as_json_dumps_fails() -> None:
    for document in ({"at": object()}, {(1, 2): 3}, [b"bytes"]):
        with pytest.raises(TypeError) as ours:
            json_text(document)
        with pytest.raises(TypeError) as theirs:
            json.dumps(document, indent=2)
        assert str(ours.value) == str(theirs.value)


def test_ascii_text_keeps_all_but_del() -> None:
    assert json_text({"a": "plain ~ text"}) == '{\n  "a": "plain ~ text"\n}'
    assert json_text({"a": "b\x7fc"}) == '{\n  "a": "b\\u007fc"\n}'
    assert json_text(["é\u202e"]) == '[\n  "é\\u202e"\n]'


# Run in a process of its own for each zone: the C library reads TZ once.
ISO_CHECK = """
import random
from datetime import datetime
from jobctl.timefmt import iso

def reference(ts, timespec):
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec=timespec)

rng = random.Random(6)
instants = [rng.uniform(-2.5e9, 4.5e9) for _ in range(3000)]
# Around 2024's spring and autumn changes in Europe and the US, and Lord Howe's half hour,
# with fractions that round up into the next second.
for change in (1711846800, 1729990800, 1710054000, 1730613600, 1712415600, 1728142200):
    for second in [*range(change - 600, change + 600, 7), change - 1, change, change + 1]:
        instants += [second, second + 0.5, second + 0.9999994, second + 0.9999996]
bad = [
    (ts, spec, iso(ts, timespec=spec), reference(ts, spec))
    for ts in instants
    for spec in ("milliseconds", "seconds", "microseconds")
    if iso(ts, timespec=spec) != reference(ts, spec)
]
print(len(instants), bad[:3])
"""


@pytest.mark.parametrize(
    "zone", ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_an_instant_reads_as_isoformat_writes_it_in_the_local_zone(zone: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", ISO_CHECK],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        timeout=120,
        check=True,
    )
    count, bad = result.stdout.split(" ", 1)
    assert int(count) > 5000 and bad.strip() == "[]", result.stdout

"""Payloads: reading them from the command line, checking them, and templating argv.

A `{key}` placeholder in an argv element is replaced by that payload value inside that
element only: the result is never re-split and never passed through a shell. With
`shell = true` the value is shell-quoted before it is put into the command line.
`{{` and `}}` stand for literal braces.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from jobctl.errors import PayloadError
from jobctl.text import shorten

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _c_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """_ENCODER's C encoder, built once (see compact_json); None without the C accelerator."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the typing stubs
    if make is None:
        return None
    encoder: Callable[[Any, int], Sequence[str]] = make(
        None,  # no record of the objects being encoded: see compact_json
        _ENCODER.default,
        json.encoder.encode_basestring,  # not the _ascii one: ensure_ascii is False
        None,  # no indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
    return encoder


_C_ENCODER = _c_encoder()


def compact_json(value: Any) -> str:
    """The one JSON form jobctl stores and hands to commands: compact, UTF-8, no NaN.

    The same text as _ENCODER.encode, which builds a new C encoder on each call: a third of
    what a batch spends on each line. This one skips the check for an object nested in
    itself, which no payload read from JSON, TOML or the command line can be."""
    if _C_ENCODER is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_INFINITY = float("inf")


def _unzeroed_float(text: str) -> float:
    """A number, refused when it underflows to 0 (1e-400): a value its author did not write."""
    value = float(text)
    if value == 0.0 and text.lower().partition("e")[0].strip("-0."):  # a digit other than 0
        raise ValueError(
            f"{shorten(text, 60)} is too close to 0 for a JSON number: it would be stored as 0"
        )
    return value


def _finite_float(text: str) -> float:
    """1e999 is valid JSON syntax but no number jobctl can store or hand on: refused like NaN."""
    value = _unzeroed_float(text)
    if value in (_INFINITY, -_INFINITY):
        raise ValueError(f"{shorten(text, 60)} is out of range for a JSON number")
    return value


def _whole_number(text: str) -> int:
    """An integer, or refused in jobctl's words when it has more digits than Python reads
    (sys.get_int_max_str_digits): Python's own message names a setting no user can reach."""
    try:
        return int(text)
    except ValueError:
        digits = len(text.lstrip("-"))
        raise ValueError(
            f"a number of {digits} digits is too long"
            f" (at most {sys.get_int_max_str_digits()}; give it as a string)"
        ) from None


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different. `{"path": "a", "path": "b"}` is a slip that
    JSON leaves open (RFC 8259: names SHOULD be unique) and Python would settle silently by
    keeping the last value: a job would run on a value its author may not have meant."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {shorten(key, 60)!r}")
            seen.add(key)
    return obj


# How jobctl reads JSON from users, built once: --payload, --arg k:=, --payload-file and each
# line of a --batch alike.
DECODER = json.JSONDecoder(
    parse_constant=_no_constant,
    parse_float=_finite_float,
    parse_int=_whole_number,
    object_pairs_hook=unique_keys,
)
# A --batch line's: NaN, Infinity and numbers that overflow to it are read, for the check of
# the field that holds one to name it (a delay of Infinity is over 100 years; a payload's is
# refused by encode).
BATCH_DECODER = json.JSONDecoder(
    parse_float=_unzeroed_float, parse_int=_whole_number, object_pairs_hook=unique_keys
)


def loads(text: str) -> Any:
    """JSON as jobctl reads it from users: no NaN or Infinity, no number that overflows to
    one or underflows to 0, no integer longer than Python reads, no key twice in an object,
    and a clear error (not a crash) for nesting deeper than Python can follow."""
    try:
        return DECODER.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_ARG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_args(pairs: Iterable[str]) -> dict[str, Any]:
    """`key=value` gives a string; `key:=json` gives any JSON value."""
    payload: dict[str, Any] = {}
    for pair in pairs:
        shown = repr(pair) if len(pair) <= 80 else repr(pair[:60] + "...")
        first_eq = pair.find("=")
        if first_eq > 0 and pair[first_eq - 1] == ":":
            key, _, raw = pair.partition(":=")
            try:
                value: Any = loads(raw)
            except ValueError as exc:
                raise PayloadError(f"--arg {shown}: value is not valid JSON: {exc}") from None
        elif "=" in pair:
            key, _, value = pair.partition("=")
        else:
            raise PayloadError(f"--arg {shown}: expected key=value (or key:=json)")
        if not _ARG_KEY.match(key):
            raise PayloadError(f"--arg {shown}: bad key {key[:60]!r}")
        if key in payload:  # one of the two would be lost without a word
            raise PayloadError(f"--arg {shown}: {key!r} is given twice")
        payload[key] = value
    return payload


def parse_json(text: str, source: str = "--payload") -> dict[str, Any]:
    try:
        value = loads(text)
    except ValueError as exc:
        raise PayloadError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"{source}: payload must be a JSON object, got {_json_type(value)}")
    return value


# Linux's MAX_ARG_STRLEN: no process starts with one argument (NUL included) over 128 KiB.
MAX_ARG_BYTES = 128 * 1024 - 1
# What the arguments of a command may take in all: Linux's usual ARG_MAX (2 MiB, for the
# arguments and the environment together), less room for the job's environment (its
# strings, JOBCTL_PAYLOAD's up to 127 KiB among them, and the pointers to them).
MAX_COMMAND_BYTES = 2 * 1024 * 1024 - 256 * 1024
# What Linux counts against ARG_MAX for each argument besides its text: the pointer to it.
_ARG_POINTER_BYTES = 8


def check_command(command: Sequence[str], where: str) -> None:
    """Refuse a command no process could be started with, at enqueue: stored, it would only
    fail every attempt at run time, then go dead."""
    total = 0
    for index, word in enumerate(command):
        if "\0" in word:  # argv cannot carry one; a batch line's JSON or a store's record can
            raise PayloadError(f"{where}: command word {index + 1} contains a NUL character")
        size = len(word) if word.isascii() else len(word.encode("utf-8", "surrogatepass"))
        if size > MAX_ARG_BYTES:
            raise PayloadError(
                f"{where}: command word {index + 1} is {size} bytes: Linux starts no process"
                " with an argument over 128 KiB (pass large data in a file)"
            )
        total += size + 1 + _ARG_POINTER_BYTES
    if total > MAX_COMMAND_BYTES:
        raise PayloadError(
            f"{where}: the command's {len(command)} words take {total} bytes (with the"
            f" {_ARG_POINTER_BYTES}-byte pointer to each): Linux starts no process whose"
            f" arguments take over {MAX_COMMAND_BYTES} (pass large data in a file)"
        )


def longest_json(max_payload: int) -> int:
    """The longest JSON text that can hold a payload within `max_payload` bytes, however
    spaced or escaped (a \\uXXXX is 6 characters for one): input longer than this is refused
    without being read whole or decoded (/dev/zero, a log given by mistake)."""
    return 8 * max_payload + 65536


def longest_batch_line(max_payload: int) -> int:
    """The longest line of `enqueue --batch` that can hold a job: its payload, and the words
    of its command (escaped as JSON, up to 6 characters for a byte)."""
    return longest_json(max_payload) + 6 * MAX_COMMAND_BYTES


def encode(
    payload: Mapping[str, Any], max_bytes: int, source: str = "payload", line: int | None = None
) -> str:
    """The stored form; rejects payloads over `max_bytes`. Errors name `source`, and `line`
    after it when given: a batch of a hundred thousand lines formats no name per line."""
    try:
        text = compact_json(payload)
    except ValueError:
        raise PayloadError(
            f"{_where(source, line)}: {NOT_A_NUMBER} is not valid JSON; give it as a string"
        ) from None
    if text.isascii():  # as many bytes as characters: no need to encode it to count them
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise PayloadError(
                f"{_where(source, line)}: payload is not valid Unicode"
                " (a lone surrogate or undecodable byte)"
            ) from None
    if size > max_bytes:
        what = "" if source == "payload" and line is None else f"{_where(source, line)}: "
        raise PayloadError(
            f"{what}payload is {size} bytes, over the limit of {max_bytes} ([settings] max_payload)"
        )
    if text.count("[") + text.count("{") > MAX_DEPTH and too_deep(payload):
        raise PayloadError(f"{_where(source, line)}: {TOO_DEEP}")
    return text


MAX_DEPTH = 64  # levels of arrays and objects a payload may nest
# What a --batch line reads as Infinity or NaN (BATCH_DECODER), said as the user wrote it:
# 1e999 is JSON syntax, but out of range.
NOT_A_NUMBER = "a number that is NaN, Infinity or out of range (1e999)"
TOO_DEEP = f"payload nested too deeply (more than {MAX_DEPTH} levels)"


def too_deep(value: Any) -> bool:
    """More than MAX_DEPTH levels of nesting: JSON Python could read back only near its
    recursion limit, and so not from every caller. Walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return False


def _where(source: str, line: int | None) -> str:
    return source if line is None else f"{source}:{line}"


def placeholders(argv: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in argv:
        for match in PLACEHOLDER.finditer(part):
            if match.group(1):
                found.add(match.group(1))
    return found


def check_placeholders(argv: Sequence[str], payload: Mapping[str, Any], job: str) -> None:
    check_placeholder_values(placeholders(argv), payload, job)


def check_placeholder_values(used: AbstractSet[str], payload: Mapping[str, Any], job: str) -> None:
    """Every placeholder in `used` has a value, not null, and none holds a NUL (a batch knows
    `used` of its job types already, and does not scan their commands again for each line).
    A null would reach the command as the word `null` (`tar -czf null`)."""
    missing = sorted(used - payload.keys())
    if missing:
        names = ", ".join("{" + name + "}" for name in missing)
        raise PayloadError(f"job {job!r}: no payload value for placeholder {names}")
    for name in sorted(used):
        value = payload[name]
        if value is None:
            raise PayloadError(
                f"job {job!r}: the value of {{{name}}} is null: a placeholder needs a value"
            )
        try:
            text = value_text(value)
        except (ValueError, RecursionError):
            raise PayloadError(
                f"job {job!r}: the value of {{{name}}} is not valid JSON: nested too deeply,"
                f" or {NOT_A_NUMBER} (give such a number as a string)"
            ) from None
        if "\0" in text:
            # An argument cannot hold a NUL byte: refuse now rather than fail every attempt.
            raise PayloadError(f"job {job!r}: the value of {{{name}}} contains a NUL character")


def render_argv(argv: Sequence[str], payload: Mapping[str, Any], shell: bool) -> list[str]:
    """Fill placeholders; with `shell` every value is shell-quoted.

    A shell job given as a list is an argv: its elements are filled, then quoted whole and
    joined into the one command line the shell reads."""
    import shlex  # here, not at the top: enqueue never renders, and start-up counts

    if shell and len(argv) > 1:
        return [shlex.join(render_argv(argv, payload, False))]

    def fill(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        key = match.group(1)
        if key not in payload:
            raise PayloadError(f"no payload value for placeholder {{{key}}}")
        text = value_text(payload[key])
        return shlex.quote(text) if shell else text

    return [PLACEHOLDER.sub(fill, part) for part in argv]


def value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return compact_json(value)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"

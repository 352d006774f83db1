"""Text on its way to a terminal or a pipe: a locale that cannot encode it, a log tail with
progress output, characters that show nothing but disguise text, worker names that would
split a piped line's fields, and the units of an event's fields."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import Env
from test_core_worker import read_stderr_until

from jobctl.text import clean, json_safe

# ---------------------------------------------------------------------------------------------
# A locale that is not UTF-8

# A job's stderr that Latin-1 cannot encode: typographic quotes, a CJK word, an invalid byte
# (stored as U+FFFD).
FAILING_STDERR = "printf 'Fehler: Datei \u201cx\u201d fehlt \u65e5\u672c \\377\\n' >&2; exit 3"
NOT_LATIN1_JOB = (
    f"[jobs.fail]\ncommand = {json.dumps(['sh', '-c', FAILING_STDERR])}\nmax_attempts = 1\n"
)
READ_COMMANDS = [
    ["list"],
    ["show", "1"],
    ["dead", "list"],
    ["dead", "show", "1"],
    ["status"],
]


def _dead_job_not_latin1(env: Env) -> None:
    env.write_config(NOT_LATIN1_JOB)
    assert env.enqueue("fail", "--key", "\u9375") == 1
    env.run("run-worker", "--burst", check=True)


def _latin1_locale(folder: Path) -> dict[str, str]:
    """A real ISO-8859-1 locale, built where the test runs (no system has one installed)."""
    if shutil.which("localedef") is None:
        pytest.skip("localedef is missing")
    locales = folder / "locales"
    locales.mkdir()
    built = subprocess.run(
        ["localedef", "-i", "de_DE", "-f", "ISO-8859-1", str(locales / "de_DE.ISO-8859-1")],
        capture_output=True,
    )
    if not (locales / "de_DE.ISO-8859-1").is_dir():
        pytest.skip(f"localedef could not build a Latin-1 locale: {built.stderr!r}")
    return {"LOCPATH": str(locales), "LC_ALL": "de_DE.ISO-8859-1", "PYTHONIOENCODING": ""}


@pytest.mark.parametrize("how", ["locale", "PYTHONIOENCODING"])
def test_read_commands_under_latin1_escape_what_it_cannot_encode(env: Env, how: str) -> None:
    _dead_job_not_latin1(env)
    latin1 = _latin1_locale(env.root) if how == "locale" else {"PYTHONIOENCODING": "latin-1"}
    env.env = {k: v for k, v in (env.env | latin1).items() if v}
    for args in READ_COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "jobctl", *env.global_args(True, args), *args],
            capture_output=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )
        assert result.returncode == 0, (args, result.stderr)
        shown = result.stdout.decode("latin-1")
        if args[0] != "status":
            assert "Datei \\u201cx\\u201d fehlt \\u65e5\\u672c \\ufffd" in shown, (args, shown)
        assert "\\u9375" in shown or args[0] in ("status", "dead"), (args, shown)


def test_json_under_latin1_stays_utf8(env: Env) -> None:
    _dead_job_not_latin1(env)
    env.env |= {"PYTHONIOENCODING": "latin-1"}
    job = env.show(1)
    assert job["key"] == "\u9375"
    assert "Datei \u201cx\u201d" in str(job["error"])


# ---------------------------------------------------------------------------------------------
# dead show's log tail

PROGRESS = (
    "echo 'fetching https://example.org/big.iso'; echo 'resolving host... ok';"
    " for i in $(seq 1 100); do printf '\\r%3d%%' $i; done; echo;"
    " echo 'checksum mismatch' >&2; exit 1"
)
PROGRESS_JOB = (
    f"[jobs.download]\ncommand = {json.dumps(['sh', '-c', PROGRESS])}\nmax_attempts = 1\n"
)


def _dead_show(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run("dead", "show", "1", *args, check=True)


def test_a_log_tail_counts_lines_at_newlines_as_tail_does(env: Env) -> None:
    env.write_config(PROGRESS_JOB)
    env.enqueue("download")
    env.run("run-worker", "--burst", check=True)
    (attempt,) = json.loads(_dead_show(env, "--json", "--lines", "3").stdout)["attempts_history"]
    frames = "".join(f"\r{i:3d}%" for i in range(1, 101))
    assert attempt["log_tail"] == f"resolving host... ok\n{frames}\nchecksum mismatch"
    shown = _dead_show(env, "--lines", "4").stdout
    assert "fetching https://example.org/big.iso" in shown
    assert "checksum mismatch" in shown


def test_a_log_tail_is_the_text_as_written(env: Env) -> None:
    """Vertical tab, form feed, \\x1c, NEL and U+2028 end no line; \\r\\n ends one (its \\r
    kept); an undecodable byte is replaced."""
    env.write_config(
        "[jobs.odd]\n"
        'command = ["sh", "-c", "printf \'first\\\\r\\\\nsecond\\\\r\\\\n'
        "a\\\\013b\\\\014c\\\\034d\\\\302\\\\205e\\\\342\\\\200\\\\250f\\\\377\\\\n'; exit 1\"]\n"
        "max_attempts = 1\n"
    )
    env.enqueue("odd")
    env.run("run-worker", "--burst", check=True)
    (attempt,) = json.loads(_dead_show(env, "--json", "--lines", "2").stdout)["attempts_history"]
    assert attempt["log_tail"] == "second\r\na\x0bb\x0cc\x1cd\x85e\u2028f\ufffd"
    (attempt,) = json.loads(_dead_show(env, "--json", "--lines", "0").stdout)["attempts_history"]
    assert attempt["log_tail"] == ""


# ---------------------------------------------------------------------------------------------
# Characters that show nothing

# What clean escapes beyond the format characters (Cf): they are not Cf, or not yet assigned
# in every Python's Unicode (U+13439-1343F became Cf in Unicode 15, U+E0000 is unassigned).
NOT_FORMAT_YET_ESCAPED = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2028, 0x2029}
JOINERS = {0x200C, 0x200D}


def _escaped_alone(code: int) -> bool:
    """Whether `clean` escapes the character, between two letters (where a joiner stays)."""
    char = chr(code)
    return clean(f"a{char}b") != f"a{char}b"


def test_every_format_character_of_this_python_is_escaped() -> None:
    """The hard-coded ranges of jobctl.text, held to the running Python's Unicode data."""
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf"
        and code not in JOINERS
        and not _escaped_alone(code)
    ]
    assert not missed, f"format characters (Cf) shown raw: {missed}"


def test_nothing_visible_is_escaped() -> None:
    """Above C1, only format, separator, surrogate and filler characters are escaped, and
    code points this Python knows nothing of (a later Unicode may make them Cf)."""
    wrong = [
        f"U+{code:04X} ({unicodedata.category(chr(code))})"
        for code in range(0xA0, sys.maxunicode + 1)
        if _escaped_alone(code)
        and unicodedata.category(chr(code)) not in ("Cf", "Cs", "Cn")
        and code not in NOT_FORMAT_YET_ESCAPED
    ]
    assert not wrong, f"visible characters escaped: {wrong}"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("deploy\u2060", "deploy\\u2060"),  # word joiner
        ("deplo\u00ady", "deplo\\xady"),  # soft hyphen
        ("x\u061cy", "x\\u061cy"),  # Arabic letter mark
        ("x\U000e0041y", "x\\U000e0041y"),  # tag A ("ASCII smuggling")
        ("\u3164x\u115f", "\\u3164x\\u115f"),  # Hangul fillers
        ("\ufeffa\u180e", "\\ufeffa\\u180e"),
    ],
)
def test_invisible_characters_are_escaped(text: str, shown: str) -> None:
    assert clean(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family: one emoji
        "\u2764\ufe0f\u200d\U0001f525",  # after a variation selector
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: mi-khaham
        "\u0915\u094d\u200d\u0937",  # Devanagari: half form
    ],
)
def test_joiners_between_visible_characters_stay(text: str) -> None:
    assert clean(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\u200ddeploy", "\\u200ddeploy"),
        ("deploy\u200c", "deploy\\u200c"),
        ("a \u200db", "a \\u200db"),
        ("a\u200c b", "a\\u200c b"),
        ("a\u200d\u200db", "a\\u200d\\u200db"),
        ("a\u200d\u2060b", "a\\u200d\\u2060b"),
        # Between ASCII letters a joiner shapes nothing: de<ZWNJ>ploy passed for deploy.
        ("de\u200cploy", "de\\u200cploy"),
        ("bu\u200dild1", "bu\\u200dild1"),
        ("\u0434\u0435\u200c\u043f", "\u0434\u0435\\u200c\u043f"),  # Cyrillic: no joiners
        ("a\u200d\U0001f469", "a\\u200d\U0001f469"),
    ],
)
def test_joiners_at_an_edge_or_beside_a_blank_are_escaped(text: str, shown: str) -> None:
    assert clean(text) == shown


def test_json_escapes_tag_characters_as_surrogate_pairs() -> None:
    value = "x\U000e0041\u200dy\u3164"
    document = json_safe(json.dumps({"v": value}, ensure_ascii=False))
    assert document == '{"v": "x\\udb40\\udc41\\u200dy\\u3164"}'
    assert json.loads(document) == {"v": value}


def test_keys_that_only_look_alike_are_told_apart_in_list(env: Env) -> None:
    env.write_config('[jobs.echo]\ncommand = ["echo", "{msg}"]\n')
    for key in ("deploy", "deploy\u2060", "deplo\u00ady"):
        env.enqueue("echo", "--arg", "msg=a", "--key", key)
    env.enqueue("echo", "--arg", "msg=x\u061c\U000e0041y")
    listed = env.run("list", check=True).stdout
    assert "deploy\\u2060" in listed and "deplo\\xady" in listed
    shown = env.run("show", "4", check=True).stdout
    assert "x\\u061c\\U000e0041y" in shown


def test_importing_text_reads_no_unicode_data() -> None:
    """jobctl.text is on the enqueue path: its ranges are written out, not computed."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys, jobctl.text; print('unicodedata' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Worker names


@pytest.mark.parametrize(
    "name", ["build box 1", "a\tb", "a\u00a0b", "a\u3000b", "a\u3164b", "x ", "bu\u200dild1"]
)
def test_a_worker_name_with_blanks_is_refused(env: Env, name: str) -> None:
    result = env.run("run-worker", "--burst", "--worker-name", name)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "--worker-name" in result.stderr and "blanks" in result.stderr


def test_a_worker_name_of_quotes_and_non_ascii_letters_is_taken(env: Env) -> None:
    result = env.run("run-worker", "--burst", "--worker-name", 'w\u00f6rker-\u540d"1"')
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# Event fields


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_worker_stopping_gives_its_timeout_in_seconds(env: Env, fmt: str) -> None:
    worker = env.start("--log-format", fmt, "run-worker", "--shutdown-timeout", "7s")
    read_stderr_until(worker, "worker.started")
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0
    (line,) = [line for line in stderr.splitlines() if "worker.stopping" in line]
    if fmt == "json":
        event = json.loads(line)
        assert event["timeout_s"] == 7.0
        assert "timeout" not in event
    else:
        assert " timeout_s=7.0" in line and " timeout=" not in line


def test_an_event_line_escapes_a_printable_filler(env: Env) -> None:
    """A Hangul filler is a printable letter (str.isprintable) that draws as a blank."""
    stderr = "printf 'a\\343\\205\\244b\\n' >&2; exit 1"
    env.write_config(
        f"[jobs.fill]\ncommand = {json.dumps(['sh', '-c', stderr])}\nmax_attempts = 1\n"
    )
    env.enqueue("fill")
    result = env.run("--log-format", "text", "run-worker", "--burst", check=True)
    (line,) = [line for line in result.stderr.splitlines() if "job.dead" in line]
    assert 'error="exit code 1: a\\\\u3164b"' in line and "\u3164" not in line


def test_a_character_past_u_ffff_is_quoted_as_bash_reads_it(env: Env) -> None:
    """$'\\ue0041' was written for U+E0041, which bash reads as U+E004 and a "1"."""
    env.write_config('[jobs.echo]\ncommand = ["echo", "{msg}"]\n')
    env.enqueue("echo", "--arg", "msg=\U000e0041")
    from test_output_edges import run_on_terminal

    shown = run_on_terminal(env, "list", columns=120)
    assert "msg=$'\\U000e0041'" in shown, shown

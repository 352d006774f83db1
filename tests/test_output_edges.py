"""Output at its edges: stored text that would drive a terminal, text that is not valid
Unicode, input that is not UTF-8, and a database whose pages are damaged.

Jobs with hostile text are written through the real store (as a database written by an
older jobctl, a batch or another client may hold them; the command line now refuses some of
this text at the door); everything shown is printed by the real CLI, and the error text comes
from a real worker running a real command.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from test_observe_support import enqueue_at
from test_ops_support import start_worker

from jobctl.models import NewJob

# A wait on what jobctl's own commands say polls four times a second, not twenty: each look
# is a CLI call of some 40 ms of CPU, and the states waited for (a worker registered, a job
# running or finished) hold once reached.
POLL = 0.25

# The job writes this to stderr: it would clear the screen and turn everything red.
LOUD = r"""
[jobs.loud]
command = ["sh", "-c", 'printf "\033[2J\033[31mERR\n" >&2; exit 5']
max_attempts = 1

[jobs.ok]
command = ["true"]
"""
KEY = "k\x1b[31mX\nY"  # a colour change and a line break inside a unique key
KEY_SHOWN = "k\\x1b[31mX\\nY"
ERROR_SHOWN = "\\x1b[2J\\x1b[31mERR"


def run_bytes(
    env: Env, *args: str, stdin: bytes | None = None, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`jobctl ARGS` with its output as bytes: what reached the terminal or the script."""
    return subprocess.run(
        [*JOBCTL, *env.global_args(), *args],
        input=stdin,
        capture_output=True,
        env=env.env | (extra or {}),
        cwd=env.root,
        timeout=60,
    )


def run_on_terminal(
    env: Env, *args: str, columns: int = 250, terminal: dict[str, str] | None = None
) -> str:
    """`jobctl ARGS` with stdout on a pseudo-terminal 250 columns wide: the rich path.
    `terminal`: TERM, COLUMNS and LINES, in place of an xterm's that say the pty's size."""
    if terminal is None:
        terminal = {"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "50"}
    outer = {k: v for k, v in env.env.items() if k not in ("TERM", "COLUMNS", "LINES")}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    errors = env.root / "terminal-stderr"
    with errors.open("wb") as sink:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=sink,
            env=outer | terminal,
            cwd=env.root,
        )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer of the terminal is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert proc.wait(timeout=60) == 0, errors.read_text()
    return b"".join(chunks).decode("utf-8")


def assert_terminal_safe(text: str) -> None:
    """No C0 control but line ends, no DEL, no C1 control."""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, f"raw control characters {bad!r} in:\n{text}"


def _dead_loud_job(env: Env) -> int:
    env.write_config(LOUD)
    (job_id,) = enqueue_at(
        env, time.time(), NewJob(job="loud", payload={}, key=KEY, max_attempts=1)
    )
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "dead"
    return job_id


# ---------------------------------------------------------------------------------------------
# 1. Control characters in human views


def test_plain_views_show_control_characters_escaped(env: Env) -> None:
    job_id = _dead_loud_job(env)

    listed = env.run("list", check=True).stdout
    assert_terminal_safe(listed)
    rows = listed.splitlines()
    assert len(rows) == 2  # the header and one row: the key's newline split nothing
    assert KEY_SHOWN in rows[1] and ERROR_SHOWN in rows[1]

    for args in (["show", str(job_id)], ["dead", "show", str(job_id)]):
        shown = env.run(*args, check=True).stdout
        assert_terminal_safe(shown)
        lines = shown.splitlines()
        assert any(line.startswith("key") and line.endswith(KEY_SHOWN) for line in lines)
        assert any(line.startswith("error") and line.endswith(ERROR_SHOWN) for line in lines)
        if args[0] == "dead":  # the log tail: the job's output, inside jobctl's view
            assert f"    {ERROR_SHOWN}" in lines

    dead = env.run("dead", "list", check=True).stdout
    assert_terminal_safe(dead)
    assert len(dead.splitlines()) == 2 and ERROR_SHOWN in dead

    # Scripts get the exact data; `logs` is the job's own output, raw as `tail` would show it.
    document = json.loads(env.run("show", str(job_id), "--json", check=True).stdout)
    assert document["key"] == KEY and "\x1b[2J\x1b[31mERR" in document["error"]
    assert env.run("logs", str(job_id), check=True).stdout == "\x1b[2J\x1b[31mERR\n"

    # The one-line report of `enqueue --wait` on stderr is a human view too.
    start_worker(env)
    waited = env.run("enqueue", "loud", "--wait")
    assert waited.returncode == 5
    assert_terminal_safe(waited.stderr)
    assert len(waited.stderr.splitlines()) == 1 and ERROR_SHOWN in waited.stderr


def test_rich_tables_show_control_characters_escaped(env: Env) -> None:
    job_id = _dead_loud_job(env)
    for args in (["list"], ["show", str(job_id)], ["dead", "list"]):
        out = run_on_terminal(env, *args)
        assert "\x1b[1m" in out  # rich drew it (a bold header), not the plain path
        assert "\x1b[2J" not in out and "\x1b[31mX" not in out and "\x1b[31mERR" not in out
        assert ERROR_SHOWN in out
        if args != ["dead", "list"]:
            row = [line for line in out.splitlines() if KEY_SHOWN in line]
            assert row, out


# ---------------------------------------------------------------------------------------------
# 2. JSON is strict UTF-8


def test_json_is_strict_utf8_whatever_the_text_and_the_locale(env: Env) -> None:
    env.write_config(LOUD)
    command = ["echo", "\udcff", "é", "\x9b\x7f"]  # an undecodable argv byte, C1 and DEL
    (job_id,) = enqueue_at(
        env,
        time.time(),
        NewJob(job="exec", payload={}, payload_json='{"p":"\\udcfe"}', command=command),
    )
    for locale in ({}, {"PYTHONIOENCODING": "latin-1"}):
        for args in (["show", str(job_id), "--json"], ["list", "--json"]):
            result = run_bytes(env, *args, extra=locale)
            assert result.returncode == 0, result.stderr
            text = result.stdout.decode("utf-8")  # strict: a raw 0xFF byte fails here
            document = json.loads(text)
            job = document if args[0] == "show" else document[0]
            assert job["command"] == command and job["payload"] == {"p": "\udcfe"}
            assert "\\udcff" in text and "\\u009b\\u007f" in text and "é" in text

    # The human view of the same job neither fails on a strict stdout nor prints raw bytes.
    shown = run_bytes(env, "show", str(job_id), extra={"PYTHONIOENCODING": "utf-8"})
    assert shown.returncode == 0 and shown.stderr == b""
    text = shown.stdout.decode("utf-8")
    assert_terminal_safe(text)
    # The command as bash would need it pasted: the undecodable byte as that byte.
    assert "echo $'\\xff' é $'\\u009b\\x7f'" in text and '{"p": "\\udcfe"}' in text


# ---------------------------------------------------------------------------------------------
# 3. import-crontab reads stdin as a file, undecodable bytes line by line


def test_import_crontab_leaves_out_lines_that_are_not_utf8_and_converts_the_rest(
    env: Env,
) -> None:
    """Cron reads bytes: one Latin-1 comment must not refuse a whole crontab. An entry with
    such bytes is left out, by line number; a comment with them describes nothing."""
    crontab = env.root / "crontab"
    data = b"# sauvegarde compl\xe8te\n0 3 * * * backup\n* * * * * echo caf\xc3\n"
    crontab.write_bytes(data)
    for source, stdin in ((str(crontab), None), ("-", data)):
        result = run_bytes(env, "import-crontab", source, stdin=stdin)
        assert result.returncode == 0
        assert result.stderr.decode().splitlines() == [
            f"jobctl: {source}: line 3: not imported: the line is not UTF-8 text"
        ]
        table = re.search(rb"^\[jobs\.backup-[0-9a-f]{6}\]$", result.stdout, re.M)
        assert table is not None and b"sauvegarde" not in result.stdout
        assert b"echo" not in result.stdout[table.end() :]
        config = env.root / "imported.toml"
        config.write_bytes(result.stdout)
        checked = env.run("--config", str(config), "validate", config=False)
        assert checked.returncode == 0, checked.stderr

    # Valid text converts the same either way, CRLF line ends included.
    data = "# backup\r\n30 2 * * * tar -czf /b/x.tgz /srv  # café\r\n".encode()
    crontab.write_bytes(data)
    from_file = run_bytes(env, "import-crontab", str(crontab))
    from_stdin = run_bytes(env, "import-crontab", "-", stdin=data)
    assert from_file.returncode == from_stdin.returncode == 0
    assert from_stdin.stdout == from_file.stdout and b"caf\xc3\xa9" in from_stdin.stdout


def test_import_crontab_leaves_out_a_user_column_read_as_a_command(env: Env) -> None:
    """Debian's `/etc/crontab` line read without --system ran `root test -x ... || run-parts
    ...` as a command: the test failed (no program `root`) and the fallback ran. A user of
    this host that is no program, followed by a command, is left out with a pointer to
    --system; a command that merely shares a user's name and takes no command is kept."""
    data = (
        "25 6 * * * root test -x /usr/sbin/anacron || run-parts /etc/cron.daily\n0 3 * * * root\n"
    )
    result = env.run("import-crontab", "-", input=data)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "jobctl: -: line 1: not imported: 'root' is a user here, not a command: a line of"
        " the /etc/crontab format, with a user column? (give --system)"
    ]
    assert 'command = "root"' in result.stdout
    system = env.run("import-crontab", "--system", "-", input=data)
    assert 'user = "root"' in system.stdout and "run-parts" in system.stdout


def test_import_crontab_reads_files_of_etc_cron_d_with_their_user_column(env: Env) -> None:
    """Cron tells a system crontab by its place; so does jobctl, through links too."""
    files = sorted(Path("/etc/cron.d").glob("[!.]*")) if Path("/etc/cron.d").is_dir() else []
    if not files:
        pytest.skip("no file in /etc/cron.d on this host")
    link = env.root / "system-crontab"
    link.symlink_to(files[0])
    plain = env.run("import-crontab", str(link))
    system = env.run("import-crontab", "--system", str(link))
    assert plain.returncode == system.returncode == 0
    assert plain.stdout == system.stdout


def test_a_user_column_is_judged_on_the_crontab_s_own_path(env: Env) -> None:
    """`backup` is a Debian user; with the crontab's PATH naming the user's own bin, it is
    their script, not a user column."""
    bin_dir = env.root / "bin"
    bin_dir.mkdir()
    script = bin_dir / "backup"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    data = f"PATH={bin_dir}:/usr/bin:/bin\n0 3 * * * backup /srv/data\n"
    result = env.run("import-crontab", "-", input=data)
    assert (result.returncode, result.stderr) == (0, "")
    assert 'command = "backup /srv/data"' in result.stdout


def test_import_crontab_refuses_user_for_a_system_crontab(env: Env) -> None:
    files = sorted(Path("/etc/cron.d").glob("[!.]*")) if Path("/etc/cron.d").is_dir() else []
    if not files:
        pytest.skip("no file in /etc/cron.d on this host")
    result = env.run("import-crontab", "--user", "bob", str(files[0]))
    assert result.returncode == 2 and "names each line's user" in result.stderr


def test_import_crontab_leaves_out_lines_with_a_nul_so_its_output_validates(env: Env) -> None:
    data = b"* * * * * echo a\0b\nX=1\0\n0 3 * * * backup\n"
    result = run_bytes(env, "import-crontab", "-", stdin=data)
    assert result.returncode == 0
    assert result.stderr.decode().splitlines() == [
        "jobctl: -: line 1: not imported: the line contains a NUL character",
        "jobctl: -: line 2: not imported: the line contains a NUL character",
    ]
    env.write_config(result.stdout.decode())
    assert env.run("validate").returncode == 0


# ---------------------------------------------------------------------------------------------
# 4. health reads the data it vouches for


def _damage_page(db: Path, offset: int) -> None:
    """Overwrite the b-tree header of the page holding byte `offset`, as a disk fault
    would: every read of that page then fails with "database disk image is malformed"."""
    data = db.read_bytes()
    page_size = int.from_bytes(data[16:18], "big") or 65536
    start = offset - offset % page_size
    assert start > 0  # never page 1, the file header and the schema
    with db.open("r+b") as handle:
        handle.seek(start)
        handle.write(b"\xff" * 12)


def _checkpointed(db: Path) -> None:
    """Every committed page in the main file, no WAL left (no writer runs any more)."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize("target", ["oldest job", "middle job", "newest job", "statistics"])
def test_health_fails_on_a_damaged_page_that_breaks_list_or_enqueue(env: Env, target: str) -> None:
    env.write_config(LOUD)
    markers = [f"marker-{i:04d}-{'x' * 300}" for i in range(50)]  # 50 jobs over a few pages
    batch = "".join(json.dumps({"job": "ok", "payload": {"m": m}}) + "\n" for m in markers)
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    env.run("health", check=True)
    _checkpointed(env.db)

    if target == "statistics":  # this hour's counts: every enqueue and attempt writes them
        conn = sqlite3.connect(env.db)
        sql = "SELECT rootpage FROM sqlite_master WHERE name = 'stat_counts'"
        root = conn.execute(sql).fetchone()[0]  # a small table: its root is its only page
        conn.close()
        page_size = int.from_bytes(env.db.read_bytes()[16:18], "big")
        _damage_page(env.db, (root - 1) * page_size)
        broken = env.run("enqueue", "ok")
    else:
        index = {"oldest job": 0, "middle job": 25, "newest job": 49}[target]
        _damage_page(env.db, env.db.read_bytes().index(markers[index].encode()))
        broken = env.run("list")
    assert broken.returncode == 3 and "corrupt" in broken.stderr  # what a user would see

    for args in (["health"], ["health", "--json"]):
        result = env.run(*args)
        assert result.returncode == 1  # a failed check, as a full disk's
        line = f"database {env.db}: the database file is corrupt (disk image is malformed)"
        assert result.stderr.splitlines() == [f"jobctl: unhealthy: database: {line}"]
        if "--json" in args:
            assert json.loads(result.stdout)["checks"][0]["message"] == line
        else:
            assert "database" not in result.stdout  # only the checks that passed


def test_a_row_no_jobctl_wrote_is_one_line_not_a_traceback(env: Env) -> None:
    """A hand edit or damage that still decodes: every command says so in one line."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    first, second = env.enqueue("ok"), env.enqueue("ok")
    with sqlite3.connect(env.db) as conn:
        conn.execute("UPDATE jobs SET state = 'bogus' WHERE id = ?", (second,))
    for args in (["list"], ["show", str(second)], ["health"], ["status"]):
        result = env.run(*args)
        assert result.returncode in (1, 3), (args, result)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("jobctl: "), (args, result.stderr)
        if args[0] in ("list", "show"):  # they read the row: named as damage, not a bug
            assert "a job row cannot be read" in result.stderr, (args, result.stderr)
    assert env.show(first)["state"] == "queued"


def test_a_database_whose_lock_file_cannot_be_made_fails_at_once(env: Env) -> None:
    """/proc/version reads as an empty file, so it would be made a database: its lock file
    cannot exist, which used to be reported only after the 30 s lock timeout."""
    result = subprocess.run(
        [sys.executable, "-m", "jobctl", "--db", "/proc/version", "list"],
        capture_output=True,
        text=True,
        timeout=10,
        env=env.env,
        cwd=env.root,
    )
    assert result.returncode == 3, result
    # (A reader now refuses an empty file before it would lock anything.)
    assert result.stderr == (
        "jobctl: database /proc/version: is empty (0 bytes): no jobctl database, or one cut"
        " to nothing\n"
    )


def test_a_long_key_is_cut_in_a_terminal_table_but_kept_whole_in_a_pipe(env: Env) -> None:
    """A 1,000-character key turned a five-row `list` into pages of one folded column."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    key = "k" * 1000
    env.enqueue("ok", "--key", key)
    shown = run_on_terminal(env, "list")
    assert len(shown.splitlines()) == 2 and "k" * 150 + "…" in shown
    assert max(len(line) for line in _visible(shown).splitlines()) <= 250
    assert key in env.run("list", check=True).stdout


def _visible(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


WORDY = """
[jobs.wordy]
command = ["sh", "-c", 'echo "$1 went wrong, and here is the whole story of it" >&2; exit 3',
           "sh", "{what}"]
max_attempts = 1
"""


def test_a_terminal_table_cuts_long_cells_only_as_far_as_its_width_needs(env: Env) -> None:
    """A command was cut to 30 characters on any terminal, so that rows of `python3 -c ...`
    jobs could not be told apart; `show` folded its attempt row at 160 columns."""
    env.write_config(WORDY)
    command = ["echo", "the", "long", "command", "of", "a", "job", "people", "want", "to", "see"]
    exec_id = env.enqueue("--exec", "--", *command)
    wordy = env.enqueue("wordy", "--arg", "what=" + "something " * 3)
    env.run("run-worker", "--burst", check=True)
    error = env.show(wordy)["error"]  # a cell keeps it as it is, its double space too
    assert error.startswith("exit code 3: something")

    wide = _visible(run_on_terminal(env, "list", columns=250))
    assert " ".join(command) in wide and error in wide  # room for both: whole
    narrow = _visible(run_on_terminal(env, "list", columns=130))  # 110 without PAYLOAD
    lines = narrow.splitlines()
    assert len(lines) == 3 and max(len(line) for line in lines) <= 130  # no row folded
    row = next(line for line in lines if line.startswith(str(wordy)))
    assert "exit code 3: …" in row and row.rstrip().endswith("story of it")
    assert "echo the long" in next(line for line in lines if line.startswith(str(exec_id)))

    shown = _visible(run_on_terminal(env, "show", str(wordy), columns=160)).splitlines()
    attempt = shown[-1]
    assert attempt.startswith("1    1") and len(shown[-2].split()) == 10  # one line each
    assert "exit code 3: " in attempt and attempt.rstrip().endswith(f"{wordy}.1.log")


def test_a_piped_show_keeps_an_attempts_error_whole(env: Env) -> None:
    """Piped, `show` kept only an error's last 60 characters: `exit code 3` was lost."""
    env.write_config(WORDY)
    wordy = env.enqueue("wordy", "--arg", "what=" + "x" * 200)
    env.run("run-worker", "--burst", check=True)
    error = env.show(wordy)["error"]
    assert len(error) > 200
    assert env.run("show", str(wordy), check=True).stdout.splitlines()[-1].count(error) == 1


def test_import_crontab_fails_when_every_entry_was_left_out(env: Env) -> None:
    data = "25 6 * * * root test -x /usr/sbin/anacron || run-parts /etc/cron.daily\n"
    result = env.run("import-crontab", "-", input=data)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "jobctl: -: nothing imported: every entry was left out (see above)"
    )
    # An empty crontab is no mistake (one user's of many), yet it left a config of no job
    # without a word: `crontab -l` of none prints nothing on stdout.
    for data in ("# nothing here\n", "", "SHELL=/bin/bash\n\n"):
        empty = env.run("import-crontab", "-", input=data)
        assert (empty.returncode, empty.stderr) == (
            0,
            "jobctl: note: -: no crontab entry in the input (only comments, blank lines or"
            " variables); nothing imported\n",
        )
    # A MAILTO alone is a variable, warned of as such, and still no entry left out.
    mail_only = env.run("import-crontab", "-", input="MAILTO=me@example.com\n")
    assert mail_only.returncode == 0
    assert mail_only.stderr.splitlines()[-1].startswith("jobctl: note: -: no crontab")


def test_piped_list_has_every_column_and_value_so_fields_stay_in_place(env: Env) -> None:
    """grep and awk read the plain form: the default queue and priority 0 used to be blank
    cells, and the QUEUE, PRI and KEY columns came and went with the rows listed."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    plain = env.enqueue("ok")
    keyed = env.enqueue("ok", "--queue", "other", "--priority", "5", "--key", "kk")
    columns = ["ID", "JOB", "QUEUE", "STATE", "PRI", "TRIES", "CREATED", "WHEN", "KEY", "ERROR"]
    columns += ["COMMAND"]  # an --exec job's, last: its words move no field before them
    for args in ((), ("--queue", "default")):
        lines = env.run("list", *args, check=True).stdout.splitlines()
        assert lines[0].split() == columns
        fields = {int(line.split()[0]): line.split() for line in lines[1:]}
        assert fields[plain][:5] == [str(plain), "ok", "default", "queued", "0"]
        assert fields[plain][-4:] == ["-", "-", "-", "-"]  # WHEN, KEY, ERROR, COMMAND: none
    fields = env.run("list", "--queue", "other", check=True).stdout.splitlines()[1].split()
    assert fields[:5] == [str(keyed), "ok", "other", "queued", "5"]
    assert fields[-3:] == ["kk", "-", "-"]
    # A terminal leaves what is usual blank, and the columns no row fills out.
    shown = re.sub(r"\x1b\[[0-9;]*m", "", run_on_terminal(env, "list", "--queue", "default"))
    assert shown.splitlines()[0].split() == ["ID", "JOB", "STATE", "TRIES", "CREATED"]
    assert "default" not in shown


@pytest.mark.parametrize("unbuffered", [True, False])
def test_each_line_is_one_write_so_parallel_callers_never_glue_lines(
    env: Env, unbuffered: bool
) -> None:
    """Under PYTHONUNBUFFERED (set in many containers) an id and its newline went out in two
    writes, and `xargs -P` enqueues sharing a pipe printed `603603` and an empty line. A
    SOCK_SEQPACKET pair as stdout and stderr keeps each write apart, one packet each."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    extra = {"PYTHONUNBUFFERED": "1"} if unbuffered else {}
    base = {k: v for k, v in env.env.items() if k != "PYTHONUNBUFFERED"}
    for args, stream in ((("enqueue", "ok"), "stdout"), (("enqueue", "nope"), "stderr")):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours, theirs:
            subprocess.run(
                [*JOBCTL, *env.global_args(), *args],
                stdin=subprocess.DEVNULL,
                stdout=theirs if stream == "stdout" else subprocess.DEVNULL,
                stderr=theirs if stream == "stderr" else subprocess.DEVNULL,
                env=base | extra,
                cwd=env.root,
                timeout=30,
            )
            theirs.close()
            packets = []
            while packet := ours.recv(65536):
                packets.append(packet.decode())
        assert len(packets) == 1, packets
        assert packets[0].endswith("\n") and packets[0].count("\n") == 1


def test_list_fits_an_80_column_terminal_by_leaving_created_out(env: Env) -> None:
    """At 80 columns (a plain terminal, tmux panes, CI log viewers) a listing with a queue,
    a priority, a key and an error folded every row onto two lines. The CREATED column goes
    first, before a job's name is cut (it was, to "schedule:i…"); a wider terminal keeps it."""
    env.write_config(
        '[jobs.cwd]\ncommand = ["true"]\n[jobs.hooked]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[schedules.inline]\ncommand = ["true"]\ncron = "@hourly"\nqueue = "q9"\npriority = 7\n'
    )
    env.enqueue("cwd")
    env.enqueue("hooked")
    env.run("schedule", "run", "inline", check=True)
    env.run("run-worker", "--burst", check=True)
    env.enqueue("cwd", "--key", "K1", "--delay", "1h")
    narrow = _visible(run_on_terminal(env, "list", columns=80)).splitlines()
    assert len(narrow) == 5, "\n".join(narrow)  # the header and a line per job
    assert "CREATED" not in narrow[0] and "schedule:inline" in narrow[2]
    assert all(len(line.rstrip()) <= 80 for line in narrow)
    wide = _visible(run_on_terminal(env, "list", columns=120)).splitlines()
    assert "CREATED" in wide[0] and "schedule:inline" in wide[2]
    # Narrower still (a split pane), TRIES and PRI go next.
    narrower = _visible(run_on_terminal(env, "list", columns=70)).splitlines()
    assert len(narrower) == 5, "\n".join(narrower)
    # (Whether PRI goes too depends on the width of the WHEN texts, which the time taken sets.)
    assert "TRIES" not in narrower[0] and "STATE" in narrower[0]
    assert all(len(line.rstrip()) <= 70 for line in narrower)


def test_schedule_list_fits_an_80_column_terminal_by_leaving_policies_out(env: Env) -> None:
    """Its eight columns folded every row over five lines at 80 columns, and a ninth (LAST
    OK) came: CATCH-UP, OVERLAP, DESCRIPTION, CRON and ZONE go, in that order, as far as the
    width needs (the zone last: the times are in it); a wider terminal keeps them."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.backup]\njob = "t"\ncron = "30 2 * * *"\ntimezone = "Europe/Berlin"\n'
        '[schedules.tidy]\njob = "t"\ncron = "*/15 9-17 * * MON-FRI"\n'
        'description = "clears the spool folder of files older than a week"\n'
    )
    env.run("schedule", "run", "backup", check=True)
    env.run("run-worker", "--burst", check=True)
    narrow = _visible(run_on_terminal(env, "schedule", "list", columns=80)).splitlines()
    assert len(narrow) == 3, "\n".join(narrow)  # the header and a line per schedule
    assert narrow[0].split() == ["SCHEDULE", "NEXT", "LAST", "LAST", "OK"]
    assert all(len(line.rstrip()) <= 80 for line in narrow)
    assert " ago → succeeded (#1)" in narrow[1] and narrow[1].rstrip().endswith(" ago")
    wide = _visible(run_on_terminal(env, "schedule", "list", columns=250)).splitlines()
    assert wide[0].split()[-3:] == ["OVERLAP", "CATCH-UP", "DESCRIPTION"]
    assert "clears the spool folder of files older than a week" in wide[2]


def test_schedule_list_keeps_the_zone_its_times_are_in_longer_than_a_description(
    env: Env,
) -> None:
    """ZONE went before DESCRIPTION: at 100 columns NEXT showed 09:00 of Tokyo and 09:00 of
    the host's zone alike, with nothing saying which was which."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.backup]\njob = "t"\ncron = "30 2 * * *"\ntimezone = "Asia/Tokyo"\n'
        '[schedules.tidy]\njob = "t"\ncron = "*/15 9-17 * * MON-FRI"\n'
        'description = "clears the spool folder of files older than a week"\n'
    )
    env.run("schedule", "run", "backup", check=True)
    header = _visible(run_on_terminal(env, "schedule", "list", columns=100)).split()
    assert "ZONE" in header and "DESCRIPTION" not in header, header


def test_list_cuts_a_long_queue_name_rather_than_fold_rows(env: Env) -> None:
    """With a long queue name, a key and an error, every row still took two lines at 80
    columns: the queue name was folded mid-word."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[jobs.f]\ncommand = ["sh", "-c", "echo boom >&2; exit 3"]\nmax_attempts = 1\n'
    )
    env.enqueue("t")
    env.enqueue("--exec", "--priority", "-5", "--", "rsync", "-a", "/srv/data/", "b:/srv/data/")
    env.enqueue("t", "--queue", "nightly-reports")
    env.enqueue("f", "--key", "nightly-report-2026-11-30")
    env.run("run-worker", "--burst", check=True)
    shown = _visible(run_on_terminal(env, "list", columns=80)).splitlines()
    assert len(shown) == 5, "\n".join(shown)
    # Whole: a name tells rows apart, as a prefix does not (the payload or key gives way).
    assert "nightly-reports" in shown[2]


def test_piped_listings_name_an_exec_job_exec_and_give_its_command_last(env: Env) -> None:
    """Piped, an --exec job's JOB cell held its whole command line: `awk '{print $4}'` read
    `'echo` for its state. A terminal still shows the command as the JOB."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    ok = env.enqueue("ok")
    command = "sh -c 'echo a b; exit 3'"
    ran = env.enqueue("--exec", "--max-attempts", "1", "--", "sh", "-c", "echo a b; exit 3")
    env.run("run-worker", "--burst", check=True)
    lines = env.run("list", check=True).stdout.splitlines()
    assert lines[0].split()[-3:] == ["KEY", "ERROR", "COMMAND"]
    rows = {int(line.split()[0]): line for line in lines[1:]}
    assert rows[ran].split()[:5] == [str(ran), "exec", "default", "dead", "0"]
    assert rows[ran].endswith(f"exit code 3  {command}")
    assert rows[ok].split()[:4] == [str(ok), "ok", "default", "succeeded"]
    assert rows[ok].endswith("  -")
    dead = env.run("dead", "list", check=True).stdout.splitlines()
    assert dead[0].split() == ["ID", "JOB", "QUEUE", "TRIES", "FAILED", "ERROR", "COMMAND"]
    assert dead[1].split()[:4] == [str(ran), "exec", "default", "1/1"]
    assert dead[1].endswith(f"exit code 3  {command}")

    shown = _visible(run_on_terminal(env, "list")).splitlines()
    assert "COMMAND" not in shown[0]
    row = next(line for line in shown if line.startswith(str(ran)))
    assert row.split()[1:4] == ["sh", "-c", "'echo"]


@pytest.mark.parametrize("columns_set", [True, False])
def test_a_dumb_terminal_s_tables_take_its_width(env: Env, columns_set: bool) -> None:
    """Under TERM=dumb (Emacs's M-x shell, some CI ptys) rich took the terminal for 80
    columns, whatever COLUMNS (Emacs sets it, not LINES) or the terminal said: a
    200-column one cut every command."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    words = ["echo", *(f"word{n}" for n in range(20))]
    env.enqueue("--exec", "--", *words)
    for columns in (200, 60):
        terminal = {"TERM": "dumb"} | ({"COLUMNS": str(columns)} if columns_set else {})
        shown = _visible(run_on_terminal(env, "list", columns=columns, terminal=terminal))
        lines = shown.splitlines()
        assert len(lines) == 2 and max(len(line.rstrip()) for line in lines) <= columns
        if columns == 200:
            assert " ".join(words) in shown and "…" not in shown
        else:
            assert "echo word0" in shown and "…" in shown


def test_status_piped_names_a_running_exec_job_exec_and_gives_its_command_last(env: Env) -> None:
    """As `list` does: status's Running table, piped, held an --exec job's whole command in
    its JOB column, which moved the QUEUE and WORKER fields."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    running = env.enqueue("--exec", "--", "sh", "-c", "while [ ! -e go ]; do sleep 0.05; done")
    worker = env.start("run-worker")
    env.wait_for(lambda: env.show(running)["state"] == "running", timeout=20, interval=POLL)
    lines = env.run("status", check=True).stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ID", "JOB"])
    assert lines[head].split()[-1] == "COMMAND"
    assert lines[head + 1].split()[:3] == [str(running), "exec", "default"]
    (env.root / "go").touch()
    env.wait_for(lambda: env.show(running)["state"] == "succeeded", timeout=20, interval=POLL)
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)


LONG_WORKER = "build-server-01.example.com:w1"  # a --worker-name: a host's full name


def test_show_fits_its_attempts_in_80_columns_without_folding_a_cell(env: Env) -> None:
    """At 80 columns `show` folded STARTED, ENDED, WORKER and LOG into cells of four lines.
    The times are short there (the time alone, today), and the log's path, then the worker,
    go before any cell is folded; the error keeps jobctl's words and its end."""
    env.write_config(WORDY.replace("max_attempts = 1", 'max_attempts = 2\nbackoff = "10ms"'))
    wordy = env.enqueue("wordy", "--arg", "what=something")
    env.run("run-worker", "--burst", "--worker-name", LONG_WORKER, check=True)
    shown = _visible(run_on_terminal(env, "show", str(wordy), columns=80)).splitlines()
    table = shown[shown.index("") + 1 :]
    assert len(table) == 3, "\n".join(shown)  # the heading and a line per attempt
    assert all(len(line.rstrip()) <= 80 for line in table)
    assert "LOG" not in table[0].split() and "WORKER" not in table[0].split()
    for run, row in enumerate(table[1:], start=1):
        assert row.split()[0] == str(run)
        assert re.search(r"  \d\d:\d\d:\d\d  ", row) and not re.search(r"\.\d\d\d", row)
        assert "exit code 3: …" in row and row.rstrip().endswith("story of it")
    wide = _visible(run_on_terminal(env, "show", str(wordy), columns=250)).splitlines()
    assert LONG_WORKER in wide[-1] and wide[-1].rstrip().endswith(f"{wordy}.2.log")


def test_stats_drops_its_times_rather_than_fold_names_and_headings(env: Env) -> None:
    """At 100 to 120 columns `stats` folded its headings ("ENQUE" over "UED") and its
    names ("defaul" over "t"): the run and wait times go first, the P95s before the P50s."""
    env.write_config(
        '[jobs.nightly-report-eu]\ncommand = ["true"]\nqueue = "reports-eu"\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    for name in ("nightly-report-eu", "ok"):
        env.enqueue(name)
    env.run("run-worker", "--burst", check=True)
    headings = {"QUEUE", "JOB", "ENQUEUED", "PROCESSED", "OK", "FAILED", "DEAD", "CANCELLED"}
    headings |= {"PENDING", "SUCCESS", "RUN", "P50", "P95", "MAX", "WAIT"}
    for columns in (80, 100, 120):
        lines = _visible(run_on_terminal(env, "stats", columns=columns)).splitlines()
        assert len(lines) == 4, "\n".join(lines)  # the title, the heading, a line per row
        assert all(len(line.rstrip()) <= columns for line in lines)
        assert set(lines[1].split()) <= headings and "QUEUE" in lines[1].split()
        assert lines[2].split()[:2] == ["default", "ok"]
        assert lines[3].split()[:2] == ["reports-eu", "nightly-report-eu"]
    wide = _visible(run_on_terminal(env, "stats", columns=250)).splitlines()
    assert wide[1].split()[-7:] == ["RUN", "P50", "P95", "MAX", "WAIT", "P50", "P95"]


def test_status_never_folds_a_worker_s_id_on_a_60_column_terminal(env: Env) -> None:
    """At 60 columns `status` folded a worker's id over two lines, which can be neither read
    nor pasted: the columns that say least go instead, and no row takes two lines. In the
    Running table the worker (`show` has it) is cut at its end before the job or the queue;
    the Workers table keeps it whole."""
    gate = env.root / "gate"
    env.write_config(
        f'[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'
    )
    worker = env.start("run-worker", "--worker-name", LONG_WORKER)
    running = env.enqueue("slow", "--queue", "nightly-reports")
    env.wait_for(lambda: env.show(running)["state"] == "running", timeout=20, interval=POLL)
    try:
        lines = _visible(run_on_terminal(env, "status", columns=60)).splitlines()
        assert all(len(line.rstrip()) <= 60 for line in lines), "\n".join(lines)
        row = next(line for line in lines if line.startswith(f"{running} "))
        assert row.split()[1:3] == ["slow", "nightly-reports"], "\n".join(lines)
        worker_cell = row.split()[3]
        assert worker_cell.endswith("…") and LONG_WORKER.startswith(worker_cell[:-1])
        assert any(line.split()[:1] == [LONG_WORKER] for line in lines)  # the Workers table
        titles = ("Queues", "Running", "Workers")  # centred; a folded cell's line is indented
        assert all(not line.startswith(" ") or line.strip() in titles for line in lines)
        assert any(line.split()[:1] == ["nightly-reports"] for line in lines)
    finally:
        gate.touch()
        env.wait_for(lambda: env.show(running)["state"] == "succeeded", timeout=20, interval=POLL)
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)


def test_a_terminal_list_shows_each_job_s_payload_after_its_name(env: Env) -> None:
    """Three `enqueue echo --arg msg=...` gave three rows that read only "echo": finding the
    backup of /srv/data among thousands took `show` on each id. A terminal's PAYLOAD column
    gives what each job was given as `--arg` would ("" for none), quoted as a command is,
    control characters escaped, cut where the width needs; piped output keeps its fields."""
    env.write_config('[jobs.echo]\ncommand = ["true"]\n[jobs.ok]\ncommand = ["true"]\n')
    ids = {msg: env.enqueue("echo", "--arg", f"msg={msg}") for msg in ("alpha", "beta", "gamma")}
    backup = env.enqueue(
        "echo", "--payload", '{"path": "/srv/data", "n": 3, "s": "3", "on": true, "to": "a b"}'
    )
    bare = env.enqueue("ok")
    (loud,) = enqueue_at(env, time.time(), NewJob(job="echo", payload={"msg": "\x1b[2Jx\n"}))

    shown = _visible(run_on_terminal(env, "list"))  # rich's own colours taken out
    assert_terminal_safe(shown.replace("\r\n", "\n"))  # the pty's line ends
    lines = shown.splitlines()
    assert lines[0].split()[:3] == ["ID", "JOB", "PAYLOAD"]
    rows = {int(line.split()[0]): line for line in lines[1:]}
    for msg, job_id in ids.items():
        assert rows[job_id].split()[1:3] == ["echo", f"msg={msg}"]
    # As --arg takes them back: a number or a boolean after `:=`, the text "3" after `=`.
    assert "echo  path=/srv/data n:=3 s=3 on:=true to='a b'  " in rows[backup]
    assert rows[bare].split()[1:3] == ["ok", "queued"]  # an empty payload: an empty cell
    assert "msg=$'\\x1b[2Jx\\n'" in rows[loud]

    env.enqueue("echo", "--arg", "path=/srv/" + "data/" * 60)
    narrow = _visible(run_on_terminal(env, "list", columns=80)).splitlines()
    assert len(narrow) == 8 and all(len(line.rstrip()) <= 80 for line in narrow)  # no fold
    assert "path=/srv/data/" in narrow[1] and "…" in narrow[1]

    piped = env.run("list", check=True).stdout.splitlines()
    assert "PAYLOAD" not in piped[0] and piped[0].split()[-1] == "COMMAND"
    assert "msg=alpha" not in "\n".join(piped)


def test_a_terminal_dead_list_shows_each_job_s_payload(env: Env) -> None:
    """`dead list` read only the job type's name too: which file's conversion failed?"""
    env.write_config('[jobs.convert]\ncommand = ["false"]\nmax_attempts = 1\n')
    first = env.enqueue("convert", "--arg", "file=a.pdf")
    second = env.enqueue("convert", "--arg", "file=b c.pdf")
    env.run("run-worker", "--burst", check=True)
    lines = _visible(run_on_terminal(env, "dead", "list")).splitlines()
    assert lines[0].split()[:3] == ["ID", "JOB", "PAYLOAD"]
    rows = {int(line.split()[0]): line for line in lines[1:]}
    assert rows[first].split()[1:3] == ["convert", "file=a.pdf"]
    assert "convert  file='b c.pdf'  " in rows[second]
    assert "PAYLOAD" not in env.run("dead", "list", check=True).stdout


@pytest.mark.parametrize(("columns", "pty_columns", "width"), [("0", 0, 80), ("0", 120, 120)])
def test_a_columns_of_zero_is_read_as_unset(
    env: Env, columns: str, pty_columns: int, width: int
) -> None:
    """COLUMNS=0 made every table print nothing, exit 0: rich took it for a width of 0. It
    is read as unset (the terminal's width; a 0x0 terminal's being 80 columns)."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    words = ["echo", *(f"word{n}" for n in range(40))]
    job = env.enqueue("--exec", "--", *words)
    terminal = {"TERM": "xterm-256color", "COLUMNS": columns}
    lines = _visible(run_on_terminal(env, "list", columns=pty_columns, terminal=terminal))
    rows = lines.splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{job} "), lines
    assert max(len(row.rstrip()) for row in rows) == width  # the command cut to the width
    assert "echo word0" in rows[1] and "…" in rows[1]


def test_an_id_is_never_cut_however_narrow_the_terminal(env: Env) -> None:
    """COLUMNS=5 cut every id to "…": the table is wider than such a terminal instead."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    ids = [env.enqueue("ok", "--queue", "nightly-reports") for _ in range(3)]
    terminal = {"TERM": "xterm-256color", "COLUMNS": "5"}
    rows = _visible(run_on_terminal(env, "list", columns=5, terminal=terminal)).splitlines()
    assert rows[0].split()[:2] == ["ID", "JOB"]
    assert sorted(int(row.split()[0]) for row in rows[1:]) == ids
    assert all(row.split()[1] == "ok" for row in rows[1:])

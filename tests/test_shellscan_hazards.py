"""Commands that ran a payload value as shell code, and passed `validate`: arithmetic and
builtins that read their words as code in a `shell = true` script, a shell option that
takes a value hiding a later -c, shells by other names, and `env -S`.

Each is refused by `validate` with one line and exit code 2. Where this host has the shell,
the test first shows the hazard is real: the command, filled the way a worker fills it,
runs the value as code. Commands that only look alike still validate, and run safely.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Env

from jobctl.payload import render_argv


def validate(env: Env) -> subprocess.CompletedProcess[str]:
    """`jobctl validate` of the sandbox's config, made in this process: the same load and
    checks the command makes, and its exit code and lines (test_core_errors.py and the
    config tests drive the command itself). Some 500 cases here: a process each was a
    twelfth of the whole suite's time."""
    from jobctl.config import check_schedules, load_config_file
    from jobctl.errors import JobctlError

    try:
        config = check_schedules(load_config_file(env.config))
    except JobctlError as exc:
        return subprocess.CompletedProcess(["validate"], exc.exit_code, "", f"jobctl: {exc}\n")
    notes = "".join(f"jobctl: warning: {note}\n" for note in config.notes)
    return subprocess.CompletedProcess(["validate"], 0, f"{config.path}: ok\n", notes)


def refused(env: Env, command: str | list[str], shell: bool, says: str) -> None:
    env.write_config(_job_table(command, shell))
    result = validate(env)
    assert result.returncode == 2, (command, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jobctl: "), result.stderr
    assert "[jobs.j] command: " in lines[0], lines[0]
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def _job_table(command: str | list[str], shell: bool) -> str:
    return "[jobs.j]\n" + ("shell = true\n" if shell else "") + f"command = {json.dumps(command)}\n"


def runs_as_code(
    command: str | list[str], shell: bool, payload: dict[str, str], marker: Path, sh: str = "sh"
) -> None:
    """Fill `command` as a worker does and run it (a script with `sh`, as /bin/sh may be):
    the payload must create `marker`, which shows the hazard is real. Skipped on a host
    without that program."""
    argv = [command] if isinstance(command, str) else command
    filled = render_argv(argv, payload, shell)
    program = sh if shell else filled[0]
    if shutil.which(program) is None:
        return
    run = [program, "-c", filled[0]] if shell else filled
    subprocess.run(run, capture_output=True, timeout=20, stdin=subprocess.DEVNULL, check=False)
    assert marker.exists(), f"{run} did not run the payload: the test shows nothing"
    marker.unlink()


def validates_and_runs_values_as_data(env: Env, script: str, *values: str) -> None:
    """`validate` accepts the `shell = true` script, and filled with each value (`{marker}`
    stands for the file a hostile value would make), sh and bash run it as data: no marker.
    Beside the scripts: `script.sh` and `input.txt`, one line each."""
    env.write_config(_job_table(script, True))
    result = validate(env)
    assert result.returncode == 0, (script, result.stderr)
    marker = env.root / "pwned"
    (env.root / "script.sh").write_text("echo hi\n")
    (env.root / "input.txt").write_text("echo hi\n")
    for value in values:
        filled = render_argv([script], {"v": value.format(marker=marker)}, True)
        for sh in ("sh", "bash"):
            if shutil.which(sh):
                subprocess.run(
                    [sh, "-c", filled[0]],
                    capture_output=True,
                    timeout=20,
                    cwd=env.root,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
                assert not marker.exists(), (sh, script, value)


# -- Arithmetic and builtins in a shell = true script ------------------------------------------


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ("echo $(( {x} + 1 ))", "sh"),
        ("n=$(( {x} )); echo $n", "sh"),
        ("echo $(( 2 * ( {x} ) ))", "sh"),
        ("(( n = {x} ))", "bash"),
        ("for (( i = {x}; i < 0; i++ )); do :; done", "bash"),
        ("echo $[ {x} ]", "bash"),
        ("[[ {x} -eq 1 ]] && echo one", "bash"),
        ("if [[ 1 -lt {x} ]]; then :; fi", "bash"),
        ("let n={x}", "bash"),
        ("a=(1 2); echo ${a[{x}]}", "bash"),
        ("v=abc; echo ${v:{x}}", "bash"),
        ("a[{x}]=1", "bash"),
        ("x=$( [[ {x} -gt 0 ]] && echo y )", "bash"),
    ],
)
def test_a_placeholder_in_arithmetic_is_refused(env: Env, script: str, sh: str) -> None:
    # dash and bash expand $(...) inside $(( )) even from a quoted value, and bash runs the
    # index of a[...] in the text of a value it evaluates.
    marker = env.root / "pwned"
    runs_as_code(script, True, {"x": f"a[$(touch {marker})]"}, marker, sh)
    refused(env, script, True, says="arithmetic")


@pytest.mark.parametrize(
    ("script", "value", "says", "sh"),
    [
        ("trap {x} EXIT; echo bye", "touch {marker}", "after trap", "sh"),
        ("alias a={x}", "touch {marker}", "after alias", ""),
        (". {x}", "{marker}.sh", "after .", ""),
        ("source {x} && echo sourced", "{marker}.sh", "after source", ""),
        ("read -r {x} <<< 1", "a[$(touch {marker})]", "variable name of read", "bash"),
        ("printf -v {x} %s 1", "a[$(touch {marker})]", "variable name of printf", "bash"),
        ("declare {x}=1", "a[$(touch {marker})]", "variable name of declare", "bash"),
        ("f() {{ local -i n={x}; }}; f", "a[$(touch {marker})]", "variable name of local", "bash"),
        ("[[ -v {x} ]] || echo unset", "a[$(touch {marker})]", "variable name of [[ -v", "bash"),
        ("test -v {x} || echo unset", "a[$(touch {marker})]", "variable name of test -v", "bash"),
        ("mapfile -C {x} -c 1 lines <<< a", "touch {marker};:", "mapfile -C", "bash"),
        ("{{ eval {x}; }}", "touch {marker}", "after eval", "sh"),
    ],
)
def test_a_builtin_that_reads_a_value_as_code_is_refused(
    env: Env, script: str, value: str, says: str, sh: str
) -> None:
    marker = env.root / "pwned"
    (env.root / "pwned.sh").write_text(f"touch {marker}\n")
    if sh:
        runs_as_code(script, True, {"x": value.format(marker=marker)}, marker, sh)
    refused(env, script, True, says=says)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("eval $(printf %s {x})", "after eval"),
        ("sh -c `printf %s {x}`", "inside a shell script"),
        ("sh > /dev/null -c {x}", "inside a shell script"),
        ("bash <(printf %s {x})", "<(...)"),
        ("printf %s {x} | sh 2>/dev/null", "standard input"),
        ("( printf %s {x} ) | sh", "standard input"),
        ("printf %s {x} | nice -n 5 sh", "standard input"),
        ("printf %s {x} | bash --norc", "standard input"),
        ("printf %s {x} | . /dev/stdin", "standard input"),
    ],
)
def test_a_value_that_reaches_a_shell_another_way_is_refused(
    env: Env, script: str, says: str
) -> None:
    marker = env.root / "pwned"
    runs_as_code(script, True, {"x": f"touch${{IFS}}{marker}"}, marker, "bash")
    refused(env, script, True, says=says)


# -- Shells in an argv -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["bash", "--rcfile", "/dev/null", "-c", "echo {x}"],
        ["bash", "--init-file", "/dev/null", "-c", "echo {x}"],
        ["bash", "--norc", "--rcfile", "/dev/null", "-ec", "echo {x}"],
        ["bash", "-eo", "pipefail", "-c", "echo {x}"],
        ["bash", "-euO", "extglob", "-c", "echo {x}"],
        ["zsh", "--norcs", "-O", "-c", "echo {x}"],
        ["zsh", "-O", "-c", "echo {x}"],
        ["nice", "bash", "--rcfile", "/dev/null", "-c", "echo {x}"],
    ],
)
def test_an_option_that_takes_a_value_does_not_hide_the_c(env: Env, command: list[str]) -> None:
    marker = env.root / "pwned"
    runs_as_code(command, False, {"x": f"; touch {marker}"}, marker)
    refused(env, command, False, says="inside a shell script")
    # The same list in a shell = true job is one command line: refused there too.
    refused(env, command, True, says="inside a shell script")


@pytest.mark.parametrize(
    "shell",
    [
        "rbash",
        "rzsh",
        "zsh5",
        "bash5.2",
        "zsh-5.9",
        "/usr/local/bin/ksh93",
        "mksh",
        "yash",
        "posh",
        "pdksh",
        "lksh",
        "oksh",
        "/usr/bin/tcsh",
    ],
)
def test_a_shell_by_another_name_is_found(env: Env, shell: str) -> None:
    marker = env.root / "pwned"
    command = [shell, "-c", "echo {x}"]
    runs_as_code(command, False, {"x": f"; touch {marker}"}, marker)
    refused(env, command, False, says="inside a shell script")


@pytest.mark.parametrize(
    "command",
    [
        ["fish", "-C", "echo {x}"],
        ["fish", "--init-command", "echo {x}"],
        ["fish", "--command=echo {x}"],
        ["fish", "-cecho {x}"],
        ["su", "-lc", "echo {x}", "nobody"],
        ["su", "--command=echo {x}", "nobody"],
        ["script", "-qc", "echo {x}", "/dev/null"],
        ["/usr/bin/env", "-S", "bash -c", "echo {x}"],
    ],
)
def test_more_ways_to_name_a_shell_script_are_refused(env: Env, command: list[str]) -> None:
    marker = env.root / "pwned"
    if command[0] == "fish" or command[0] == "/usr/bin/env":
        runs_as_code(command, False, {"x": f"; touch {marker}"}, marker)
    refused(env, command, False, says="inside a shell script")


@pytest.mark.parametrize(
    "command",
    [
        ["busybox", "sh", "-c", "echo {x}"],
        ["/bin/busybox", "ash", "-ec", "echo {x}"],
        ["/bin/ash", "-c", "echo {x}"],
        ["/usr/bin/fish", "-c", "echo {x}"],
        ["bash", "-O", "extglob", "-c", "echo {x}"],
        ["zsh", "--emulate", "sh", "-c", "echo {x}"],
    ],
)
def test_shells_refused_before_still_are(env: Env, command: list[str]) -> None:
    """(Refused before these changes too: busybox's applet is a word of its own, ash and
    fish were known, and the value of --emulate is a shell's name.)"""
    refused(env, command, False, says="inside a shell script")


@pytest.mark.parametrize(
    "command",
    [
        ["env", "-S", "sh -c 'echo {x}'"],
        ["/usr/bin/env", "-iS", "PATH=/usr/bin:/bin sh -c 'echo {x}'"],
        ["env", "-Ssh -c 'echo {x}'"],
        ["env", "--split-string=sh -c 'echo {x}'"],
        ["env", "--split-string", "sh -c 'echo {x}'"],
        ["sudo", "-u", "nobody", "env", "-S", "echo {x}"],
    ],
)
def test_a_placeholder_inside_an_env_split_string_is_refused(env: Env, command: list[str]) -> None:
    marker = env.root / "pwned"
    if command[0] != "sudo":
        # env's own quotes: the value closes the single quote, a double-quoted part keeps
        # its space, and the value reopens the quote the string closes.
        runs_as_code(command, False, {"x": f"'\";touch {marker};\"'"}, marker)
    refused(env, command, False, says="env -S")


def test_a_value_where_a_shell_reads_its_options_is_refused(env: Env) -> None:
    # A first value -c makes the second the script.
    marker = env.root / "pwned"
    command = ["bash", "{script}", "{arg}"]
    runs_as_code(command, False, {"script": "-c", "arg": f"touch {marker}"}, marker)
    refused(env, command, False, says="where a shell reads its options")
    refused(env, ["sudo", "sh", "-e", "{a}", "{b}"], False, says="where a shell reads its options")


# -- What still validates --------------------------------------------------------------------


SAFE: list[tuple[str | list[str], bool]] = [
    (["echo", "{x}"], False),
    (["tar", "-czf", "{dest}", "{src}"], False),
    ("echo {x} | wc -c", True),
    ("grep -c {pattern} /var/log/syslog", True),
    ("echo $(( 6 * 7 )) {x}", True),
    ("n={x}; export FOO={x}; echo $n $FOO", True),
    ("[ {x} -eq 1 ] 2>/dev/null || expr {x} : '.*'", True),
    ("[[ {x} == a* ]] || echo {x}", True),
    ("echo $(printf %s {x} | tr a-z A-Z) `printf %s x`", True),
    ("trap 'echo bye' EXIT; read -r -p {x} line < /dev/null; printf '%s\\n' {x}", True),
    ("case {x} in *[!0-9]*) echo text;; *) echo number;; esac", True),
    ("diff <(echo {x}) <(echo {x}) && echo same", True),
    (["bash", "--", "{script}", "{arg}"], False),
    (["bash", "--norc", "-c", 'printf %s "$1"', "bash", "{x}"], False),
    (["bash", "-eo", "pipefail", "-c", 'printf %s "$1" | cat', "bash", "{x}"], False),
    (["sh", "-c", 'printf "%s %s" "$1" "$2"', "sh", "{a}", "{b}"], False),
    (["apt-get", "install", "-y", "zsh", "{a}", "{b}"], False),
    (["env", "FOO={x}", "printenv", "FOO"], False),
    (["env", "-S", "printf %s", "{x}"], False),
    (["fish", "-c", "echo $argv", "{x}"], False),
    (["flock", "/tmp/lock", "tar", "-czf", "{dest}", "{src}"], False),
    ("echo $(echo {label} | tr a-z A-Z) > label.txt; x=$(basename {path})", True),
    ("read -r x <<< {v}; printf '%s\\n' \"$x\"", True),
    ('while read -r l; do echo "$l"; done <<< {v} # a comment, and a#b', True),
    ("printf '%s\\n' {v} | (cd / && cat) | { sh -c 'cat'; }", True),
    ("echo ${{HOME}} \\\n  {v} $'\\t' a\\\\\n  {v}", True),
    ("cat <<'EOF'\nit's {{v}}\nEOF\necho {v}", True),
    # ${{HOME}} is the shell's ${HOME}, also in a script nested in the line: no placeholder.
    ("sh -c 'echo ${{HOME}}' && echo {v}", True),
    ("sh -c 'cd ${{HOME}} && ls \"$0\"' {v}", True),
    # A shell whose stdin is redirected reads its script from there, not from the pipe.
    ("find {dir} -name '*.sh' | sort | while read -r f; do bash < \"$f\"; done", True),
    ('ls {dir} | while read -r f; do sh -e < "$f" || echo failed; done', True),
    ("ls {dir} | while read -r f; do sh < /dev/null; done", True),
    ("cat {f} | (cd /srv; sh < deploy.sh)", True),
]


@pytest.mark.parametrize(("command", "shell"), SAFE)
def test_commands_that_only_look_alike_still_validate(
    env: Env, command: str | list[str], shell: bool
) -> None:
    env.write_config(_job_table(command, shell))
    result = validate(env)
    assert result.returncode == 0, result.stderr


def test_safe_commands_run_hostile_values_as_data(env: Env) -> None:
    marker = env.root / "pwned"
    value = f"a[$(touch {marker})]; touch {marker}"
    env.write_config(
        _job_table("echo {x} | wc -c; echo $(( 6 * 7 )) {x}; [ {x} = b ] || echo no", True)
        + _job_table(
            ["bash", "-eo", "pipefail", "-c", 'printf %s "$1" | cat', "bash", "{x}"], False
        ).replace("[jobs.j]", "[jobs.k]")
    )
    assert validate(env).returncode == 0
    ids = [env.enqueue(name, "--arg", f"x={value}") for name in ("j", "k")]
    env.run("run-worker", "--burst", check=True)
    assert [env.show(job_id)["state"] for job_id in ids] == ["succeeded", "succeeded"]
    assert not marker.exists()


def test_the_example_config_still_validates(env: Env) -> None:
    example = Path(__file__).resolve().parent.parent / "jobs.toml.example"
    env.write_config(example.read_text())
    result = validate(env)
    assert result.returncode == 0, result.stderr


# -- flock, su and runuser: only their own -c runs a shell -------------------------------------


RUNNERS_SAFE: list[list[str]] = [
    ["runuser", "-u", "deploy", "--", "git", "-C", "{repo}", "pull"],
    ["runuser", "-u", "build", "--", "make", "-C", "{dir}", "install"],
    ["runuser", "-u", "postgres", "--", "pg_dump", "-Fc", "{db}"],
    ["runuser", "-u", "build", "make", "-C", "{dir}"],  # (-C here is an error, not a shell)
    ["flock", "-n", "/run/lock/x", "gzip", "-c", "{file}"],
    ["flock", "/run/lock/x", "/opt/backup", "-c", "{config}"],
    ["flock", "-w", "5", "/run/lock/x", "-c", 'echo "$0"', "{x}"],
    ["su", "-c", 'echo "$0"', "nobody", "--", "{x}"],
    ["su", "nobody", "-s", "/bin/bash", "--", "/opt/job.sh", "-c", "{x}"],
]


@pytest.mark.parametrize("command", RUNNERS_SAFE)
def test_a_runner_takes_c_only_where_it_reads_its_own_options(env: Env, command: list[str]) -> None:
    for shell in (False, True):
        env.write_config(_job_table(command, shell))
        result = validate(env)
        assert result.returncode == 0, (command, shell, result.stderr)


@pytest.mark.parametrize(
    "command",
    [
        ["su", "-c", "echo {x}", "nobody"],
        ["su", "nobody", "-c", "echo {x}"],  # su reads options after the user too
        ["su", "-", "nobody", "-C", "echo {x}"],
        ["su", "nobody", "--", "-c", "echo {x}"],  # the user's shell gets -c CMD
        ["su", "nobody", "{x}"],  # a value -cCMD is su's option
        ["runuser", "-l", "x", "-c", "echo {x}"],
        ["runuser", "-u", "x", "--", "sh", "-c", "echo {x}"],
        ["sudo", "runuser", "-u", "x", "--", "bash", "-c", "echo {x}"],
        ["flock", "/tmp/l", "-c", "echo {x}"],
        ["flock", "-w", "5", "--", "/tmp/l", "--command", "echo {x}"],
        ["flock", "{opt}", "/tmp/l", "-c", "echo {x}"],  # {opt} may be -n: then -c is flock's
        ["flock", "/tmp/l", "sh", "-c", "echo {x}"],
    ],
)
def test_a_runner_that_runs_a_value_as_a_script_is_still_refused(
    env: Env, command: list[str]
) -> None:
    refused(env, command, False, says="inside a shell script")


def test_a_value_where_a_su_shell_reads_its_options_is_refused(env: Env) -> None:
    for command in (
        ["su", "nobody", "--", "{a}", "{b}"],
        ["runuser", "-u", "x", "--", "bash", "{a}", "{b}"],
    ):
        refused(env, command, False, says="where a shell reads its options")


def test_flock_runs_its_c_and_nothing_else(env: Env) -> None:
    lock = str(env.root / "lock")
    marker = env.root / "pwned"
    runs_as_code(["flock", lock, "-c", "echo {x}"], False, {"x": f"; touch {marker}"}, marker)
    refused(env, ["flock", lock, "-c", "echo {x}"], False, says="inside a shell script")
    # A -c after flock's command is that command's own: gzip -c reads the value as a file.
    command = ["flock", "-n", lock, "gzip", "-c", "{file}"]
    env.write_config(_job_table(command, False))
    assert validate(env).returncode == 0
    filled = render_argv(command, {"file": f"; touch {marker}"}, False)
    if shutil.which("flock") and shutil.which("gzip"):
        subprocess.run(filled, capture_output=True, timeout=20, check=False)
        assert not marker.exists()


# -- An index is arithmetic only where the shell assigns to it --------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "curl -d items[{key}]={value} https://example.com",
        "echo a[{i}]=b",
        "printf '%s\\n' x 2>/dev/null a[{i}]=b",
        "((cd {dir} && make) 2>&1)",
        "((cd {dir}) )",
    ],
)
def test_an_index_in_an_ordinary_word_is_no_arithmetic(env: Env, script: str) -> None:
    env.write_config(_job_table(script, True))
    result = validate(env)
    assert result.returncode == 0, (script, result.stderr)


def test_an_index_in_an_ordinary_word_runs_its_value_as_data(env: Env) -> None:
    marker = env.root / "pwned"
    script = "echo a[{i}]=b; ((cd {i} || true) 2>&1)"
    filled = render_argv([script], {"i": f"$(touch {marker})"}, True)
    for sh in ("sh", "bash"):
        if shutil.which(sh):
            subprocess.run([sh, "-c", filled[0]], capture_output=True, timeout=20, check=False)
            assert not marker.exists(), sh


@pytest.mark.parametrize(
    "script",
    [
        "a[{i}]=x",
        "n=1 a[{i}]=x; echo $n",
        "echo hi; a[{i}]+=x",
        "if true; then a[{i}]=1; fi",
        "( (a[{i}]=1) )",
        "> /dev/null a[{i}]=1",
        "a[1 + 2]=3 b[{i}]=4",
        "declare -a b a[{i}]=1",
        "export b a[{i}]=1",
        "let a[{i}]=1",
        "{cmd} a[{i}]=1",  # {cmd} may be declare
        "(( {x} + 1 ))",
        "((n={x}))",
        "(( ({x}) ))",
        "((({x})))",
    ],
)
def test_an_index_where_the_shell_assigns_is_still_refused(env: Env, script: str) -> None:
    marker = env.root / "pwned"
    if script.startswith(("a[", "n=1", "((")):
        payload = {"i": f"$(touch {marker})", "x": f"$(touch {marker})"}
        runs_as_code(script, True, payload, marker, "bash")
    env.write_config(_job_table(script, True))
    result = validate(env)
    assert result.returncode == 2, (script, result.stdout)
    assert "[jobs.j] command: " in result.stderr


# -- Backquotes, groups that receive a pipe, line continuations, comments ----------------------


@pytest.mark.parametrize(
    "script",
    [
        "echo `echo {label} | tr a-z A-Z` > /dev/null",
        "x=`basename {label}`; echo $x",
        "echo $(echo `echo {label}`)",
    ],
)
def test_a_placeholder_inside_backquotes_is_refused(env: Env, script: str) -> None:
    # `...` ends at the value's own backquote, quoted or not (bash runs the rest; dash
    # refuses it, and takes a backslash out of the value).
    marker = env.root / "pwned"
    runs_as_code(script, True, {"label": f"`;touch {marker};`"}, marker, "bash")
    refused(env, script, True, says="inside `...`")
    refused(env, "echo `echo {label} | tr a-z A-Z` > label.txt", True, says="write $(...)")


def test_dollar_parentheses_keep_a_hostile_value_data(env: Env) -> None:
    marker = env.root / "pwned"
    script = "echo $(echo {label} | tr a-z A-Z) > /dev/null; x=$(basename {label})"
    env.write_config(_job_table(script, True))
    assert validate(env).returncode == 0
    filled = render_argv([script], {"label": f"`;touch {marker};` a\\\\b"}, True)
    for sh in ("sh", "bash"):
        if shutil.which(sh):
            subprocess.run([sh, "-c", filled[0]], capture_output=True, timeout=20, check=False)
            assert not marker.exists(), sh


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ('printf "%s\\n" {v} | (sh)', "sh"),
        ('printf "%s\\n" {v} | (cd / && sh)', "sh"),
        ('printf "%s\\n" {v} | if true; then sh; fi', "sh"),
        ('printf "%s\\n" {v} | { true; sh; }', "sh"),
        ('printf "%s\\n" {v} | while read -r l; do sh; done', "sh"),
        ('printf "%s\\n" {v} | case a in a) sh;; esac', "sh"),
        ('printf "%s\\n" {v} | echo $(sh)', "sh"),
        ('printf "%s\\n" {v} | (cat) | sh', "sh"),
        ('{ printf "%s\\n" {v}; } | sh', "sh"),
        ('if true; then printf "%s\\n" {v}; fi | sh', "sh"),
        ("{ sh; } <<< {v}", "bash"),
        ("while read -r l; do bash; done <<< {v}", "bash"),
        ("<<< {v} sh", "bash"),
        ("sh <<< $(printf %s {v})", "bash"),
        ('printf "%s\\n" {v} | cat <(sh)', "bash"),
        ("printf %s {v} > >(sh)", ""),
    ],
)
def test_a_value_piped_into_a_group_that_runs_a_shell_is_refused(
    env: Env, script: str, sh: str
) -> None:
    # The group's stdin (a subshell, { }, if, while, case, $( ) or <( ) in it) is the
    # stdin of each command in it; a shell there reads the value as its script.
    marker = env.root / "pwned"
    if sh:
        runs_as_code(script, True, {"v": f"x\ntouch {marker}"}, marker, sh)
    refused(env, script, True, says="standard input")


def test_a_group_that_runs_a_shell_on_a_process_substitution_is_refused(env: Env) -> None:
    script = "{ sh; } < <(printf %s {v})"
    marker = env.root / "pwned"
    runs_as_code(script, True, {"v": f"touch {marker}"}, marker, "bash")
    refused(env, script, True, says="<(...)")


@pytest.mark.parametrize("script", ["echo $\\\n{v}", "echo $\\\n\\\n{v}"])
def test_a_placeholder_after_a_dollar_and_a_line_continuation_is_refused(
    env: Env, script: str
) -> None:
    # The shell takes the backslash-newline out first: bash then reads $'...', where the
    # value's backslash escapes its quote.
    marker = env.root / "pwned"
    runs_as_code(script, True, {"v": f"\\'X'; touch {marker}; #"}, marker, "bash")
    refused(env, script, True, says="right after a $")


@pytest.mark.parametrize(
    ("script", "value"),
    [
        ("echo C:\\{v}", "x; touch {marker} #"),
        ("echo C:\\{v}", "x\ntouch {marker} #"),
        ('echo "C:\\{v}"', '"; touch {marker}; "'),
        ("echo \\\\\\{v}", "x; touch {marker} #"),
        ("echo a\\\n\\{v}", "x; touch {marker} #"),
    ],
)
def test_a_placeholder_right_after_a_backslash_is_refused(
    env: Env, script: str, value: str
) -> None:
    # The backslash escapes the quote the value opens with: it validated, and ran the
    # value as code.
    marker = env.root / "pwned"
    runs_as_code(script, True, {"v": value.format(marker=marker)}, marker)
    refused(env, script, True, says="right after a backslash")


def test_a_backslash_the_shell_keeps_before_a_placeholder_is_data(env: Env) -> None:
    for script in ("echo C:\\\\{v}", "echo C:\\\n{v}", "echo '\\'{v}"):
        validates_and_runs_values_as_data(env, script, "x; touch {marker} #", '"; touch {marker}')


@pytest.mark.parametrize(
    "script",
    ["cat <<< {v} | sh", "tr a a <<< {v} | bash", "sh 0<<< {v}", "grep . <<< {v} | cat | sh"],
)
def test_a_here_string_piped_into_a_shell_is_refused(env: Env, script: str) -> None:
    marker = env.root / "pwned"
    runs_as_code(script, True, {"v": f"touch {marker}"}, marker, "bash")
    refused(env, script, True, says="fed to a shell's standard input")


def test_a_here_string_is_no_variable_name(env: Env) -> None:
    # <<< gives read its stdin; quoting holds there. The names of read are still checked.
    marker = env.root / "pwned"
    script = "read -r x <<< {v}; printf '%s\\n' \"$x\""
    env.write_config(_job_table(script, True))
    assert validate(env).returncode == 0
    filled = render_argv([script], {"v": f"a[$(touch {marker})]"}, True)
    if shutil.which("bash"):
        subprocess.run(["bash", "-c", filled[0]], capture_output=True, timeout=20, check=False)
        assert not marker.exists()
    refused(env, "read -r {v} <<< 1", True, says="variable name of read")
    refused(env, "read -r x <<< $(echo 1) {v}", True, says="variable name of read")


@pytest.mark.parametrize(
    ("script", "value", "says", "sh"),
    [
        ("echo hi # {x}", "\ntouch {marker} #", "in a comment", "sh"),
        ("echo a#b; eval {x}", "touch {marker}", "after eval", "sh"),
        ("ev\\\nal {x}", "touch {marker}", "after eval", "sh"),
        ("cat <<EOF\nfoo\\\nEOF\n{x}\nEOF", "$(touch {marker})", "here-document", "sh"),
        ('cat <<E"O"F\nE\n{x}\nEOF', "\nEOF\ntouch {marker}\n: ", "here-document", "sh"),
        ("echo $'a\\' {x} '", ";touch {marker};: ", "read differently", "bash"),
    ],
)
def test_what_the_shell_reads_before_words_is_followed(
    env: Env, script: str, value: str, says: str, sh: str
) -> None:
    """A comment (from a # that begins a word, to a newline a value can hold), line
    continuations (in here-document bodies too), a quoted delimiter, and $'...' with \\'
    in it, which bash and dash end at different quotes."""
    marker = env.root / "pwned"
    runs_as_code(script, True, {"x": value.format(marker=marker)}, marker, sh)
    refused(env, script, True, says=says)


# -- A redirected stdin is no pipe ---------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "printf %s {v} | sh < script.sh",
        "printf %s {v} | sh 0< script.sh",
        "printf %s {v} | sh 2>&1 < script.sh",
        "printf %s {v} | sh <> script.sh",
        "printf %s {v} | sh 3< script.sh <&3",
        "printf %s {v} | sh 0<&3 3< script.sh",  # (3 is not open yet: sh gets no stdin)
        "printf %s {v} | sh <&-",
        "printf %s {v} | sh <<< 'echo hi'",
        "printf %s {v} | sh <<EOF\necho hi\nEOF",
        "printf %s {v} | sh <<-'EOF'\n\techo $(date)\n\tEOF",
        "printf %s {v} | { true; sh; } < script.sh",
        "printf %s {v} | (cd . && sh) < script.sh",
        "printf %s {v} | while read -r l; do sh; done < script.sh",
        "printf %s {v} | { { sh; } < script.sh; }",
        "printf %s {v} | { cat < script.sh | sh; }",
        "printf %s {v} | sh < /dev/stdin < script.sh",  # (< /dev/stdin: the pipe, then the file)
        "printf %s {v} | sh < script.sh < /dev/stdin",  # (/dev/stdin is the file by then)
    ],
)
def test_a_shell_whose_stdin_is_redirected_runs_a_piped_value_as_data(
    env: Env, script: str
) -> None:
    validates_and_runs_values_as_data(env, script, "touch {marker}")


# Refused whatever the order of their redirections, though bash reads the file here.
_IN_ANY_ORDER = {"printf %s {v} | sh < /dev/fd/3 3<&0", "{ sh; } <<< {v} < script.sh"}


@pytest.mark.parametrize(
    "script",
    [
        "printf %s {v} | sh",
        "printf %s {v} | (sh)",
        "printf %s {v} | { sh; }",
        "printf %s {v} | sh < /dev/stdin",
        "printf %s {v} | sh 0< /dev/fd/0",
        "printf %s {v} | sh < /proc/self/fd/0",
        "printf %s {v} | sh < /dev//./stdin",
        "printf %s {v} | sh < /dev/std?n",
        "printf %s {v} | sh < `echo /dev/stdin`",
        "printf %s {v} | sh <&0",
        "printf %s {v} | sh 0<&0",
        "printf %s {v} | sh 1< script.sh",  # fd 1: stdin is still the pipe
        "printf %s {v} | sh 3<&0 <&3",
        "printf %s {v} | sh 3< /dev/stdin 0<&3",
        "printf %s {v} | sh < /dev/fd/3 3<&0",
        "printf %s {v} | { exec 3<&0; sh <&3; }",
        "printf %s {v} | { sh <&3; } 3<&0",
        "printf %s {v} | { sh; } < /dev/stdin",
        "printf %s {v} | { sh < script.sh; sh; }",
        "printf %s {v} | { { sh; } < script.sh; sh; }",
        "printf %s {v} | { cat | sh; }",
        "printf %s {v} | echo $(sh) < script.sh",  # $( ) runs before the redirection
        "printf %s {v} | sh <<< $(cat)",
        'printf %s {v} | sh <<< "$(cat)"',
        "printf %s {v} | sh <<EOF\n$(cat)\nEOF",
        "printf %s {v} | sh <<EOF\n`cat`\nEOF",
        "printf %s {v} | sh < <(cat)",
        "printf %s {v} | cat > >(sh)",
        "sh <<< {v}",
        "sh < script.sh <<< {v}",
        "{ sh; } <<< {v} < script.sh",
    ],
)
def test_a_shell_that_still_reads_the_piped_value_is_refused(env: Env, script: str) -> None:
    # /dev/stdin, /dev/fd/0 and /proc/self/fd/0 are the pipe; so is a copy of fd 0, and
    # what a $(cat) or <(cat) there reads from it.
    marker = env.root / "pwned"
    (env.root / "script.sh").write_text("echo hi\n")
    if script not in _IN_ANY_ORDER and "> >(" not in script:  # (>( ) runs after bash exits)
        filled = render_argv([script], {"v": f"touch {marker}"}, True)
        subprocess.run(
            ["bash", "-c", filled[0]], capture_output=True, timeout=20, cwd=env.root, check=False
        )
        assert marker.exists(), f"{script} did not run the payload: the test shows nothing"
        marker.unlink()
    refused(env, script, True, says="standard input")


# -- xargs, double-quoted substitutions, <(cat) as a script, exec's stdin ------------------------


@pytest.mark.parametrize(
    "script",
    [
        "printf %s {v} | xargs sh -c",
        "printf '%s\\n' {v} | xargs -I{{}} sh -c '{{}}'",
        "printf %s {v} | xargs bash -c",
        "printf %s {v} | xargs -0 sh -c",
        "printf %s {v} | xargs -n1 sh -c",
        "printf %s {v} | xargs --max-args=1 sh -c",
        "printf %s {v} | xargs -r -- nice sh -ec",
        "printf %s {v} | { xargs sh -c; }",
        "xargs sh -c <<< {v}",
        "printf %s {v} | parallel sh -c",
        "printf %s {v} | parallel --pipe sh",
        "printf %s {v} | xargs eval",
    ],
)
def test_a_value_that_xargs_makes_a_shell_script_is_refused(env: Env, script: str) -> None:
    # xargs makes the words of its stdin arguments of its command: the -c script of a shell.
    marker = env.root / "pwned"
    if "parallel" not in script and "eval" not in script and shutil.which("xargs"):
        runs_as_code(script, True, {"v": f"touch${{IFS}}{marker}"}, marker, "bash")
    refused(env, script, True, says="standard input")


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ('printf "%s\\n" {v} | echo "$(sh)"', "sh"),
        ('printf "%s\\n" {v} | echo "a $(sh) b" > /dev/null', "sh"),
        ('printf "%s\\n" {v} | echo "`sh`"', "sh"),
        ('printf "%s\\n" {v} | {{ x="$(sh)"; echo "$x"; }}', "sh"),
        ('printf "%s\\n" {v} | sh <(cat)', "bash"),
        ('printf "%s\\n" {v} | bash <(tee /dev/null)', "bash"),
        ('printf "%s\\n" {v} | {{ bash <(cat); }}', "bash"),
        ('printf "%s\\n" {v} | bash <(echo "$(cat)")', "bash"),
        ('printf "%s\\n" {v} | . <(cat)', "bash"),
        ("exec <<< {v}; sh", "bash"),
        ("exec < <(printf %s {v}); sh", "bash"),
        ("exec 3<<< {v}; sh <&3", "bash"),
        ("{{ exec <<< {v}; echo start; sh; }}", "bash"),
        ("exec <<< {v}; xargs sh -c", "bash"),
    ],
)
def test_a_value_read_by_a_shell_another_way_is_refused(env: Env, script: str, sh: str) -> None:
    """A $( ) or ` ` in double quotes runs on the stdin of its command, as one outside them
    does; a shell runs the file <(cat), which is what its stdin brings; and exec with only
    redirections makes a value the stdin of every later command."""
    marker = env.root / "pwned"
    runs_as_code(script, True, {"v": f"touch${{IFS}}{marker}"}, marker, sh)
    refused(env, script, True, says="standard input")


SAFE_TOO: list[str] = [
    "printf %s {v} | xargs rm --",
    "printf %s {v} | xargs -0 rm --",
    "printf %s {v} | xargs -0 ls",
    "printf '%s\\n' {v} | xargs -n1 basename",
    "printf '%s\\n' {v} | xargs sh -c 'echo \"$@\"' sh",
    'echo "$(date)" {v}',
    'echo "today: $(date +%F) `hostname`" {v}',
    'printf %s {v} | echo "$(date)" "`pwd`"',
    "exec 2>&1; echo {v}",
    "exec > log.txt; echo {v}",
    "exec 3< input.txt; echo {v}; sh < script.sh",
    'exec <<< {v}; read -r x; echo "$x"',
    "printf %s {v} | bash <(cat script.sh)",
    "printf %s {v} | bash <(echo 'read -r x; echo \"$x\"')",
    "diff <(echo {v}) <(cat script.sh)",
]


@pytest.mark.parametrize("script", SAFE_TOO)
def test_near_misses_still_validate_and_run_values_as_data(env: Env, script: str) -> None:
    validates_and_runs_values_as_data(env, script, "x; touch${{IFS}}{marker}")


# -- What a $( ) read on a piped stdin, run as code; a -c script that runs its stdin ------------


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ('printf %s {v} | sh -c "$(cat)"', "sh"),
        ('printf %s {v} | bash -c "$(cat)"', "bash"),
        ("printf %s {v} | sh -c $(cat)", "sh"),
        ('printf %s {v} | sh -c "`cat`"', "sh"),
        ('printf %s {v} | bash -c "echo start; $(cat)"', "bash"),
        ('printf %s {v} | eval "$(cat)"', "sh"),
        ("printf %s {v} | eval $(cat)", "sh"),
        ("printf %s {v} | eval `cat`", "sh"),
        ('printf %s {v} | eval "$(head -n 1)"', "sh"),
        ('printf %s {v} | eval "$(echo "$(cat)")"', "sh"),
        ('printf %s {v} | eval "$(cat)" < /dev/null', "sh"),  # $( ) runs before < /dev/null
        ('printf %s {v} | {{ eval "$(cat)"; }}', "sh"),
        ('printf %s {v} | (bash -c "$(cat)")', "bash"),
        ('printf %s {v} | if true; then eval "$(cat)"; fi', "sh"),
        ('exec <<< {v}; eval "$(cat)"', "bash"),
        ('printf %s {v} | trap "$(cat)" EXIT', "sh"),
        ('printf %s {v} | . "$(cat)"', ""),  # (the value names the file it runs)
    ],
)
def test_a_piped_value_that_a_substitution_makes_code_is_refused(
    env: Env, script: str, sh: str
) -> None:
    # A $(cat) or `cat` reads the stdin of the command it is in: the value, where a pipe
    # brings it; as the -c script of a shell, or a word of eval, its quoting is gone.
    marker = env.root / "pwned"
    if sh:
        runs_as_code(script, True, {"v": f"touch${{IFS}}{marker}"}, marker, sh)
    refused(env, script, True, says="standard input")


@pytest.mark.parametrize(
    "script",
    [
        "printf %s {v} | $(cat)",
        "printf %s {v} | `cat`",
        "printf %s {v} | env LC_ALL=C $(cat)",
        'printf %s {v} | "$(cat)"',  # (the value names the program)
        "printf %s {v} | {{ $(cat); }}",
    ],
)
def test_a_piped_value_a_substitution_makes_the_command_is_refused(env: Env, script: str) -> None:
    """`printf {v} | $(cat)`: what the $( ) read on its stdin, the value, is the command
    and its arguments. It was left outside the scan."""
    marker = env.root / "pwned"
    if '"' not in script:  # split into words, the value runs touch with its argument
        runs_as_code(script, True, {"v": f"touch {marker}"}, marker, "sh")
    refused(env, script, True, says="standard input")


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ("printf %s {v} | sh -c 'eval \"$(cat)\"'", "sh"),
        ("printf %s {v} | bash -c 'eval `cat`'", "bash"),
        ("printf %s {v} | sh -c 'cat | sh'", "sh"),
        ("printf %s {v} | sh -c 'exec sh'", "sh"),
        ("printf %s {v} | sh -c 'sh -c \"$(cat)\"'", "sh"),
        ('printf %s {v} | sh -c "eval \\"\\$(cat)\\""', "sh"),
        ("printf %s {v} | {{ bash -c 'eval \"$(cat)\"'; }}", "bash"),
        ("sh -c 'eval \"$(cat)\"' <<< {v}", "bash"),
        ("printf %s {v} | xargs sh", "sh"),  # its words are the options of sh: -c SCRIPT
        ("printf %s {v} | xargs nice bash -e", "bash"),
        ("printf %s {v} | sh $(cat)", "sh"),
        ("printf %s {v} | bash `cat`", "bash"),
    ],
)
def test_a_shell_whose_script_runs_its_stdin_is_refused(env: Env, script: str, sh: str) -> None:
    # The -c script given literally is read as a script whose stdin brings the value; and
    # words split from the value may be a shell's options, -c and its script among them.
    marker = env.root / "pwned"
    value = f"-c touch${{IFS}}{marker}" if "sh -c" not in script else f"touch${{IFS}}{marker}"
    runs_as_code(script, True, {"v": value}, marker, sh)
    refused(env, script, True, says="standard input")


SAFE_FROM_STDIN: list[str] = [
    "printf %s {v} | sh -c 'cat > out.txt'",
    "printf %s {v} | sh -c 'read -r x; printf %s \"$x\" > out.txt'",
    "printf %s {v} | bash -c 'sha256sum | cut -c1-64'",
    "printf %s {v} | sh -c 'sh script.sh'",
    "printf %s {v} | sh -c 'sh < script.sh'",
    'printf %s {v} | sh -c \'wc -c; echo "$1"\' sh "$(cat)"',
    'echo "$(cat /etc/hostname)" {v}',
    'echo "$(cat input.txt)" {v}',
    "printf %s {v} | tee log.txt | wc -c",
    'x=$(cat input.txt); echo {v} "$x"',
    'printf %s {v} | echo "$(cat)"',
    'printf %s {v} | eval "$(cat script.sh)"',
    'printf %s {v} | eval "$(cat < script.sh)"',
    'printf %s {v} | sh -c "$(cat script.sh)"',
    'eval "$(cat)" <<< {v}',  # (the here-string is opened after $(cat) ran)
    'sh -c "$(cat)" < script.sh; echo {v}',
    "printf %s {v} | xargs sh --",
    "printf %s {v} | xargs sh script.sh",
    "printf %s {v} | xargs sh -c 'echo \"$@\"' sh",
]


@pytest.mark.parametrize("script", SAFE_FROM_STDIN)
def test_stdin_near_misses_still_validate_and_run_values_as_data(env: Env, script: str) -> None:
    validates_and_runs_values_as_data(
        env, script, "x; touch${{IFS}}{marker}", "-c touch${{IFS}}{marker}"
    )


# -- Commands that join their words into a line for a shell: watch, ssh -----------------------


def _runs_under_watch(
    command: list[str], payload: dict[str, str], marker: Path, until_shown: bytes | None = None
) -> bool:
    """Fill `command` (a watch command) and run it until the payload makes `marker`, or its
    screen shows `until_shown` (the command seen to have run), for at most 5 s: watch
    repeats its command until it is stopped. Whether it made `marker`."""
    filled = render_argv(command, payload, False)
    deadline = time.monotonic() + 5.0
    screen = b""
    with subprocess.Popen(
        filled,
        # (watch needs a terminal type; on a dumb one it shows only its title line)
        env={"PATH": "/usr/bin:/bin", "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as watch:
        assert watch.stdout is not None
        try:
            while not marker.exists() and time.monotonic() < deadline:
                if until_shown is not None and until_shown in screen:
                    break
                readable, _, _ = select.select([watch.stdout], [], [], 0.1)
                if readable:
                    chunk = os.read(watch.stdout.fileno(), 65536)
                    if not chunk:
                        break  # watch ended
                    screen += chunk
        finally:
            watch.kill()
    made = marker.exists()
    marker.unlink(missing_ok=True)
    return made


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        (["watch", "-n", "0.1", "-g", "-t", "ls -d {path}"], {"path": "/tmp; touch {marker}"}),
        (["watch", "-n", "0.1", "ls", "-d", "{path}"], {"path": "/tmp; touch {marker}"}),
        (["watch", "--interval=0.1", "--chgexit", "ls {p}"], {"p": "/tmp; touch {marker}"}),
        (["watch", "-t", "{cmd}", "-x", "ls", "{p}"], {"cmd": "touch {marker};", "p": "/"}),
    ],
)
def test_a_placeholder_in_the_command_of_watch_without_x_is_refused(
    env: Env, command: list[str], payload: dict[str, str]
) -> None:
    # Without -x (--exec), watch joins its command's words with spaces and runs them with
    # sh -c; a value where it reads options may be the command, and the -x its argument.
    marker = env.root / "pwned"
    if shutil.which("watch"):
        filled = {key: value.format(marker=marker) for key, value in payload.items()}
        assert _runs_under_watch(command, filled, marker), command
    refused(env, command, False, says="watch joins the words of its command")
    refused(env, command, True, says="watch joins the words of its command")


def test_watch_x_runs_its_command_without_a_shell(env: Env) -> None:
    marker = env.root / "pwned"
    for command in (
        ["watch", "-x", "ls", "{path}"],
        ["watch", "-n", "{secs}", "-x", "-t", "ls", "-d", "{path}"],
        ["watch", "--interval", "{secs}", "--exec", "ls", "{path}"],
        ["nice", "watch", "-tx", "ls", "{path}"],
    ):
        for shell in (False, True):
            env.write_config(_job_table(command, shell))
            result = validate(env)
            assert result.returncode == 0, (command, shell, result.stderr)
        if shutil.which("watch"):
            payload = {"path": f"/tmp; touch {marker}", "secs": "0.1"}
            # ls naming no such file shows the command ran, the path as data, not as code.
            ran_as_data = b"ls: cannot access"
            assert not _runs_under_watch(command, payload, marker, ran_as_data), command
    refused(env, ["watch", "-x", "sh", "-c", "ls {path}"], False, says="inside a shell script")


def _ssh_runs(command: list[str], payload: dict[str, str], marker: Path) -> bool:
    """Fill `command` (an ssh command to a host that does not exist) and run it: whether
    the payload made `marker`."""
    filled = render_argv(command, payload, False)
    subprocess.run(filled, capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    made = marker.exists()
    marker.unlink(missing_ok=True)
    return made


_SSH = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1"]


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ([*_SSH, "-o", "ProxyCommand=ssh -W %h:%p {v}", "nohost", "uptime"], "$(touch {m})"),
        ([*_SSH, "-oProxyCommand=nc {v} 22", "nohost", "uptime"], "$(touch {m})"),
        ([*_SSH, "-o", "proxycommand nc {v} 22", "nohost"], "$(touch {m})"),
        ([*_SSH, "-o", " ProxyCommand = nc {v} 22", "nohost"], "$(touch {m})"),
        (["ssh", "-o", "LocalCommand=echo {v}", "-o", "PermitLocalCommand=yes", "db1"], ""),
        (["ssh", "-o", "KnownHostsCommand=/opt/known-hosts {v}", "db1", "uptime"], ""),
    ],
)
def test_a_placeholder_in_a_command_ssh_runs_locally_is_refused(
    env: Env, command: list[str], value: str
) -> None:
    # ssh runs ProxyCommand (and LocalCommand, KnownHostsCommand) with the user's shell.
    marker = env.root / "pwned"
    if value and shutil.which("ssh"):
        assert _ssh_runs(command, {"v": value.format(m=marker)}, marker), command
    refused(env, command, False, says="ProxyCommand, LocalCommand or KnownHostsCommand")


_SCP = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1"]


@pytest.mark.parametrize(
    ("command", "payload", "says"),
    [
        (
            ["scp", *_SCP, "-o", "ProxyCommand=nc {v} 22", "/etc/hostname", "nohost:/tmp/x"],
            {"v": "$(touch {m})"},
            "ProxyCommand, LocalCommand or KnownHostsCommand",
        ),
        (
            ["sftp", *_SCP, "-oProxyCommand=nc {v} 22", "nohost"],
            {"v": "$(touch {m})"},
            "ProxyCommand, LocalCommand or KnownHostsCommand",
        ),
        (
            ["scp", *_SCP, "{src}", "/etc/hostname", "nohost:/tmp/x"],
            {"src": "-oProxyCommand=touch {m}"},
            "where ssh reads its options",
        ),
        (
            ["scp", *_SCP, "-S", "{ssh}", "/etc/hostname", "nohost:/tmp/x"],
            {"ssh": "{m}.sh"},  # a program of the payload's choosing, run in ssh's place
            "ProxyCommand, LocalCommand or KnownHostsCommand",
        ),
    ],
)
def test_a_placeholder_that_scp_or_sftp_hands_a_shell_is_refused(
    env: Env, command: list[str], payload: dict[str, str], says: str
) -> None:
    """scp and sftp give their -o to the ssh they run (ProxyCommand runs with a shell),
    read a value that starts with - as an option, and run -S as that ssh."""
    marker = env.root / "pwned"
    program = env.root / "pwned.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    filled = {k: v.format(m=marker) for k, v in payload.items()}
    if shutil.which(command[0]):
        before = {p.name for p in env.root.iterdir()}
        subprocess.run(
            render_argv(command, filled, False),
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
            cwd=env.root,
        )
        assert {p.name for p in env.root.iterdir()} != before, command  # the value ran
    refused(env, command, False, says=says)


def test_scp_with_values_as_its_files_validates(env: Env) -> None:
    for command in (
        ["scp", "-P", "{port}", "-i", "{key}", "--", "{src}", "{host}:/srv/in"],
        ["sftp", "-b", "{batch}", "--", "{host}"],
    ):
        env.write_config(_job_table(command, False))
        assert validate(env).returncode == 0, (command, validate(env).stderr)


@pytest.mark.parametrize(
    "command",
    [
        [*_SSH, "{host}", "uptime"],  # the value is an option, and uptime the destination
        [*_SSH, "nohost", "{cmd}", "uptime"],  # ssh reads options after the destination
        [*_SSH, "-o", "{option}", "nohost", "uptime"],
        [*_SSH, "-o", "{name}=touch {v}", "nohost"],
        [*_SSH, "-{flags}", "nohost", "uptime"],
    ],
)
def test_a_placeholder_that_may_be_an_ssh_option_is_refused(env: Env, command: list[str]) -> None:
    marker = env.root / "pwned"
    payload = {
        "host": f"-oProxyCommand=touch {marker}",
        "cmd": f"-oProxyCommand=touch {marker}",
        "option": f"ProxyCommand=touch {marker}",
        "name": "ProxyCommand",
        "v": str(marker),
        "flags": f"oProxyCommand=touch {marker}",
    }
    if shutil.which("ssh"):
        assert _ssh_runs(command, payload, marker), command
    refused(env, command, False, says="where ssh reads its options")


@pytest.mark.parametrize(
    ("command", "shell"),
    [
        (["ssh", "host", "ls {v}"], False),
        (["ssh", "host", "ls", "{v}"], False),
        (["ssh", "host", "ls", "--", "{v}"], False),  # (the remote shell reads the --)
        (["ssh", "-p", "2222", "-l", "deploy", "host", "-t", "ls", "{v}"], False),
        (["ssh", "-o", "BatchMode=yes", "--", "host", "ls", "{v}"], False),
        (["ssh", "-o", "RemoteCommand=ls {v}", "host"], False),
        (["sudo", "-u", "deploy", "ssh", "host", "ls {v}"], False),
        (["watch", "-x", "ssh", "host", "ls", "{v}"], False),
        ("ssh host ls {v}", True),
        ("ssh -T host ls -- {v} 2>&1 | tail -n 1", True),
    ],
)
def test_a_placeholder_in_the_remote_command_of_ssh_is_refused(
    env: Env, command: str | list[str], shell: bool
) -> None:
    """ssh joins the words after its destination into one line for the remote shell, as
    sh -c does with its script: quoting here does not reach there. (No sshd to show it.)"""
    refused(env, command, shell, says="remote shell")


SSH_SAFE: list[tuple[str | list[str], bool]] = [
    (["ssh", "-i", "{keyfile}", "host", "uptime"], False),
    (["ssh", "-p", "{port}", "-l", "{user}", "--", "{host}", "uptime"], False),
    (["ssh", "host", "-p", "{port}", "uptime"], False),
    (["ssh", "-J", "{jump}", "db1", "uptime"], False),
    (["ssh", "-o", "Port={port}", "-o", "User {user}", "db1", "uptime"], False),
    (["ssh", "-oProxyCommand=ssh -W %h:%p bastion", "deploy@{host}", "uptime"], False),
    (["apt-get", "install", "-y", "ssh", "watch", "{pkg}"], False),
    ("printf '%s\\n' {x} | ssh HOST 'read -r x; ls -- \"$x\"'", True),
    ("ssh -p {port} -- {host} uptime", True),
]


@pytest.mark.parametrize(("command", "shell"), SSH_SAFE)
def test_ssh_with_values_only_where_no_shell_reads_them_validates(
    env: Env, command: str | list[str], shell: bool
) -> None:
    env.write_config(_job_table(command, shell))
    result = validate(env)
    assert result.returncode == 0, (command, result.stderr)


def test_ssh_with_values_after_dash_dash_runs_them_as_data(env: Env) -> None:
    # After --, ssh reads no more options: a destination -oProxyCommand=... is no host.
    marker = env.root / "pwned"
    command = [*_SSH, "-o", "ProxyCommand=false", "-i", "{key}", "--", "{host}", "uptime"]
    env.write_config(_job_table(command, False))
    assert validate(env).returncode == 0
    if shutil.which("ssh"):
        hostile = {"key": f"$(touch {marker})", "host": f"-oProxyCommand=touch {marker}"}
        assert not _ssh_runs(command, hostile, marker)


# -- printf and wait: a value where they read options may take a variable name ----------------


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("printf {format} {name}", "where printf reads its options"),
        ("printf {format} x", "where printf reads its options"),
        ("printf -{format} x", "where printf reads its options"),
        ("sleep 0 & wait {format} $!", "where wait reads its options"),
        ("sleep 0 & wait -n {format}", "where wait reads its options"),
    ],
)
def test_a_placeholder_where_printf_reads_its_options_is_refused(
    env: Env, script: str, says: str
) -> None:
    # A value -va[$(...)] is printf's -v NAME (wait's -p NAME): bash expands the index.
    marker = env.root / "pwned"
    value = f"va[$(touch {marker})]" if "-{" in script else f"-va[$(touch {marker})]"
    if "wait" in script:
        value = f"-pa[$(touch {marker})]"
    runs_as_code(script, True, {"format": value, "name": "x"}, marker, "bash")
    refused(env, script, True, says=says)


@pytest.mark.parametrize(
    "script",
    [
        "printf '%s\\n' {v}",
        "printf -- {v}",
        "printf -- {v} x",
        "printf {v}",  # (alone, -vNAME has no format: printf stops)
        'printf -v out %s {v}; echo "$out"',
    ],
)
def test_printf_with_a_value_as_its_format_or_argument_still_validates(
    env: Env, script: str
) -> None:
    validates_and_runs_values_as_data(env, script, "-va[$(touch {marker})]", "x; touch {marker}")


# -- sg, and commands that run what a pipe brings them ----------------------------------------


def _own_group() -> str | None:
    """The name of this process's group, which sg and newgrp switch to without a password."""
    import grp
    import os

    try:
        return grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        return None


@pytest.mark.parametrize(
    "command",
    [
        ["sg", "extra", "-c", "echo {msg}"],
        ["sg", "extra", "{msg}"],  # with or without -c, sg runs its command with sh -c
        ["sg", "-", "extra", "-c", "echo {msg}"],
        ["nice", "sg", "extra", "-c", "echo {msg}"],
    ],
)
def test_a_placeholder_in_the_command_of_sg_is_refused(env: Env, command: list[str]) -> None:
    marker = env.root / "pwned"
    group = _own_group()
    if group is not None and shutil.which("sg"):
        shown = [group if word == "extra" else word for word in command]
        runs_as_code(shown, False, {"msg": f"hi; touch {marker}"}, marker)
    refused(env, command, False, says="sg runs its command with sh -c")
    refused(env, command, True, says="sg runs its command with sh -c")


# (script, the program it pipes into, whether running it needs root: su USER asks others
# for a password; "" for a program that is not run here)
PIPED_INTO_A_RUNNER: list[tuple[str, str, bool]] = [
    ("printf '%s\\n' {note} | su root", "su", True),
    ("printf '%s\\n' {note} | su - root", "", True),
    ("printf '%s\\n' {note} | su root -s /bin/sh", "su", True),
    ("printf '%s\\n' {note} | runuser -l root", "", True),
    ("printf '%s\\n' {note} | su root -c sh", "su", True),
    ("printf '%s\\n' {note} | sg {{group}}", "sg", False),
    ("printf '%s\\n' {note} | newgrp {{group}}", "newgrp", False),
    ("printf '%s\\n' {note} | sudo -s", "", False),
    ("printf '%s\\n' {note} | sudo -u alice -i", "", False),
    ("printf '%s\\n' {note} | script -q /dev/null", "", False),
    ("printf '%s\\n' {note} | at now", "", False),
    ("printf '%s\\n' {note} | at -m now + 1 minute", "", False),
    ("printf '%s\\n' {note} | batch", "", False),
    ("printf '%s\\n' {note} | ssh host", "", False),
    ("printf '%s\\n' {note} | ssh -T host 'bash -s'", "", False),
    ("printf '%s\\n' {note} | crontab -", "", False),
    ("printf '%s\\n' {note} | crontab -u alice", "", False),
    ("printf '%s\\n' {note} | pwsh -NoProfile", "", False),
    ("printf '%s\\n' {note} | expect", "", False),
    ("printf '%s\\n' {note} | sh -c 'su alice'", "", False),
]


@pytest.mark.parametrize(("script", "program", "root"), PIPED_INTO_A_RUNNER)
def test_a_value_piped_into_a_command_that_runs_what_it_reads_is_refused(
    env: Env, script: str, program: str, root: bool
) -> None:
    """su USER (with no -c), sg, newgrp, sudo -s and script start a shell that reads its
    stdin; at, batch and crontab - run it later with sh; ssh HOST runs it in the remote
    user's shell."""
    import os

    marker = env.root / "pwned"
    group = _own_group()
    runnable = program and shutil.which(program) and group and (os.geteuid() == 0 or not root)
    if runnable:
        shown = script.replace("{{group}}", str(group))
        runs_as_code(shown, True, {"note": f"touch {marker}"}, marker)
    refused(env, script, True, says="standard input")


@pytest.mark.parametrize(
    ("script", "sh"),
    [
        ("printf '%s\\n' {note} | ${SHELL:-sh}", "sh"),
        ("printf '%s\\n' {note} | ${{SHELL-sh}}", "sh"),  # (${SHELL-sh} is a placeholder)
        ("printf '%s\\n' {note} | ${SHELL:=sh}", "sh"),
        ('printf "%s\\n" {note} | "${SHELL:-sh}" -s', "sh"),
        ("printf '%s\\n' {note} | ${BASH:-bash}", "bash"),
        ("printf '%s\\n' {note} | ${{SHELL:-/bin/sh}}", "sh"),
        ("printf '%s\\n' {note} | ${RUNNER:-/bin/sh}", "sh"),
    ],
)
def test_a_shell_named_by_a_parameter_expansion_is_refused(env: Env, script: str, sh: str) -> None:
    # A default (or the variable itself, $SHELL or $BASH) names the shell that reads the pipe.
    marker = env.root / "pwned"
    if shutil.which("bash"):
        runs_as_code(script, True, {"note": f"touch {marker}"}, marker, sh)
    refused(env, script, True, says="standard input")
    refused(env, ["${SHELL:-sh}", "-c", "echo {x}"], True, says="inside a shell script")


RUNNERS_OF_WHAT_THEY_READ_SAFE: list[str] = [
    "printf '%s\\n' {x} | su-exec nobody cat",  # another program
    "printf '%s\\n' {x} | su root -c 'cat > out.txt'",
    "printf '%s\\n' {x} | sg {{group}} -c 'cat > out.txt'",
    "printf '%s\\n' {x} | sudo tee out.txt",
    "printf '%s\\n' {x} | ssh -n host",
    "printf '%s\\n' {x} | ssh host 'cat > out.txt'",
    "printf '%s\\n' {x} | at -f script.sh now",
    "printf '%s\\n' {x} | crontab -l",
    "printf '%s\\n' {x} | crontab input.txt",
    "printf '%s\\n' {x} | pwsh -File job.ps1",
    "printf '%s\\n' {x} | expect job.exp",
    "printf '%s\\n' {x} | ${PAGER:-cat} > out.txt",
]


@pytest.mark.parametrize("script", RUNNERS_OF_WHAT_THEY_READ_SAFE)
def test_a_value_piped_into_a_command_that_reads_it_as_data_validates(
    env: Env, script: str
) -> None:
    env.write_config(_job_table(script, True))
    result = validate(env)
    assert result.returncode == 0, (script, result.stderr)


def test_sg_with_no_value_in_its_command_validates_and_runs_values_as_data(env: Env) -> None:
    marker = env.root / "pwned"
    group = _own_group()
    for command in (
        ["sg", "extra", "id"],
        ["sg", "{group}", "-c", "id"],
        ["sg", "extra", "-c", 'printf "%s\\n" "$JOBCTL_PAYLOAD" > out.txt'],
    ):
        env.write_config(_job_table(command, False))
        assert validate(env).returncode == 0, command
    if group is not None and shutil.which("sg"):
        # The payload reaches sg's command in the environment, as data.
        command = ["sg", group, "-c", 'printf "%s\\n" "$JOBCTL_PAYLOAD" > out.txt']
        env.write_config(_job_table(command, False))
        job = env.enqueue("j", "--arg", f"x=$(touch {marker})")
        env.run("run-worker", "--burst", check=True)
        assert env.show(job)["state"] == "succeeded"
        assert not marker.exists()


# -- tmux and screen ---------------------------------------------------------------------------


def _runs_under_tmux(env: Env, command: list[str], payload: dict[str, str], made: Path) -> bool:
    """Fill `command` (a tmux command, given its own server: its words after "tmux" follow
    -S SOCKET), run it, and wait up to 10 s for `made` to appear: whether it did."""
    socket = env.root / "tmux.sock"
    filled = render_argv(command, payload, False)
    try:
        subprocess.run(
            [filled[0], "-S", str(socket), "-f", "/dev/null", *filled[1:]],
            capture_output=True,
            timeout=20,
            cwd=env.root,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        deadline = time.monotonic() + 10
        while not made.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return made.exists()
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True, check=False)


TMUX_REFUSED: list[tuple[str | list[str], bool, str]] = [
    (["tmux", "new-session", "-d", "{title}"], False, "tmux runs a one-word shell-command"),
    ("tmux new -d {title}", True, "tmux runs a one-word shell-command"),
    (["tmux", "new-window", "-d", "{t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "splitw", "-h", "make {t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "respawn-pane", "-k", "{t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "run-shell", "echo {t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "display-popup", "-E", "{t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "if-shell", "test -d {t}", "kill-server"], False, "one-word shell-command"),
    (["tmux", "if", "true", "run {t}"], False, "one-word shell-command"),  # a tmux command
    (["tmux", "pipe-pane", "-o", "cat >> {t}"], False, "one-word shell-command"),
    (["tmux", "send-keys", "-t", "s", "{t}", "Enter"], False, "send-keys types into a pane"),
    (["tmux", "-c", "echo {t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "new", "-d", "{a}", "{b}"], False, "where the command reads its options"),
    (["tmux", "kill-session", "-t", "old;", "new", "-d", "{t}"], False, "one-word shell"),
    (["tmux", "new-s", "-d", "{t}"], False, "tmux runs a one-word shell-command"),
    (["tmux", "new", "-d", "-s", "{name}", "top"], False, "tmux expands a format"),
    (["tmux", "new-window", "-c", "{dir}", "make", "all"], False, "tmux expands a format"),
    (["tmux", "list-sessions", "-F", "{fmt}"], False, "tmux expands a format"),
    (["tmux", "display-message", "-p", "{msg}"], False, "tmux expands a format"),
    (["screen", "-S", "s", "-X", "stuff", "{t}\\n"], False, "screen -X sends"),
    (["screen", "-S", "s", "-p", "0", "-X", "eval", "stuff {t}"], False, "screen -X sends"),
]


@pytest.mark.parametrize(("command", "shell", "says"), TMUX_REFUSED)
def test_a_placeholder_that_tmux_or_screen_hands_a_shell_is_refused(
    env: Env, command: str | list[str], shell: bool, says: str
) -> None:
    refused(env, command, shell, says=says)


def test_tmux_runs_a_one_word_command_with_a_shell(env: Env) -> None:
    """A single shell-command word goes to default-shell -c; several are run directly. (A
    session's name is a format too, whose #(...) tmux runs with the shell, but only when it
    expands the format, which a detached session does at no set moment: refused all the
    same, see TMUX_REFUSED.)"""
    if not shutil.which("tmux"):
        pytest.skip("no tmux here")
    marker = env.root / "pwned"
    one_word = ["tmux", "new-session", "-d", "{title}"]
    assert _runs_under_tmux(env, one_word, {"title": f"touch {marker}"}, marker)
    marker.unlink()
    # Several words: run directly, the value one argument (touch makes a file of that name).
    words = ["tmux", "new-session", "-d", "-c", str(env.root), "touch", "--", "{title}"]
    for shell in (False, True):
        env.write_config(_job_table(words, shell))
        assert validate(env).returncode == 0, shell
    made = env.root / "a; touch pwned"
    assert _runs_under_tmux(env, words, {"title": made.name}, made)
    assert not marker.exists()


TMUX_SAFE: list[list[str]] = [
    ["tmux", "kill-session", "-t", "{name}"],
    ["tmux", "has-session", "-t", "{name}"],
    ["tmux", "new-session", "-d", "-t", "{group}"],
    ["tmux", "new-session", "-d", "ls", "--", "{x}"],
    ["tmux", "new-window", "-n", "logs", "-e", "LEVEL={level}", "tail", "-f", "{file}"],
    ["tmux", "rename-window", "-t", "s", "{name}"],
    ["tmux", "send-keys", "-t", "{pane}", "C-c"],
    ["screen", "-dmS", "{name}", "tail", "-f", "{file}"],
    ["screen", "-dm", "sh", "-c", 'ls -- "$1"', "sh", "{x}"],
    ["screen", "-S", "{name}", "-X", "quit"],
]


@pytest.mark.parametrize("command", TMUX_SAFE)
def test_tmux_and_screen_with_values_as_arguments_validate(env: Env, command: list[str]) -> None:
    for shell in (False, True):
        env.write_config(_job_table(command, shell))
        result = validate(env)
        assert result.returncode == 0, (command, shell, result.stderr)


# -- PowerShell, expect, GNU parallel, git and rsync -------------------------------------------


OTHER_RUNNERS_REFUSED: list[tuple[list[str], str]] = [
    (["pwsh", "-c", "{t}"], "PowerShell code"),
    (["pwsh", "-NoProfile", "-Command", "Write-Output", "{t}"], "PowerShell code"),
    (["powershell", "-command", "echo {t}"], "PowerShell code"),
    (["powershell", "{t}"], "PowerShell code"),  # its first operand is the command
    (["pwsh", "-EncodedCommand", "{t}"], "PowerShell code"),
    (["pwsh", "{a}", "{b}"], "PowerShell code"),  # {a} may be -c
    (["expect", "-c", "{t}"], "Tcl code"),
    (["expect", "-d", "-c", "send {t}"], "Tcl code"),
    (["expect", "{script}"], "Tcl code"),  # a value -cCMDS is -c with its script
    (["parallel", "{t}", ":::", "a"], "GNU parallel joins the words"),
    (["parallel", "-j", "4", "echo", "{t}", ":::", "a"], "GNU parallel joins the words"),
    (["parallel", "--ssh", "{t}", "-S", "host", "echo", ":::", "a"], "GNU parallel joins"),
    (["git", "-c", "core.pager={t}", "log"], "git config value that git runs"),
    (["git", "-c", "core.editor={t}", "commit"], "git config value that git runs"),
    (["git", "-c", "core.sshCommand={t}", "fetch"], "git config value that git runs"),
    (["git", "-c", "diff.tool.command={t}", "diff"], "git config value that git runs"),
    (["git", "-c", "mergetool.m.cmd={t}", "mergetool"], "git config value that git runs"),
    (["git", "-c", "alias.x=!{t}", "x"], "git config value that git runs"),
    (["git", "-c", "credential.helper={t}", "fetch"], "git config value that git runs"),
    (["git", "-c", "{name}=less", "log"], "git config value that git runs"),
    (["git", "--config-env=core.pager={var}", "log"], "git config value that git runs"),
    (["git", "clone", "-c", "core.sshCommand={t}", "ssh://h/r", "d"], "git runs"),
    (["git", "clone", "--upload-pack={t}", "/srv/repo", "d"], "--upload-pack"),
    (["git", "config", "core.pager", "{t}"], "git config value that git runs"),
    (["git", "clone", "{url}", "dest"], "where git reads an option"),
    (["git", "fetch", "{remote}"], "where git reads an option"),
    (["git", "{a}", "{b}", "log"], "where git reads an option"),
    (["rsync", "-e", "{t}", "src/", "host:dest/"], "rsync's -e"),
    (["rsync", "-avze", "{t}", "src/", "host:dest/"], "rsync's -e"),
    (["rsync", "--rsh={t}", "src/", "host:dest/"], "rsync's -e"),
    (["rsync", "--rsh", "{t}", "src/", "host:dest/"], "rsync's -e"),
    (["rsync", "--rsync-path={t}", "src/", "host:dest/"], "rsync's -e"),
    (["rsync", "-a", "{src}", "host:dest/"], "where rsync reads an option"),
    (["rsync", "-a", "{src}", "{dest}"], "where rsync reads an option"),
]


@pytest.mark.parametrize(("command", "says"), OTHER_RUNNERS_REFUSED)
def test_a_value_another_program_runs_as_code_is_refused(
    env: Env, command: list[str], says: str
) -> None:
    refused(env, command, False, says=says)
    refused(env, command, True, says=says)


@pytest.mark.parametrize(
    ("command", "value"),
    [
        (["git", "-c", "alias.x=!{t}", "x"], "touch {m}"),
        (["git", "-c", "core.sshCommand={t}", "ls-remote", "ssh://nohost/r"], "touch {m};:"),
    ],
)
def test_git_runs_a_config_value_with_a_shell(env: Env, command: list[str], value: str) -> None:
    marker = env.root / "pwned"
    if shutil.which("git"):
        filled = render_argv(command, {"t": value.format(m=marker)}, False)
        subprocess.run(
            filled, capture_output=True, timeout=30, cwd=env.root, env=env.env, check=False
        )
        assert marker.exists(), filled
    refused(env, command, False, says="git config value that git runs")


OTHER_RUNNERS_SAFE: list[list[str]] = [
    ["pwsh", "-File", "job.ps1", "{x}"],
    ["pwsh", "-NoProfile", "-File", "job.ps1", "-Name", "{x}"],
    ["pwsh", "job.ps1", "{x}"],  # (pwsh runs its first operand as a file)
    ["expect", "job.exp", "{x}"],
    ["expect", "-f", "job.exp", "{x}"],
    ["expect", "--", "{script}"],
    ["parallel", "gzip", ":::", "{file}"],
    ["parallel", "-j", "{jobs}", "gzip", "--", ":::", "{a}", "{b}"],
    ["parallel", "--joblog", "{log}", "gzip", "::::", "{list}"],
    ["git", "-c", "user.name={name}", "commit", "-m", "{message}"],
    ["git", "-C", "{dir}", "status"],
    ["git", "log", "--grep={text}"],
    ["git", "clone", "--", "{url}", "dest"],
    ["git", "fetch", "--", "{remote}"],
    ["git", "config", "user.email", "{email}"],
    ["git", "config", "--get", "core.pager"],
    ["rsync", "-a", "{src}", "dest/"],  # (no remote host: no -e to run)
    ["rsync", "-a", "--", "{src}", "host:dest/"],
    ["rsync", "-a", "--exclude", "{pattern}", "src/", "host:dest/"],
    ["rsync", "-e", "ssh -p 2222", "--", "{src}", "host:dest/"],
    ["apt-get", "install", "-y", "tmux", "git", "rsync", "parallel", "{pkg}"],
]


@pytest.mark.parametrize("command", OTHER_RUNNERS_SAFE)
def test_other_programs_with_values_as_data_validate(env: Env, command: list[str]) -> None:
    for shell in (False, True):
        env.write_config(_job_table(command, shell))
        result = validate(env)
        assert result.returncode == 0, (command, shell, result.stderr)


# -- A value after a -c script, run by the script ---------------------------------------------


@pytest.mark.parametrize(
    ("command", "value", "sh"),
    [
        (["sh", "-c", "$0", "{t}"], "touch {m}", "sh"),
        (["sh", "-c", '"$0"', "{t}"], "{m}.sh", "sh"),  # the value names the program
        (["bash", "-c", "echo $(( $1 + 1 ))", "x", "{t}"], "a[$(touch {m})]", "bash"),
        (["bash", "-c", "[[ ${{1}} -gt 0 ]]", "x", "{t}"], "a[$(touch {m})]", "bash"),
        (["sh", "-c", 'eval "$1"', "sh", "{t}"], "touch {m}", "sh"),
        (["sh", "-c", 'printf "%s\\n" "$1" | sh', "sh", "{t}"], "touch {m}", "sh"),
        (["sh", "-c", 'cd / && exec "$@"', "sh", "{t}", "x"], "{m}.sh", "sh"),
        (["sh", "-c", 'if "$1"; then :; fi', "sh", "{t}"], "{m}.sh", "sh"),
        (["sh", "-c", 'bash -c "$1"', "sh", "{t}"], "touch {m}", "bash"),
        # bash reads an offset as arithmetic, ${!1} the value as a name (its subscript
        # arithmetic), ${1@P} as a prompt whose $( ) runs; a here-string reaches the pipe;
        # $1x=1 is no assignment but the command, the value's first word.
        (["bash", "-c", "echo ${@:$1}", "sh", "{t}"], "a[$(touch {m})]", "bash"),
        (["bash", "-c", "echo ${1:0:$1}", "sh", "{t}"], "a[$(touch {m})]", "bash"),
        (["bash", "-c", "echo ${2:-${1:0:$1} x}", "sh", "{t}"], "a[$(touch {m})]", "bash"),
        (["bash", "-c", "echo ${!1}", "sh", "{t}"], "a[$(touch {m})]", "bash"),
        (["bash", "-c", "echo ${1@P}", "sh", "{t}"], "$(touch {m})", "bash"),
        (["bash", "-c", 'cat <<< "$1" | sh', "sh", "{t}"], "touch {m}", "bash"),
        (["bash", "-c", 'sh 0<<< "$1"', "sh", "{t}"], "touch {m}", "bash"),
        (["sh", "-c", "$1x=1", "sh", "{t}"], "touch {m} {m}", "sh"),
    ],
)
def test_a_value_the_script_runs_as_its_positional_parameter_is_refused(
    env: Env, command: list[str], value: str, sh: str
) -> None:
    marker = env.root / "pwned"
    program = env.root / "pwned.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    if shutil.which(sh):
        runs_as_code(command, False, {"t": value.format(m=marker)}, marker)
    refused(env, command, False, says="after a shell's -c script is its $0, $1")
    refused(env, command, True, says="after a shell's -c script is its $0, $1")


def test_a_value_su_passes_its_shell_as_a_positional_parameter_is_refused(env: Env) -> None:
    refused(env, ["su", "-c", "$0", "nobody", "--", "{x}"], False, says="its $0, $1")
    refused(env, "sh -c '$0' {x}", True, says="its $0, $1")


POSITIONAL_SAFE: list[list[str]] = [
    ["sh", "-c", 'echo "$0"', "{x}"],
    ["sh", "-c", 'ls -- "$1" $1', "sh", "{x}"],
    ["sh", "-c", 'test "$1" -gt 0 && echo "$(( 1 + 1 ))"', "sh", "{x}"],
    ["sh", "-c", 'cd / && "$@"', "sh", "ls", "{x}"],  # $1, the command, is no value
    ["sh", "-c", "echo '$1' \\$1 \"$1\" > /dev/null", "sh", "{x}"],
    ["sh", "-c", 'echo "$1" | wc -c', "sh", "{x}"],
    ["sh", "-c", "$0 --version", "ls"],  # no value there
    ["bash", "-c", 'echo "${1:-none}" "${1#-}" "${1@Q}" "${#1}" "${2:-$1}"', "sh", "{x}"],
    ["bash", "-c", 'A=1 B="$1" printf "%s\\n" "$1"; cat <<< "$1" | wc -c', "sh", "{x}"],
]


@pytest.mark.parametrize("command", POSITIONAL_SAFE)
def test_a_value_the_script_uses_as_an_argument_validates_and_stays_data(
    env: Env, command: list[str]
) -> None:
    marker = env.root / "pwned"
    for shell in (False, True):
        env.write_config(_job_table(command, shell))
        result = validate(env)
        assert result.returncode == 0, (command, shell, result.stderr)
    for value in (f"touch {marker}", f"a[$(touch {marker})]", f"; touch {marker}"):
        filled = render_argv(command, {"x": value}, False)
        subprocess.run(filled, capture_output=True, timeout=20, cwd=env.root, check=False)
        assert not marker.exists(), (command, value)

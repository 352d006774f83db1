"""Shell completion scripts (current, and working in real shells), --version, and --help with
an example on every command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import forkserver
import pytest
from conftest import Env

from jobctl.cli.completions import SCRIPTS, generate

COMPLETIONS = Path(__file__).resolve().parents[1] / "completions"
CONFIG = (
    '[jobs.backup]\ncommand = ["true"]\ndescription = "Nightly backup"\n'
    '[jobs."build:web"]\ncommand = ["true"]\nqueue = "builds"\n'
)


def test_completion_scripts_are_current() -> None:
    fresh = generate()
    assert set(fresh) == set(SCRIPTS.values())
    for name, text in fresh.items():
        stored = (COMPLETIONS / name).read_text(encoding="utf-8")
        assert stored == text, f"completions/{name} is stale: run `make completions`"


def _ask(env: Env, line: str) -> list[str]:
    """What jobctl answers the scripts for the command line `line` (cursor at its end).

    The call is a fork of the suite's server for the sandbox's environment: jobctl reads the
    two _JOBCTL_COMPLETE variables only as the command runs (cli/main.py, cli/entry.py),
    never as the interpreter starts or a module is imported, so they may differ from the
    server's as JOBCTL_ variables do."""
    environ = {**env.env, "_JOBCTL_COMPLETE": "complete_line", "_JOBCTL_COMPLETE_LINE": line}
    zygote = forkserver.zygote_for([], env.env)
    if zygote is not None:
        result = zygote.run([], environ=environ, cwd=env.root, input=None, timeout=60)
    else:
        result = subprocess.run(
            [sys.executable, "-m", "jobctl"],
            env=environ,
            cwd=env.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line for line in result.stdout.splitlines() if line]  # (none: one empty line)


def test_job_queue_and_state_names_complete_from_the_config(env: Env) -> None:
    env.write_config(CONFIG)
    assert _ask(env, "jobctl enqueue ") == ["backup\tNightly backup", "build:web"]
    assert _ask(env, "jobctl enqueue backup ") == []  # only the first word is a job name
    assert _ask(env, "jobctl enqueue --exec ") == []
    assert _ask(env, "jobctl list --job=bu") == ["build:web"]
    assert _ask(env, "jobctl dead retry --all -j b") == ["backup\tNightly backup", "build:web"]
    assert _ask(env, "jobctl list -s s") == ["scheduled", "succeeded"]
    assert _ask(env, "jobctl prune --state ") == ["succeeded", "dead", "cancelled"]
    assert _ask(env, "jobctl pause ") == ["builds", "default"]
    env.run("enqueue", "backup", "--queue", "adhoc", check=True)  # the database knows it
    assert _ask(env, f"jobctl --db {env.db} resume a") == ["adhoc"]
    other = env.root / "other.toml"
    other.write_text('[jobs.report]\ncommand = ["true"]\n')
    assert _ask(env, f"jobctl --config {other} enqueue ") == ["report"]
    other.write_text("not toml [")
    assert _ask(env, f"jobctl --config {other} enqueue ") == []  # never an error
    # The line comes raw from the script: a ~ the shell will expand is expanded here too.
    home = Path(env.env["HOME"])
    home.mkdir(exist_ok=True)
    (home / "proj.toml").write_text('[jobs.nightly]\ncommand = ["true"]\n')
    assert _ask(env, "jobctl -c ~/proj.toml enqueue ") == ["nightly"]


def test_a_queue_declared_only_by_its_limit_completes(env: Env) -> None:
    env.write_config(CONFIG + "[queues.slow]\nmax_running = 1\n")
    assert _ask(env, "jobctl pause ") == ["builds", "default", "slow"]
    assert _ask(env, "jobctl wait -q s") == ["slow"]


def test_the_job_filters_offer_exec_the_name_of_ad_hoc_commands(env: Env) -> None:
    """`list`, `wait` and `dead` take `--job exec` for the jobs queued with --exec; enqueue's
    job name is never it (that job is queued with --exec)."""
    env.write_config(CONFIG)
    exec_ = "exec\tCommands queued with enqueue --exec"
    for line in ("jobctl list --job ", "jobctl wait -j ", "jobctl dead list --job "):
        assert _ask(env, line) == ["backup\tNightly backup", "build:web", exec_]
    for line in ("jobctl dead retry --all -j e", "jobctl dead purge --job=ex"):
        assert _ask(env, line) == [exec_]
    assert _ask(env, "jobctl enqueue ") == ["backup\tNightly backup", "build:web"]
    assert _ask(env, "jobctl enqueue e") == []
    env.write_config("not toml [")
    assert _ask(env, "jobctl list --job ") == [exec_]  # a broken config: still no error


def test_a_bundle_of_short_options_is_read_as_click_parses_it(env: Env) -> None:
    env.write_config(CONFIG)
    jobs = ["backup\tNightly backup", "build:web"]
    assert _ask(env, "jobctl enqueue -xq ") == ["builds", "default"]  # the last one's value
    assert _ask(env, "jobctl enqueue -wq b") == ["builds"]
    assert _ask(env, "jobctl enqueue -xqbuilds ") == []  # a command's first word: the shell's
    assert _ask(env, "jobctl enqueue -qx ") == jobs  # x is -q's value: no --exec
    assert _ask(env, "jobctl enqueue -k -xq ") == jobs  # -xq is the key
    assert _ask(env, "jobctl list -sq ") == []  # q is -s's value
    assert _ask(env, "jobctl dead purge -yj ")[:2] == jobs


def test_schedule_names_complete_from_the_config(env: Env) -> None:
    env.write_config(
        CONFIG + '[schedules.nightly]\njob = "backup"\ncron = "0 3 * * *"\n'
        '[schedules.hourly]\njob = "backup"\ncron = "@hourly"\ndescription = "Each hour"\n'
    )
    for command in ("schedule run", "schedule pause", "schedule resume", "cron next"):
        assert _ask(env, f"jobctl {command} ") == ["hourly\tEach hour", "nightly\t0 3 * * *"]
    assert _ask(env, "jobctl schedule run n") == ["nightly\t0 3 * * *"]


def test_menu_descriptions_end_at_a_sentence_not_at_e_g() -> None:
    from jobctl.cli.completions import _first_line

    assert _first_line("Run after this long, e.g. 30s, 5m. More.") == (
        "Run after this long, e.g. 30s, 5m."
    )
    assert _first_line("One thing, i.e. this. Two.") == "One thing, i.e. this."


def _shell_env(env: Env) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # where the `jobctl` command is installed
    return {**env.env, "PATH": bin_dir + ":" + env.env.get("PATH", "")}


BASH = r"""
source "$1"
t() {
    COMP_LINE=$1; COMP_POINT=${#1}; COMPREPLY=()
    _jobctl
    printf '%s|%s\n' "$1" "${COMPREPLY[*]}"
}
t 'jobctl '
t 'jobctl de'
t 'jobctl dead '
t 'jobctl dead retry --'
t 'jobctl -c jobs.toml enqueue '
t 'jobctl list --job '
t 'jobctl list --job=ba'
t 'jobctl list -q b'
t 'jobctl list -s su'
t 'jobctl list --job build:'
t 'jobctl show 4'
t 'jobctl --log-level w'
t 'jobctl --log-format '
t 'jobctl logs 4 --hook '
t 'jobctl enqueue --payload-file jo'
t 'jobctl enqueue --exec sleep'
t 'jobctl enqueue -x -- ./my-t'
t 'jobctl enqueue --exec ./my-tool -v jo'
t 'jobctl enqueue -xq builds slee'
t 'jobctl enqueue -wxq builds ./my-tool jo'
t 'jobctl enqueue -xq '
t 'jobctl enqueue -xqbuilds slee'
t 'jobctl enqueue -qx b'
t 'jobctl list -nq'
t 'jobctl list -sq '
t 'jobctl edit 4 -x echo --js'
t 'jobctl edit 4 --exec slee'
t 'jobctl edit 4 -- slee'
t 'jobctl edit 4 -x ./my-tool -v jo'
t 'jobctl edit 4 --pri'
t 'jobctl -c "my dir/jobs.toml" enqueue '
t 'jobctl -c my\ dir/jobs.toml list --jo'
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion(env: Env) -> None:
    env.write_config(CONFIG)
    (env.root / "my-tool").touch()
    (env.root / "my dir").mkdir()
    (env.root / "my dir" / "jobs.toml").write_text('[jobs.greet]\ncommand = ["true"]\n')
    result = subprocess.run(
        ["bash", "--norc", "-c", BASH, "bash", str(COMPLETIONS / "jobctl.bash")],
        env=_shell_env(env),
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == ""
    answers = dict(line.split("|", 1) for line in result.stdout.splitlines())
    assert answers["jobctl "].split()[:3] == ["backup", "cancel", "cron"]
    assert answers["jobctl de"] == "dead"
    assert answers["jobctl dead "] == "list purge retry show"
    assert answers["jobctl dead retry --"] == "--all --job --json --help"
    assert answers["jobctl -c jobs.toml enqueue "] == "backup build:web"
    assert answers["jobctl list --job "] == "backup build:web exec"
    assert answers["jobctl list --job=ba"] == "backup"
    assert answers["jobctl list -q b"] == "builds"
    assert answers["jobctl list -s su"] == "succeeded"
    assert answers["jobctl list --job build:"] == "web"  # bash splits words at ':'
    assert answers["jobctl show 4"] == ""
    assert answers["jobctl --log-level w"] == "warning"  # a fixed set: offered
    assert answers["jobctl --log-format "] == "text json"
    assert answers["jobctl logs 4 --hook "] == "failure dead"
    assert answers["jobctl enqueue --payload-file jo"] == "jobs.toml"  # FILE: file names
    # --exec: a command's name, then what it takes (files), its options too.
    assert "sleep" in answers["jobctl enqueue --exec sleep"].split()
    assert answers["jobctl enqueue -x -- ./my-t"] == "./my-tool"
    assert answers["jobctl enqueue --exec ./my-tool -v jo"] == "jobs.toml"
    # -x bundled with other short options is --exec all the same; -q's value follows.
    assert "sleep" in answers["jobctl enqueue -xq builds slee"].split()
    assert answers["jobctl enqueue -wxq builds ./my-tool jo"] == "jobs.toml"
    assert answers["jobctl enqueue -xq "] == "builds default"  # the value of -q, the last
    assert "sleep" in answers["jobctl enqueue -xqbuilds slee"].split()  # -q's value joined
    assert answers["jobctl enqueue -qx b"] == "backup build:web"  # x is -q's value: no --exec
    assert answers["jobctl list -nq"] == ""  # a word being typed: options only
    assert answers["jobctl list -sq "] == ""  # q is -s's value: nothing to offer after it
    # edit's -x, --exec and -- are followed by the new command, its options too.
    assert answers["jobctl edit 4 -x echo --js"] == ""  # echo's words: no file of that name
    assert "sleep" in answers["jobctl edit 4 --exec slee"].split()
    assert "sleep" in answers["jobctl edit 4 -- slee"].split()
    assert answers["jobctl edit 4 -x ./my-tool -v jo"] == "jobs.toml"
    assert answers["jobctl edit 4 --pri"] == "--priority"
    # A quoted or escaped blank in an earlier word is no break between words.
    assert answers['jobctl -c "my dir/jobs.toml" enqueue '] == "greet"
    assert answers["jobctl -c my\\ dir/jobs.toml list --jo"] == "--job"


FISH = r"""
source $argv[1]
for line in 'jobctl dead ' 'jobctl list --job ' 'jobctl list --job=ba' 'jobctl list -s su' \
        'jobctl enqueue --exec slee' 'jobctl enqueue -x ./my-tool -v jo' \
        'jobctl enqueue -xq builds slee' 'jobctl enqueue -wxq builds ./my-tool -v jo' \
        'jobctl enqueue -xq ' 'jobctl enqueue -qx b' 'jobctl edit 4 -x slee' \
        'jobctl edit 4 -- ./my-tool --js'
    set -l found (complete -C "$line" | string join ',')
    echo "$line|$found"  # (a line even when nothing is offered)
end
"""


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish")
def test_fish_completion(env: Env) -> None:
    env.write_config(CONFIG)
    (env.root / "my-tool").touch()
    result = subprocess.run(
        ["fish", "--no-config", "-c", FISH, str(COMPLETIONS / "jobctl.fish")],
        env=_shell_env(env),
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == ""
    answers = dict(line.split("|", 1) for line in result.stdout.splitlines())
    assert answers["jobctl dead "].split(",")[0].startswith("list\tList dead jobs")
    assert answers["jobctl list --job "] == (
        "backup\tNightly backup,build:web,exec\tCommands queued with enqueue --exec"
    )
    assert answers["jobctl list --job=ba"] == "--job=backup\tNightly backup"
    assert answers["jobctl list -s su"] == "succeeded"
    for line in ("jobctl enqueue --exec slee", "jobctl enqueue -xq builds slee"):
        assert "sleep" in [a.split("\t")[0] for a in answers[line].split(",")]
    assert answers["jobctl enqueue -x ./my-tool -v jo"] == "jobs.toml"
    assert answers["jobctl enqueue -wxq builds ./my-tool -v jo"] == "jobs.toml"
    assert answers["jobctl enqueue -xq "] == "builds,default"
    assert answers["jobctl enqueue -qx b"] == "backup\tNightly backup,build:web"
    assert "sleep" in [a.split("\t")[0] for a in answers["jobctl edit 4 -x slee"].split(",")]
    assert answers["jobctl edit 4 -- ./my-tool --js"] == ""  # the command's word: no --json


# zsh's completion widgets only run inside its line editor: these stand-ins print what the
# script hands them, which is what zsh would offer.
ZSH = r"""
compdef() { }
_describe() { print -r -- "${(j:,:)${(P)@[-1]}}" }
_files() { print -r -- "<files>" }
compadd() { print -r -- "${(j:,:)@[2,-1]}" }
compset() { }
_command_names() { print -r -- "<commands>" }
_normal() { print -r -- "<normal:${(j:,:)words}:$CURRENT>" }
source $1
for line in 'jobctl dead ' 'jobctl list --job ' 'jobctl list --job=ba' 'jobctl list -s ' \
        'jobctl enqueue --exec ' 'jobctl enqueue -x -- tar -c' 'jobctl enqueue -xq builds ' \
        'jobctl enqueue -wxq builds tar -c' 'jobctl enqueue -xq ' 'jobctl enqueue -qx ' \
        'jobctl edit 4 -x ' 'jobctl edit 4 -x tar -c' 'jobctl edit 4 -- tar -c'; do
    words=(${(z)line}); [[ $line == *' ' ]] && words+=('')
    CURRENT=${#words}
    print -rn -- "$line|"; _jobctl
done
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completion(env: Env) -> None:
    env.write_config(CONFIG)
    result = subprocess.run(
        ["zsh", "-f", "-c", ZSH, "zsh", str(COMPLETIONS / "_jobctl")],
        env=_shell_env(env),
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == ""
    answers = dict(line.split("|", 1) for line in result.stdout.splitlines())
    assert answers["jobctl dead "].startswith("list:List dead jobs")
    assert answers["jobctl list --job "] == (
        r"backup:Nightly backup,build\:web,exec:Commands queued with enqueue --exec"
    )
    assert answers["jobctl list --job=ba"] == "backup:Nightly backup"
    assert answers["jobctl list -s "] == "queued,scheduled,waiting,running,succeeded,dead,cancelled"
    assert answers["jobctl enqueue --exec "] == "<commands>"
    assert answers["jobctl enqueue -x -- tar -c"] == "<normal:tar,-c:2>"  # as `tar -c` would be
    assert answers["jobctl enqueue -xq builds "] == "<commands>"  # -x bundled is --exec too
    assert answers["jobctl enqueue -wxq builds tar -c"] == "<normal:tar,-c:2>"
    assert answers["jobctl enqueue -xq "] == "builds,default"
    assert answers["jobctl enqueue -qx "] == r"backup:Nightly backup,build\:web"
    assert answers["jobctl edit 4 -x "] == "<commands>"
    assert answers["jobctl edit 4 -x tar -c"] == "<normal:tar,-c:2>"
    assert answers["jobctl edit 4 -- tar -c"] == "<normal:tar,-c:2>"


def test_version(env: Env) -> None:
    from jobctl import __version__

    result = env.run("--version", config=False)
    assert (result.returncode, result.stdout) == (0, f"jobctl {__version__} (SQLite schema 10)\n")


def test_every_command_has_help_with_an_example(env: Env) -> None:
    import typer.main

    from jobctl.cli.app import app
    from jobctl.cli.completions import command_tree

    command_tree()  # imports every command module
    commands: list[tuple[str, object]] = []

    def walk(group: object, path: str) -> None:
        for name, command in getattr(group, "commands", {}).items():
            if getattr(command, "commands", None):
                walk(command, f"{path} {name}".strip())
            else:
                commands.append((f"{path} {name}".strip(), command))

    walk(typer.main.get_command(app), "")
    assert len(commands) > 20
    missing = [name for name, command in commands if "Example" not in (command.epilog or "")]  # type: ignore[attr-defined]
    assert missing == []
    result = env.run("dead", "purge", "--help", config=False)
    assert result.returncode == 0 and "Examples:  jobctl dead purge 41 42" in result.stdout

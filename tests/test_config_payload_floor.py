"""What a newcomer pastes or sets first: a max_payload too small for any job, a config folder
refused without its fix, and the README's Quick start, completion lines and help examples
run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

from jobctl.config import load_config_file

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
EXAMPLE = REPO / "jobs.toml.example"


@pytest.mark.parametrize(("value", "size"), [('"0"', 0), ('"1"', 1), ("1023", 1023)])
def test_a_max_payload_below_1kib_is_refused_by_validate(env: Env, value: str, size: int) -> None:
    """validate said ok to max_payload = "0", and then every enqueue was refused, even of {}
    and of an --exec job."""
    env.write_config(f'[settings]\nmax_payload = {value}\n[jobs.a]\ncommand = ["true"]\n')
    refused = env.run("validate")
    assert refused.returncode == 2
    assert (
        f"jobs.toml:2: [settings] max_payload: must be at least 1KiB, got {size} bytes"
        in refused.stderr
    ), refused.stderr


def test_a_max_payload_of_1kib_takes_jobs(env: Env) -> None:
    env.write_config('[settings]\nmax_payload = "1KiB"\n[jobs.a]\ncommand = ["true"]\n')
    env.run("validate", check=True)
    assert env.enqueue("a", "--arg", "text=" + "x" * 900) == 1
    assert env.enqueue("--exec", "true") == 2


def test_a_refused_config_folder_names_its_fix(env: Env) -> None:
    """The file's refusal said `chmod go-w FILE`; the folder's named no fix at all."""
    folder = env.root / "shared"
    folder.mkdir()
    config = folder / "jobs.toml"
    config.write_text('[jobs.a]\ncommand = ["true"]\n')
    config.chmod(0o600)
    folder.chmod(0o777)
    refused = env.run("--config", str(config), "validate", config=False)
    assert refused.returncode == 2
    assert refused.stderr.rstrip().endswith(
        "make the folder yours (or root's) and not group- or world-writable"
        " (chown; chmod go-w FOLDER)"
    ), refused.stderr
    folder.chmod(0o755)  # what the message says to do
    env.run("--config", str(config), "validate", check=True, config=False)


def test_the_example_config_prunes_its_heartbeats(env: Env) -> None:
    """The 5-second heartbeat added 720 jobs an hour, kept for ever, and buried the user's own
    in `jobctl list`."""
    assert load_config_file(EXAMPLE).settings.keep_succeeded == 3600


def _quick_start_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.split("## Quick start", 1)[1], re.S)
    return [line for line in blocks[1].splitlines() if line.strip()]


def test_the_quick_start_runs_as_pasted_beside_up(env: Env) -> None:
    """It ran `make -j4 test` (the whole suite, 24 minutes, retried) as its --exec demo and
    showed job 3, which the heartbeat had made before the reader enqueued anything."""
    (env.root / "jobs.toml.example").write_text(EXAMPLE.read_text())
    (env.root / "jobs.toml.example").chmod(0o600)
    shim = env.root / "bin" / "jobctl"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {" ".join(JOBCTL)} "$@"\n')
    shim.chmod(0o755)
    environ = env.env | {"PATH": f"{shim.parent}:{env.env['PATH']}"}
    up = subprocess.Popen(
        [*JOBCTL, "--config", "jobs.toml.example", "up"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        cwd=env.root,
        start_new_session=True,
    )
    env.procs.append(up)
    database = env.root / ".jobctl" / "jobctl.db"
    env.wait_for(database.exists)
    lines = _quick_start_lines()
    assert lines[0] == ". .venv/bin/activate"
    # A reader takes a few seconds per line; the script waits for the job it shows instead.
    show = next(i for i, line in enumerate(lines) if line.startswith("jobctl show"))
    script = [*lines[1:show], 'jobctl wait "$id" --timeout 60s', *lines[show:]]
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=env.root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    assert re.search(r"^job\s+flaky$", done.stdout, re.M), done.stdout
    assert "attempt 1 failed" in done.stdout
    listed = subprocess.run(
        [*JOBCTL, "--config", "jobs.toml.example", "list", "--json"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=env.root,
        check=True,
    )
    ran = {job["job"]: job["state"] for job in json.loads(listed.stdout)}
    assert ran["exec"] == "succeeded" and ran["greet"] == "succeeded"
    env.wait_for(lambda: '"heartbeat"' in _list_json(environ, env.root))


def _list_json(environ: dict[str, str], root: Path) -> str:
    return subprocess.run(
        [*JOBCTL, "--config", "jobs.toml.example", "list", "--state", "succeeded", "--json"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=root,
        check=True,
    ).stdout


def test_the_quick_start_says_how_to_stop_make_run() -> None:
    text = " ".join(README.split("## Quick start", 1)[1].split("## Concepts", 1)[0].split())
    assert "Ctrl-C stops `make run`" in text and "a second Ctrl-C stops them at once" in text


def test_the_completion_install_lines_make_their_folders(tmp_path: Path) -> None:
    """`cp` into ~/.local/share/bash-completion/completions/ and ~/.config/fish/completions/
    failed on an account that had neither."""
    section = README.split("### Shell completion", 1)[1].split("\n\n", 3)[2]
    commands = [" ".join(c.split()) for c in re.findall(r"`([^`]*\bcp [^`]*)`", section)]
    assert len(commands) == 3, section
    home = tmp_path / "home"
    home.mkdir()
    for command in commands:
        subprocess.run(
            ["bash", "-ec", command], cwd=REPO, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
            check=True,
        )  # fmt: skip
    assert (home / ".local/share/bash-completion/completions/jobctl").is_file()
    assert (home / ".config/fish/completions/jobctl.fish").is_file()
    assert (home / ".zfunc/_jobctl").is_file()


def test_the_readme_says_a_waiting_job_holds_its_key(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    first = env.enqueue("a", "--delay", "1h")
    waiting = env.enqueue("a", "--after", str(first), "--key", "kk")
    again = env.run("enqueue", "a", "--key", "kk", check=True)
    assert again.stdout == f"{waiting}\n"
    text = " ".join(README.split())
    assert "while a job with that key is queued, scheduled, waiting (`--after`) or running" in text


def _help(*command: str) -> str:
    done = subprocess.run([*JOBCTL, *command, "--help"], capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


@pytest.mark.parametrize(
    "command", [["enqueue"], ["retry"], ["edit"], ["cron", "next"]], ids=" ".join
)
def test_the_example_times_to_come_stay_to_come(command: list[str]) -> None:
    """The help gave 2026-05-01T09:30 as a time to run at: past by now, it ran the job at once."""
    years = [int(year) for year in re.findall(r"\b(20\d\d)-\d\d-\d\d", _help(*command))]
    assert years, command
    assert min(years) > datetime.now().year, command


def test_the_readme_example_times_to_come_stay_to_come() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `enqueue NAME"))
    years = [int(year) for year in re.findall(r"\b(20\d\d)-\d\d-\d\d", row)]
    assert years and min(years) > datetime.now().year


def test_the_metrics_example_writes_the_textfile_whole_then_renames_it(env: Env) -> None:
    text = _help("metrics")
    example = text.split("Example: ", 1)[1].split("(", 1)[0].strip()
    assert example.endswith("jobctl metrics > jobctl.prom.$$ && mv jobctl.prom.$$ jobctl.prom")
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    env.enqueue("a")
    textfile = env.root / "node_exporter"
    textfile.mkdir()
    pasted = example.split("&& ", 1)[1].replace("jobctl ", f"{sys.executable} -m jobctl ", 1)
    environ = env.env | {"JOBCTL_CONFIG": str(env.config), "JOBCTL_DB": str(env.db)}
    subprocess.run(["sh", "-ec", pasted], cwd=textfile, env=environ, check=True)
    assert [p.name for p in textfile.iterdir()] == ["jobctl.prom"]
    assert "jobctl_jobs{" in (textfile / "jobctl.prom").read_text()

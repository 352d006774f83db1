"""contrib/: the Grafana dashboard asks only for what jobctl exports, and the systemd unit
runs `jobctl up` safely (validated config first, graceful stop inside systemd's timeout,
hardened), with command lines the real CLI accepts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import JOBCTL, Env
from test_observe_support import (
    free_port,
    http_get,
    parse_exposition,
    start_logged,
)

from jobctl.durations import parse_duration

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
DASHBOARD = CONTRIB / "grafana-dashboard.json"
UNIT = CONTRIB / "jobctl.service"
USER_UNIT = CONTRIB / "jobctl-user.service"

POPULATED = """
[jobs.ok]
command = ["true"]

[jobs.flaky]
command = ["false"]
max_attempts = 1

[schedules.nightly]
job = "ok"
cron = "0 3 * * *"
"""


# ---------------------------------------------------------------------------------------------
# The dashboard


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    found = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    found += [var["definition"] for var in dashboard["templating"]["list"] if var.get("definition")]
    return found


def _exported(env: Env) -> dict[str, set[str]]:
    """Every sample name `jobctl metrics` prints on a lived-in database, with its labels."""
    env.write_config(POPULATED)
    env.enqueue("ok")
    env.enqueue("flaky")
    env.run("run-worker", "--burst", check=True)
    env.run("schedule", "run", "nightly", check=True)
    _, samples = parse_exposition(env.run("metrics", check=True).stdout)
    names: dict[str, set[str]] = {}
    for name, labels in samples:
        names.setdefault(name, set()).update(key for key, _ in labels)
    return names


def test_the_dashboard_is_a_grafana_dashboard(env: Env) -> None:
    dashboard = _dashboard()
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_the_dashboard_queries_only_what_jobctl_exports(env: Env) -> None:
    exported = _exported(env)
    for expr in _exprs(_dashboard()):
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        names = set(re.findall(r"\bjobctl_[a-z_]+", expr))
        assert names, expr
        for name in names:
            assert name in exported, f"{name} is not exported ({expr})"
        for name, matchers in re.findall(r"\b(jobctl_[a-z_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in exported[name], f"{name} has no label {label} ({expr})"
        available = set().union(*(exported[name] for name in names))
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (part.strip() for part in grouping.split(",")):
                assert label in available, f"no metric in {expr!r} has label {label}"


def test_the_dashboard_covers_depth_throughput_failures_durations_and_schedules() -> None:
    exprs = _exprs(_dashboard())

    def some(pattern: str) -> bool:
        return any(re.search(pattern, expr) for expr in exprs)

    assert some(r"jobctl_jobs\{[^}]*state")  # queue depth
    assert some(r"jobctl_oldest_ready_age_seconds")
    assert some(r"rate\(jobctl_job_runs_total")  # throughput
    # failure rate: what stats counts as FAILED, not a shutdown's given-back attempts
    assert some(r'jobctl_job_runs_total\{[^}]*outcome=~"failed\|timeout\|error\|lost"')
    assert not some(r'outcome!="succeeded"')
    assert some(r"histogram_quantile\(0\.95, .*jobctl_job_duration_seconds_bucket")
    assert some(r"histogram_quantile\(0\.95, .*jobctl_job_wait_seconds_bucket")
    assert some(r"time\(\) - .*jobctl_schedule_last_run_timestamp_seconds")  # schedule lag
    assert some(r"jobctl_schedule_next_fire_timestamp_seconds")
    assert some(r"jobctl_workers") and some(r"jobctl_schedulers")


# ---------------------------------------------------------------------------------------------
# The systemd unit


def _unit(path: Path = UNIT) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        assert current is not None, line
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def _one(section: list[tuple[str, str]], key: str) -> str:
    values = [value for k, value in section if k == key]
    assert len(values) == 1, (key, values)
    return values[0]


def _timespan(text: str) -> float:
    """A systemd time span such as 45s, 1min 30s, 2m or a bare number of seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    if re.fullmatch(r"\d+", text):
        return float(text)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text):
        total += float(number) * units[unit]
    return total


def _command(service: list[tuple[str, str]], key: str) -> list[str]:
    argv = shlex.split(_one(service, key))
    assert Path(argv[0]).name == "jobctl", argv
    return argv


def _option(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def test_the_unit_runs_up_and_stops_it_gracefully() -> None:
    unit = _unit()
    service = unit["Service"]
    start = _command(service, "ExecStart")
    assert "up" in start
    pre = _command(service, "ExecStartPre")
    assert pre[0] == start[0] and pre[1:] == ["validate"]
    assert _one(service, "Restart") == "on-failure"
    # A store not reachable at boot fails each start (exit 3): systemd must keep trying, not
    # stop after its default five starts in ten seconds.
    assert _one(unit["Unit"], "StartLimitIntervalSec") == "0"
    assert _timespan(_one(service, "RestartSec")) >= 1
    assert _one(service, "KillMode") == "mixed"
    assert _one(service, "KillSignal") in ("SIGTERM", "TERM")
    # On SIGTERM running jobs get --shutdown-timeout, then SIGTERM and their kill_grace before
    # SIGKILL: systemd's own SIGKILL must come after all of that, for the example config too.
    shutdown = parse_duration(_option(start, "--shutdown-timeout", "30s"))
    from jobctl.config import load_config_file

    example = load_config_file(UNIT.parent.parent / "jobs.toml.example")
    grace = max(job.kill_grace for job in example.jobs.values())
    assert _timespan(_one(service, "TimeoutStopSec")) > shutdown + grace
    assert _one(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    address = _option(start, "--metrics-addr", "")
    assert address.startswith("127.0.0.1:"), "metrics stay on loopback"
    assert "multi-user.target" in _one(unit["Install"], "WantedBy")


def test_the_unit_is_hardened() -> None:
    service = dict(_unit()["Service"])
    assert service["User"] and service["User"] != "root"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert service.get(key) == value, key
    assert service["StateDirectory"] == "jobctl"  # writable under ProtectSystem=strict
    environment = [v for k, v in _unit()["Service"] if k == "Environment"]
    assert "JOBCTL_DB=/var/lib/jobctl/jobctl.db" in environment


def test_the_units_command_lines_work_with_the_real_cli(env: Env) -> None:
    """ExecStartPre validates the config; ExecStart starts `up`, which serves /healthz and
    stops cleanly on the SIGTERM that KillMode=mixed sends."""
    service = _unit()["Service"]
    environment = dict(v.split("=", 1) for k, v in service if k == "Environment")
    assert set(environment) == {"JOBCTL_CONFIG", "JOBCTL_DB"}
    config = env.root / "etc" / "jobs.toml"  # named only by the unit's environment
    config.parent.mkdir()
    config.write_text(POPULATED)
    sandbox = {**env.env, "JOBCTL_CONFIG": str(config), "JOBCTL_DB": str(env.db)}
    pre = _command(service, "ExecStartPre")[1:]

    def validate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*JOBCTL, *pre], env=sandbox, cwd=env.root, capture_output=True, text=True, timeout=60
        )

    checked = validate()
    assert checked.returncode == 0, checked.stderr
    assert str(config) in checked.stdout
    config.write_text("[jobs.bad]\ncommand = 3\n")
    refused = validate()
    assert refused.returncode == 2 and "[jobs.bad] command" in refused.stderr
    config.write_text(POPULATED)

    start = _command(service, "ExecStart")[1:]
    port = free_port()
    start[start.index("--metrics-addr") + 1] = f"127.0.0.1:{port}"
    up = start_logged(env, *start, environ=sandbox)
    up.wait_event(env, "worker.started")
    up.wait_event(env, "scheduler.leader")
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    assert up.stop() == 0
    assert [e["event"] for e in up.events()][-1] in ("worker.stopped", "scheduler.stopped")


def _installed_copy(tmp_path: Path) -> Path:
    """The unit as installed, with jobctl where this test run has it."""
    jobctl = Path(sys.executable).parent / "jobctl"
    assert jobctl.exists()
    copy = tmp_path / "jobctl.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/jobctl", str(jobctl)))
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_rates_the_unit_well_hardened(tmp_path: Path) -> None:
    unit = _installed_copy(tmp_path)
    probe = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in probe.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline")
    assert "Overall exposure level" in probe.stdout, probe.stdout + probe.stderr
    # The threshold is ten times the exposure level: at most 3.5 of 10 ("OK").
    rated = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=35", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rated.returncode == 0, probe.stdout.splitlines()[-1]


def test_the_dashboard_counts_each_figure_once_however_many_processes_are_scraped() -> None:
    """Every process's /metrics gives the database's figures, not its own: a fleet of
    workers, or a worker and a cron daemon, each scraped, summed them once per process
    (two processes showed twice the workers, the throughput and the failures). Each
    series is taken once across instances (max) before anything adds it up."""
    for expr in _exprs(_dashboard()):
        for found in re.finditer(r"jobctl_[a-z_]+", expr):
            before = expr[: found.start()]
            if before.endswith("label_values("):  # a variable's values, not a figure
                continue
            assert re.search(r"max(?: by \([^)]*\))? ?\((?:rate\()?$", before), expr


# ---------------------------------------------------------------------------------------------
# The user unit: a person's crontab replaced by `jobctl up` run as them


def test_the_user_unit_runs_up_as_its_user_and_stops_it_as_the_system_unit_does() -> None:
    unit, system = _unit(USER_UNIT), _unit()
    service = unit["Service"]
    keys = {key for key, _ in service}
    assert not keys & {"User", "Group", "CapabilityBoundingSet", "AmbientCapabilities"}
    start = _command(service, "ExecStart")
    assert start[0] == "%h/.local/bin/jobctl" and start[1] == "up"
    assert "--metrics-addr" not in start  # nothing listens unless asked
    assert _command(service, "ExecStartPre") == [start[0], "validate"]
    assert _one(service, "WorkingDirectory") == "%h"  # where cron starts a user's jobs
    # Stopped, restarted and reloaded as the system unit is (see its test above).
    for key in ("Restart", "RestartSec", "RestartPreventExitStatus", "KillMode", "KillSignal"):
        assert _one(service, key) == _one(system["Service"], key), key
    for key in ("ExecReload", "TimeoutStopSec"):
        assert _one(service, key) == _one(system["Service"], key), key
    assert _option(start, "--shutdown-timeout", "30s") == _option(
        _command(system["Service"], "ExecStart"), "--shutdown-timeout", "30s"
    )
    assert _one(unit["Unit"], "StartLimitIntervalSec") == "0"
    assert _one(unit["Install"], "WantedBy") == "default.target"


def _header_commands(path: Path) -> list[str]:
    """The install steps of a unit's header comment: its `#   command` lines."""
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("#   "):
            found.append(line[4:].split("  #")[0].strip())
    return found


def test_the_user_units_install_steps_find_the_default_config_and_database(env: Env) -> None:
    """The header imports the crontab into ~/.config/jobctl/jobs.toml and runs `validate` and
    the unit's `up` with no --config or --db: they must find those files, and `jobctl status`
    in any shell of the user the same database."""
    steps = _header_commands(USER_UNIT)
    assert "crontab -r" in steps and any("enable-linger" in step for step in steps)
    imported = next(step for step in steps if "import-crontab" in step)
    assert imported == "jobctl import-crontab ~/crontab.bak > ~/.config/jobctl/jobs.toml"
    home = Path(env.env["HOME"])
    (home / "crontab.bak").write_text("*/5 * * * * echo tick\n")
    (home / ".config" / "jobctl").mkdir(parents=True)

    def jobctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*JOBCTL, *args], env=env.env, cwd=home, capture_output=True, text=True, timeout=60
        )

    converted = jobctl("import-crontab", str(home / "crontab.bak"))
    assert converted.returncode == 0, converted.stderr
    (home / ".config" / "jobctl" / "jobs.toml").write_text(converted.stdout)
    checked = jobctl("validate")
    assert checked.returncode == 0, checked.stderr
    assert str(home / ".config" / "jobctl" / "jobs.toml") in checked.stdout
    assert jobctl("enqueue", "--exec", "--", "true").returncode == 0
    assert (home / ".local" / "state" / "jobctl" / "jobctl.db").exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_user_unit(tmp_path: Path) -> None:
    jobctl = Path(sys.executable).parent / "jobctl"
    copy = tmp_path / "jobctl.service"
    copy.write_text(USER_UNIT.read_text().replace("%h/.local/bin/jobctl", str(jobctl)))
    runtime = tmp_path / "runtime"  # a user manager's $XDG_RUNTIME_DIR, which analyze needs
    runtime.mkdir(mode=0o700)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--user", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr

"""import-crontab run again on an edited crontab: each line keeps its name, whatever happens to
the other lines, so that a name's jobs, history and retries stay with one command; and the
lines cron itself read otherwise (cronie's leading `-`, macros it does not know)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from conftest import Env
from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl.config import JOB_NAME, parse_config
from jobctl.crontab import ImportResult, import_crontab


def messages(result: ImportResult) -> dict[int, str]:
    return {warning.line: warning.message for warning in result.warnings}


def contents(text: str) -> dict[str, tuple[str, str]]:
    """Each imported name's (cron, command)."""
    config = parse_config(import_crontab(text).toml)
    return {name: (config.schedules[name].cron, config.jobs[name].command) for name in config.jobs}


# ---------------------------------------------------------------------------------------------
# Names that follow the line


def test_a_retry_after_a_namesake_was_deleted_does_not_run_the_other_command(env: Env) -> None:
    """The weekly full backup deleted from the crontab: a retry of its old run must not run
    the daily incremental one, which took its name when names were numbered in line order."""
    script = env.root / "backup.sh"
    script.write_text('#!/bin/sh\necho "backup.sh $*"\n')
    script.chmod(0o755)
    full, incremental = f"15 3 * * 0 {script} --full", f"15 4 * * * {script} --incremental"
    (env.root / "a").write_text(f"{full}\n{incremental}\n")
    (env.root / "b").write_text(f"{incremental}\n")

    env.write_config(env.run("import-crontab", "a", check=True, config=False).stdout)
    schedules = parse_config(env.config.read_text()).schedules
    (full_name,) = (name for name, schedule in schedules.items() if schedule.cron == "15 3 * * 0")
    env.run("schedule", "run", full_name, check=True)
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", "1", check=True).stdout == "backup.sh --full\n"

    env.write_config(env.run("import-crontab", "b", check=True, config=False).stdout)
    assert full_name not in parse_config(env.config.read_text()).jobs
    retried = env.run("retry", "1")
    assert retried.returncode == 2
    assert f"unknown job {full_name!r}" in retried.stderr
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", "2").returncode != 0  # no second job ran anything


_LINES = [
    "15 3 * * 0 /srv/backup.sh --full",
    "15 4 * * * /srv/backup.sh --incremental",
    "0 5 * * * backup.sh",
    "0 6 * * * /opt/backup.sh",
    "0 6 * * * /opt/backup.sh",  # the same line twice
    "*/5 * * * * report.py daily",
    "*/10 * * * * report.py daily",
    "0 1 * * * cd /srv && make",
    "0 2 * * * cd /srv && make",
    "@daily certbot renew",
    "0 0 1 * * certbot renew",
    "30 2 * * * pg_dump appdb > /dev/null",
]


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.sampled_from(_LINES), min_size=1, max_size=10),
    data=st.data(),
)
def test_a_name_never_passes_to_another_command_across_an_edit(
    before: list[str], data: st.DataObject
) -> None:
    """Lines deleted, added (the same edit read the other way) or reordered: every name both
    imports have names the same schedule and command in both."""
    kept = data.draw(st.lists(st.sampled_from(range(len(before))), unique=True))
    after = [before[index] for index in kept]
    old, new = contents("\n".join(before)), contents("\n".join(after))
    for name in old.keys() & new.keys():
        assert old[name] == new[name], name


def test_only_lines_that_share_a_name_get_a_suffix_of_their_own_content() -> None:
    lines = [
        "15 3 * * 0 /srv/backup.sh --full",
        "15 4 * * * /srv/backup.sh --incremental",
        "0 5 * * * pg_dump appdb",
    ]
    result = import_crontab("\n".join(lines))
    digests = [
        hashlib.sha256(f"{cron}\0\0/srv/backup.sh {option}".encode()).hexdigest()[:6]
        for cron, option in [("15 3 * * 0", "--full"), ("15 4 * * *", "--incremental")]
    ]
    assert result.names == [f"backup-{digests[0]}", f"backup-{digests[1]}", "pg_dump-appdb"]
    # The same on every run (no hash() salted per process), whatever the order of the lines.
    assert import_crontab("\n".join(reversed(lines))).names == list(reversed(result.names))


def test_the_user_column_is_part_of_a_line_content() -> None:
    result = import_crontab(
        "0 1 * * * root /srv/backup.sh\n0 1 * * * nobody /srv/backup.sh\n", system=True
    )
    first, second = result.names
    assert first != second
    assert first.startswith("backup-") and second.startswith("backup-")


def test_identical_lines_and_long_names_stay_valid() -> None:
    long_command = "/opt/" + "a" * 80 + ".sh " + "b" * 80
    result = import_crontab(
        f"0 1 * * * {long_command}\n0 2 * * * {long_command}\n0 1 * * * {long_command}\n"
    )
    first, second, third = result.names
    assert third.endswith(f"{first[-7:]}-2")  # alike in everything: numbered after the first
    assert len({first, second, third}) == 3
    for name in result.names:
        assert len(name) <= 48
        assert JOB_NAME.match(name)
        assert re.search(r"-[0-9a-f]{6}(-2)?$", name)
    assert len(parse_config(result.toml).jobs) == 3


# ---------------------------------------------------------------------------------------------
# Lines cron reads its own way


def test_cronie_no_syslog_mark_is_dropped_and_the_line_imported() -> None:
    system = import_crontab(
        "-*/5 * * * * root /usr/lib/sa/sa1 1 1\n*/10 * * * * nobody /bin/true\n", system=True
    )
    config = parse_config(system.toml)
    assert system.names == ["sa1", "true"]
    assert config.schedules["sa1"].cron == "*/5 * * * *"
    assert config.jobs["sa1"].user == "root"
    assert config.jobs["sa1"].command == ("/usr/lib/sa/sa1 1 1",)
    assert messages(system) == {
        1: "the leading '-' (cronie: do not log this job's runs to syslog) is dropped: jobctl"
        " has no equivalent, and logs every run"
    }
    assert "# line 1: -*/5 * * * * root /usr/lib/sa/sa1 1 1" in system.toml

    user = import_crontab("-0 1 * * * echo quiet\n-@daily echo daily\n")
    assert [parse_config(user.toml).schedules[name].cron for name in user.names] == [
        "0 1 * * *",
        "@daily",
    ]
    assert list(messages(user)) == [1, 2]


def test_no_syslog_mark_is_not_warned_of_on_a_line_left_out() -> None:
    result = import_crontab("-61 * * * * a\n-@reboot b\n# -0 1 * * * disabled\n0 2 * * * c\n")
    found = messages(result)
    assert list(found) == [1, 2]
    assert "minute field '61'" in found[1]
    assert found[2].startswith("@reboot entry not imported")
    assert parse_config(result.toml).jobs["c"].description is None  # no prose, an entry


def test_no_syslog_mark_through_the_command_line(env: Env, tmp_path: Path) -> None:
    crontab = tmp_path / "syscron"
    crontab.write_text("-*/5 * * * * root /usr/lib/sa/sa1 1 1\n")
    done = env.run("import-crontab", "--system", str(crontab), check=True, config=False)
    assert f"jobctl: {crontab}: line 1: the leading '-'" in done.stderr
    assert "[jobs.sa1]" in done.stdout


def test_lines_cron_refuses_are_left_out() -> None:
    result = import_crontab(
        "@HOURLY echo upper\n@every 5m echo every\n-@Daily echo mixed\n@hourly echo lower\n"
    )
    assert messages(result) == {
        1: "not imported: cron never ran this line: it knows '@hourly', not '@HOURLY' (it reads"
        " macros as written)",
        2: "not imported: cron never ran this line: '@every' is jobctl's own, not cron's (write"
        " such a schedule in the config)",
        3: "not imported: cron never ran this line: it knows '@daily', not '@Daily' (it reads"
        " macros as written)",
    }
    assert result.names == ["echo-lower"]

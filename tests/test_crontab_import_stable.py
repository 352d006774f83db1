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


def own_name(base: str, cron: str, command: str, user: str = "") -> str:
    """The name import-crontab gives a line: six hex digits of its own content's SHA-256."""
    content = "\0".join([cron, user, command])
    return f"{base}-{hashlib.sha256(content.encode()).hexdigest()[:6]}"


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


def test_a_dead_retry_after_a_namesake_came_and_its_own_line_went_runs_no_other_command(
    env: Env,
) -> None:
    """A daily incremental backup alone in the crontab got the bare name; a weekly full one
    added beside it gave both a suffix, and the daily line deleted gave the bare name to the
    weekly line: a dead retry of the daily run ran the weekly full backup."""
    script, ran = env.root / "b.sh", env.root / "ran.txt"
    script.write_text(f'#!/bin/sh\necho "ran: $*" >> {ran}; exit 1\n')
    script.chmod(0o755)
    daily, weekly = f"0 2 * * * {script} incr", f"0 3 * * 0 {script} incr --full"
    imports = {"s1": [daily], "s2": [daily, weekly], "s3": [weekly]}
    names: dict[str, list[str]] = {}
    for crontab, lines in imports.items():
        (env.root / crontab).write_text("".join(f"{line}\n" for line in lines))
        imported = env.run("import-crontab", crontab, check=True, config=False).stdout
        names[crontab] = list(parse_config(imported).jobs)
        env.write_config(imported)
        if crontab == "s1":
            (daily_name,) = names["s1"]
            env.enqueue(daily_name)
            env.run("run-worker", "--burst", check=True)
            assert env.show(1)["state"] == "dead"

    retried = env.run("dead", "retry", "1")
    env.run("run-worker", "--burst", check=True)
    assert ran.read_text() == "ran: incr\n"  # the weekly full backup never ran
    assert retried.returncode == 1
    assert f"cannot run again (unknown job {daily_name!r}" in retried.stderr
    (weekly_name,) = names["s3"]
    assert names["s2"] == [daily_name, weekly_name]  # each line kept its own name


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
    after=st.lists(st.sampled_from(_LINES), max_size=10),
)
def test_a_name_never_passes_to_another_command_across_an_edit(
    before: list[str], after: list[str]
) -> None:
    """Lines deleted, added, reordered or replaced, over one import or several (s1 -> s2 ->
    s3 is s1 -> s3 for each name): every name both imports have names the same schedule and
    command in both."""
    old, new = contents("\n".join(before)), contents("\n".join(after))
    for name in old.keys() & new.keys():
        assert old[name] == new[name], name


def test_every_line_gets_a_suffix_of_its_own_content() -> None:
    """A line alone with its base name gets the suffix too: a bare name would pass to another
    line of that base once this one is deleted."""
    lines = [
        "15 3 * * 0 /srv/backup.sh --full",
        "15 4 * * * /srv/backup.sh --incremental",
        "0 5 * * * pg_dump appdb",
    ]
    result = import_crontab("\n".join(lines))
    assert result.names == [
        own_name("backup", "15 3 * * 0", "/srv/backup.sh --full"),
        own_name("backup", "15 4 * * *", "/srv/backup.sh --incremental"),
        own_name("pg_dump-appdb", "0 5 * * *", "pg_dump appdb"),
    ]
    assert import_crontab(lines[2]).names == result.names[2:]  # alone, the same name
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


def test_a_dead_retry_after_a_line_alike_but_for_its_environment_was_deleted_runs_no_other(
    env: Env,
) -> None:
    """Two lines alike in schedule and command, set apart by a NAME=value line, were numbered
    in line order: the daily one deleted, the weekly one took its name, and a dead retry of
    the daily run backed up to the weekly target."""
    script, ran = env.root / "backup.sh", env.root / "ran.txt"
    script.write_text(f'#!/bin/sh\necho "to $BACKUP_TARGET" >> {ran}; exit 1\n')
    script.chmod(0o755)
    daily = f"BACKUP_TARGET=/mnt/daily\n0 3 * * * {script}\n"
    weekly = f"BACKUP_TARGET=/mnt/weekly\n0 3 * * * {script}\n"
    (env.root / "a").write_text(daily + weekly)
    (env.root / "b").write_text(weekly)

    env.write_config(env.run("import-crontab", "a", check=True, config=False).stdout)
    daily_name, weekly_name = parse_config(env.config.read_text()).jobs
    env.enqueue(daily_name)
    env.run("run-worker", "--burst", check=True)
    assert env.show(1)["state"] == "dead"

    env.write_config(env.run("import-crontab", "b", check=True, config=False).stdout)
    assert daily_name not in parse_config(env.config.read_text()).jobs
    retried = env.run("dead", "retry", "1")
    env.run("run-worker", "--burst", check=True)
    assert ran.read_text() == "to /mnt/daily\n"  # never to the weekly target
    assert retried.returncode == 1
    assert f"cannot run again (unknown job {daily_name!r}" in retried.stderr
    assert weekly_name not in parse_config(env.config.read_text()).jobs  # it had a suffix


def chunks(text: str) -> dict[str, str]:
    """Each imported name's whole TOML (job, environment, commented hook, schedule), with the
    name and the line number taken out."""
    result = import_crontab(text)
    pieces = re.split(r"\n# line [0-9]+: [^\n]*\n", result.toml)[1:]
    return {
        name: piece.replace(name, "NAME") for name, piece in zip(result.names, pieces, strict=True)
    }


# Each sets all it uses, so that the lines before it change nothing.
_SETTINGS = [
    'BACKUP_TARGET=/mnt/daily\nSHELL=/bin/sh\nMAILTO=""\nCRON_TZ=',
    'BACKUP_TARGET=/mnt/weekly\nSHELL=/bin/sh\nMAILTO=""\nCRON_TZ=',
    'BACKUP_TARGET=/mnt/daily\nSHELL=/bin/bash\nMAILTO=""\nCRON_TZ=',
    "BACKUP_TARGET=/mnt/daily\nSHELL=/bin/sh\nMAILTO=ops@example.com\nCRON_TZ=",
    'BACKUP_TARGET=/mnt/daily\nSHELL=/bin/sh\nMAILTO=""\nCRON_TZ=Europe/Paris',
]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.tuples(st.sampled_from(_SETTINGS), st.sampled_from(_LINES[:5])), max_size=8),
    kept=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_a_deleted_line_never_gives_its_name_to_one_with_another_environment(
    lines: list[tuple[str, str]], kept: list[bool]
) -> None:
    """Lines deleted (or, read backwards, added): every name both imports have names the same
    job, environment, hook and schedule in both."""
    texts = [f"{setting}\n{line}" for setting, line in lines]
    before = "\n".join(texts)
    after = "\n".join(text for text, keep in zip(texts, kept[: len(texts)], strict=True) if keep)
    old, new = chunks(before), chunks(after)
    for name in old.keys() & new.keys():
        assert old[name] == new[name], name


def test_lines_alike_but_for_their_environment_are_named_by_it_not_by_their_order() -> None:
    for one, another in [
        ("BACKUP_TARGET=/mnt/daily", "BACKUP_TARGET=/mnt/weekly"),
        ("SHELL=/bin/sh", "SHELL=/bin/bash"),
        ('MAILTO=""', "MAILTO=ops@example.com"),
        ("CRON_TZ=UTC", "CRON_TZ=Europe/Paris"),
    ]:
        daily, other = f"{one}\n0 3 * * * backup.sh\n", f"{another}\n0 3 * * * backup.sh\n"
        first, second = import_crontab(daily + other).names
        assert import_crontab(other + daily).names == [second, first], another
        bare = own_name("backup", "0 3 * * *", "backup.sh")
        assert first.startswith(f"{bare}-") and second.startswith(f"{bare}-")
        assert re.fullmatch(r"backup-[0-9a-f]{6}-[0-9a-f]{6}", first), first
        assert first != second
        # Alone: the name it always had.
        assert import_crontab(other).names == import_crontab(daily).names == [bare]
    # Alike in every respect as well: numbered after the first, the other keeps its digest.
    weekly = "BACKUP_TARGET=/mnt/weekly\n0 3 * * * backup.sh\n"
    daily = "BACKUP_TARGET=/mnt/daily\n0 3 * * * backup.sh\n"
    first, second, third = import_crontab(weekly + weekly + daily).names
    assert second == f"{first}-2"
    assert import_crontab(daily + weekly).names == [third, first]


# ---------------------------------------------------------------------------------------------
# Lines cron reads its own way


def test_cronie_no_syslog_mark_is_dropped_and_the_line_imported() -> None:
    system = import_crontab(
        "-*/5 * * * * root /usr/lib/sa/sa1 1 1\n*/10 * * * * nobody /bin/true\n", system=True
    )
    config = parse_config(system.toml)
    sa1 = own_name("sa1", "*/5 * * * *", "/usr/lib/sa/sa1 1 1", "root")
    assert system.names == [sa1, own_name("true", "*/10 * * * *", "/bin/true", "nobody")]
    assert config.schedules[sa1].cron == "*/5 * * * *"
    assert config.jobs[sa1].user == "root"
    assert config.jobs[sa1].command == ("/usr/lib/sa/sa1 1 1",)
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
    c = own_name("c", "0 2 * * *", "c")
    assert parse_config(result.toml).jobs[c].description is None  # no prose, an entry


def test_no_syslog_mark_through_the_command_line(env: Env, tmp_path: Path) -> None:
    crontab = tmp_path / "syscron"
    crontab.write_text("-*/5 * * * * root /usr/lib/sa/sa1 1 1\n")
    done = env.run("import-crontab", "--system", str(crontab), check=True, config=False)
    assert f"jobctl: {crontab}: line 1: the leading '-'" in done.stderr
    sa1 = own_name("sa1", "*/5 * * * *", "/usr/lib/sa/sa1 1 1", "root")
    assert f"[jobs.{sa1}]" in done.stdout


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
    assert result.names == [own_name("echo-lower", "@hourly", "echo lower")]

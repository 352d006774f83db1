"""jobctl.crontab: real-world crontabs in, jobs.toml out, checked through parse_config.

Commands are also run through /bin/sh after jobctl's own placeholder rendering, to show
that what a job runs is what cron ran (standard input from `%` included).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Env
from hypothesis import given, settings
from hypothesis import strategies as st

from jobctl import cron
from jobctl.config import JOB_NAME, Config, parse_config
from jobctl.crontab import (
    CrontabWarning,
    ImportResult,
    foreground,
    import_crontab,
    job_name,
    shell_command,
    split_percent,
)
from jobctl.payload import render_argv

DATA = Path(__file__).parent / "data" / "crontab"


_OWN_DIGEST = re.compile(r"-[0-9a-f]{6}$")


def base_names(names: list[str]) -> list[str]:
    """Imported names without the digest of their own line every one ends in (the digest
    itself: tests/test_crontab_import_stable.py), as the tests here expect them."""
    for name in names:
        assert _OWN_DIGEST.search(name), name
    return [_OWN_DIGEST.sub("", name) for name in names]


def by_base_name(config: Config) -> Config:
    """`config` with its jobs and schedules under their base names (unique in these tests)."""
    jobs = dict(zip(base_names(list(config.jobs)), config.jobs.values(), strict=True))
    schedules = dict(
        zip(base_names(list(config.schedules)), config.schedules.values(), strict=True)
    )
    assert len(jobs) == len(config.jobs) and len(schedules) == len(config.schedules)
    return config._replace(jobs=jobs, schedules=schedules)


def convert(text: str, system: bool = False) -> tuple[ImportResult, Config]:
    """The result, and its config with jobs and schedules under their base names."""
    result = import_crontab(text, system=system)
    return result, by_base_name(parse_config(result.toml))


def rendered(config: Config, name: str | None = None) -> str:
    """The shell line the worker hands to /bin/sh -c for job `name` (or the only job)."""
    if name is None:
        (name,) = config.jobs
    job = config.jobs[name]
    assert job.shell
    return render_argv(job.command, {}, shell=True)[0]


def run_shell(line: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["/bin/sh", "-c", line],
        capture_output=True,
        text=True,
        env=env or {"PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=True,
    )
    return result.stdout


def messages(result: ImportResult) -> dict[int, str]:
    return {warning.line: warning.message for warning in result.warnings}


# ---------------------------------------------------------------------------------------------
# `%`, as cron reads it


@pytest.mark.parametrize(
    ("entry_command", "command", "stdin"),
    [
        (r"date +\%Y-\%m-\%d", "date +%Y-%m-%d", None),
        (r"echo 50\% done", "echo 50% done", None),
        ("cat%hello%world", "cat", "hello\nworld\n"),
        ("cat%line%", "cat", "line\n"),
        ("cat%", "cat", None),
        (r"cat%a\%b", "cat", "a%b\n"),
        (r"cat%a\b", "cat", "a\\b\n"),
        ("cat%a\\", "cat", "a\\\n"),
        (r"echo a\\%b", "echo a\\\\", "b\n"),
        ("mail -s 'x' root%Hi,%%bye%", "mail -s 'x' root", "Hi,\n\nbye\n"),
        ("no percent at all", "no percent at all", None),
    ],
)
def test_split_percent(entry_command: str, command: str, stdin: str | None) -> None:
    assert split_percent(entry_command) == (command, stdin)


def test_stdin_reaches_the_command() -> None:
    _, config = convert("* * * * * cat%hello%world\\%!\n")
    assert run_shell(rendered(config)) == "hello\nworld%!\n"


def test_escaped_percent_reaches_date() -> None:
    _, config = convert("0 3 * * * date -u -d @0 +\\%Y-\\%m-\\%d\n")
    assert run_shell(rendered(config)) == "1970-01-01\n"


def test_braces_reach_the_shell_unchanged() -> None:
    text = "0 * * * * echo ${GREETING} {literal} && echo a b | awk '{print $2}'\n"
    _, config = convert("GREETING=hi\n" + text)
    assert rendered(config) == text.split(" ", 5)[5].rstrip("\n")
    output = run_shell(rendered(config), {"PATH": "/usr/bin:/bin", "GREETING": "hi"})
    assert output == "hi {literal}\nb\n"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_crontab_shell_runs_the_command() -> None:
    bash = shutil.which("bash")
    _, config = convert(f"SHELL={bash}\n* * * * * [[ 1 == 1 ]] && echo yes%ignored\n")
    assert rendered(config).startswith("printf '%s' 'ignored\n' | ")
    assert run_shell(rendered(config)) == "yes\n"
    _, config = convert(f"SHELL={bash}\n* * * * * [[ 1 == 1 ]] && echo yes\n")
    assert rendered(config).startswith(f"exec {bash} -c ")
    assert run_shell(rendered(config)) == "yes\n"


def test_shell_command_forms() -> None:
    assert shell_command("echo {x}", None) == "echo {{x}}"
    assert shell_command("cat", "in\n") == "printf '%s' 'in\n' | /bin/sh -c cat"
    assert shell_command("echo hi", None, "/bin/bash") == "exec /bin/bash -c 'echo hi'"
    assert shell_command("echo hi", None, "/usr/bin/sh") == "echo hi"


# ---------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("cd / && run-parts --report /etc/cron.hourly", "run-parts-cron-hourly"),
        (
            "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
            "run-parts-cron-daily",
        ),
        ("/usr/local/bin/backup.sh --full > /var/log/backup.log 2>&1", "backup"),
        ("pg_dump -U app appdb | gzip > /srv/appdb.sql.gz", "pg_dump-appdb"),
        ("python3 /opt/app/manage.py clearsessions", "manage-clearsessions"),
        ("php /var/www/html/artisan schedule:run >> /dev/null 2>&1", "artisan-schedule-run"),
        ("certbot renew --quiet", "certbot-renew"),
        ("nice -n 19 ionice -c3 /usr/bin/updatedb", "updatedb"),
        ("PATH=/opt/bin:$PATH sync-mirror", "sync-mirror"),
        ("curl -fsS -m 10 --retry 3 https://hc-ping.com/abc123 > /dev/null", "curl-abc123"),
        ("find /tmp -name '*.tmp' -mtime +14 -delete", "find-tmp"),
        ("sleep 30; /usr/bin/foo", "foo"),
        ("echo $(date) >> /tmp/log", "echo"),
        ("cd /srv", "cd-srv"),
        ("", "job"),
        # Debian's own lines: quotes hide parentheses, keywords and inline code say nothing.
        (
            "test -x /usr/bin/certbot -a \\! -d /run/systemd/system &&"
            " perl -e 'sleep int(rand(43200))' && certbot -q renew",
            "certbot",
        ),
        (
            "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ];"
            " then /usr/lib/php/sessionclean; fi",
            "sessionclean",
        ),
        ("php -f /var/www/nextcloud/cron.php --define apc.enable_cli=1", "cron"),
        ("sh -c 'echo hi'", "sh"),
    ],
)
def test_names_say_what_runs(command: str, name: str) -> None:
    assert job_name(command, set()) == name
    assert JOB_NAME.match(name)


def test_names_are_unique() -> None:
    assert job_name("backup.sh", {"backup"}) == "backup-2"
    assert job_name("backup.sh", {"backup", "backup-2"}) == "backup-3"


def test_long_names_stay_valid() -> None:
    command = "/opt/" + "a" * 80 + ".sh " + "b" * 80
    first = job_name(command, set())
    second = job_name(command, {first})
    assert len(first) <= 48
    assert JOB_NAME.match(first)
    assert JOB_NAME.match(second)
    assert second != first


# ---------------------------------------------------------------------------------------------
# A real user crontab


@pytest.fixture(scope="module")
def user_crontab() -> tuple[ImportResult, Config]:
    return convert((DATA / "user.crontab").read_text())


def test_user_crontab_jobs(user_crontab: tuple[ImportResult, Config]) -> None:
    result, config = user_crontab
    assert base_names(result.names) == [
        "pg_dump-appdb",
        "find-backups",
        "healthcheck",
        "artisan-queue-restart",
        "rotate-keys",
        "certbot-renew",
        "docker-system",
        "mail-ops-example-com",
        "curl-abc123",
        "echo-lunch-at-12-00-sharp",
        "indented-job",
    ]
    assert list(config.jobs) == base_names(result.names)
    assert list(config.schedules) == base_names(result.names)
    for name, base in zip(result.names, base_names(result.names), strict=True):
        job, schedule = config.jobs[base], config.schedules[base]
        assert job.shell
        assert job.max_attempts == 1
        assert schedule.job == name
        assert schedule.overlap == "allow"
        assert schedule.catch_up == "none"
        cron.parse(schedule.cron)


def test_user_crontab_schedules_keep_their_expressions(
    user_crontab: tuple[ImportResult, Config],
) -> None:
    _, config = user_crontab
    crons = {name: spec.cron for name, spec in config.schedules.items()}
    assert crons["pg_dump-appdb"] == "30 2 * * *"
    assert crons["healthcheck"] == "*/5 * * * *"
    assert crons["artisan-queue-restart"] == "0 9-17/2 * * mon-fri"
    assert crons["rotate-keys"] == "0 0 1 JAN,JUL *"
    assert crons["certbot-renew"] == "@daily"
    assert crons["docker-system"] == "@weekly"
    assert crons["mail-ops-example-com"] == "5 4 * * sun"
    assert crons["indented-job"] == "0 1 * * *"


def test_user_crontab_commands(user_crontab: tuple[ImportResult, Config]) -> None:
    _, config = user_crontab
    assert rendered(config, "pg_dump-appdb") == (
        "pg_dump -U app appdb | gzip > $BACKUP_DIR/appdb-$(date +%Y-%m-%d).sql.gz"
    )
    assert rendered(config, "healthcheck") == (
        "/usr/local/bin/healthcheck.sh --quiet >/dev/null 2>&1"
    )
    # Trailing blanks are gone; the quoted argument is intact.
    assert rendered(config, "certbot-renew") == (
        '/usr/bin/certbot renew --quiet --post-hook "systemctl reload nginx"'
    )
    assert rendered(config, "mail-ops-example-com") == (
        "printf '%s' 'Hi,\n\nthe report ran at $(date +%H:%M).\n' | "
        "/bin/sh -c 'mail -s \"Weekly report\" ops@example.com'"
    )
    assert rendered(config, "echo-lunch-at-12-00-sharp") == (
        'echo "lunch at 12:00 {sharp}" ${HOME}'
    )


def test_user_crontab_environment(user_crontab: tuple[ImportResult, Config]) -> None:
    _, config = user_crontab
    for job in config.jobs.values():
        assert dict(job.env) == {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "BACKUP_DIR": "/srv/backups",
        }
        assert job.cwd is None
        assert job.user is None


def test_user_crontab_descriptions(user_crontab: tuple[ImportResult, Config]) -> None:
    _, config = user_crontab
    descriptions = {name: job.description for name, job in config.jobs.items()}
    assert descriptions["pg_dump-appdb"] == "Nightly database dump, compressed, one file per day"
    assert descriptions["find-backups"] == "Rotate old dumps"
    assert descriptions["indented-job"] == "an indented comment"
    assert descriptions["healthcheck"] is None  # a blank line stands between
    assert descriptions["artisan-queue-restart"] is None
    assert config.schedules["find-backups"].description == "Rotate old dumps"


def test_user_crontab_warnings(user_crontab: tuple[ImportResult, Config]) -> None:
    result, _ = user_crontab
    found = messages(result)
    assert sorted(found) == [6, 21, 22, 24, 25, 26]
    assert found[6].startswith("MAILTO ignored")
    assert found[21].startswith("@reboot entry not imported")
    assert "'/usr/local/bin/start-agent'" in found[21]
    assert "standard input" in found[22]
    assert found[24] == (
        "not imported: invalid cron '70 * * * *': minute field '70' out of range 0-59"
    )
    assert found[25] == "not imported: no command after the schedule"
    assert "month field 'echo'" in found[26]
    assert str(result.warnings[0]) == f"line 6: {found[6]}"
    assert all(isinstance(w, CrontabWarning) for w in result.warnings)


def test_toml_names_each_source_line(user_crontab: tuple[ImportResult, Config]) -> None:
    result, _ = user_crontab
    assert "# line 12: 30 2 * * * pg_dump -U app appdb" in result.toml
    assert result.toml.startswith("# Converted from a crontab")


# ---------------------------------------------------------------------------------------------
# Debian's /etc/crontab


@pytest.fixture(scope="module")
def debian() -> tuple[ImportResult, Config]:
    return convert((DATA / "debian-system.crontab").read_text(), system=True)


def test_debian_system_crontab(debian: tuple[ImportResult, Config]) -> None:
    result, config = debian
    assert result.warnings == []
    assert base_names(result.names) == [
        "run-parts-cron-hourly",
        "run-parts-cron-daily",
        "run-parts-cron-weekly",
        "run-parts-cron-monthly",
    ]
    assert [config.schedules[n].cron for n in base_names(result.names)] == [
        "17 * * * *",
        "25 6 * * *",
        "47 6 * * 7",
        "52 6 1 * *",
    ]
    for name in base_names(result.names):
        job = config.jobs[name]
        assert job.user == "root"
        assert dict(job.env) == {"SHELL": "/bin/sh"}
        assert job.description is None  # the example block above is not a description
    assert rendered(config, "run-parts-cron-hourly") == (
        "cd / && run-parts --report /etc/cron.hourly"
    )
    assert rendered(config, "run-parts-cron-daily") == (
        "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }"
    )


def test_system_line_without_command() -> None:
    result, config = convert("17 * * * * root\n0 * * * *\n", system=True)
    assert messages(result) == {
        1: "not imported: no command after the schedule",
        2: "not imported: no user and no command after the schedule",
    }
    assert not config.jobs


def test_system_line_with_a_bad_user() -> None:
    result, _ = convert("17 * * * * r%ot echo\n", system=True)
    assert messages(result) == {1: "not imported: 'r%ot' is not a user name"}


def test_system_line_whose_user_this_host_lacks_is_imported_with_a_note() -> None:
    """A user crontab given to --system reads the command's first word as the user: `echo
    hi` became a job running `hi` as a user `echo`, with no word said (as --user says)."""
    result, config = convert("* * * * * echo hi\n17 * * * * root true\n", system=True)
    assert messages(result) == {
        1: "user 'echo' is no user on this host: its job fails to start until there is one"
        " (a user crontab given to --system?)"
    }
    assert len(config.jobs) == 2


# ---------------------------------------------------------------------------------------------
# Lines one at a time


def test_empty_crontab() -> None:
    result, config = convert("")
    assert result.names == []
    assert not config.jobs
    assert not config.schedules


def test_crlf_and_trailing_blanks() -> None:
    result, config = convert("FOO=bar \r\n0 5 * * * echo hi   \r\n")
    assert result.warnings == []
    assert rendered(config, "echo-hi") == "echo hi"
    assert dict(config.jobs["echo-hi"].env) == {"FOO": "bar"}


def test_environment_applies_to_the_lines_below() -> None:
    text = "0 1 * * * first\nA=1\n0 2 * * * second\nA = '2'\nB=\"x y\"\n0 3 * * * third\n"
    _, config = convert(text)
    assert dict(config.jobs["first"].env) == {}
    assert dict(config.jobs["second"].env) == {"A": "1"}
    assert dict(config.jobs["third"].env) == {"A": "2", "B": "x y"}


def test_home_is_the_working_directory() -> None:
    _, config = convert("HOME=/home/alice\n0 1 * * * ./nightly.sh\n")
    job = config.jobs["nightly"]
    assert job.cwd == "/home/alice"
    assert job.env["HOME"] == "/home/alice"


def test_cron_tz_sets_the_schedule_zone() -> None:
    text = "CRON_TZ=Europe/Berlin\n30 2 * * * a\nCRON_TZ=Mars/Base\n30 2 * * * b\n"
    result, config = convert(text)
    assert config.schedules["a"].timezone == "Europe/Berlin"
    assert config.schedules["b"].timezone == "Europe/Berlin"
    assert messages(result) == {3: "CRON_TZ ignored: unknown time zone 'Mars/Base'"}
    assert "CRON_TZ" not in config.jobs["a"].env


def test_random_delay_becomes_jitter() -> None:
    result, config = convert("RANDOM_DELAY=5\n0 * * * * a\nRANDOM_DELAY=soon\n")
    assert config.schedules["a"].jitter == 300
    assert messages(result) == {3: "RANDOM_DELAY ignored: 'soon' is not a number of minutes"}


def test_mail_variables_are_dropped() -> None:
    result, config = convert('MAILTO=""\nMAILFROM=cron@example.com\n0 * * * * a\n')
    assert dict(config.jobs["a"].env) == {}
    # MAILTO="": cron mailed no one, so nothing is lost and no hook is offered.
    assert messages(result) == {
        2: "MAILFROM ignored: jobctl sends no mail; output goes to the job logs"
    }
    assert "on_dead" not in result.toml


def test_bad_variable_name() -> None:
    result, config = convert("MY-VAR=1\n0 * * * * a\n")
    assert messages(result) == {1: "not imported: 'MY-VAR' is not a variable name"}
    assert "a" in config.jobs


def test_line_that_is_not_an_entry() -> None:
    result, config = convert("export FOO=bar\nrun-backup now\n0 * * * * a\n")
    assert messages(result) == {
        1: "not imported: neither an entry (FIELDS COMMAND) nor NAME=value",
        2: "not imported: neither an entry (FIELDS COMMAND) nor NAME=value",
    }
    assert list(config.jobs) == ["a"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("61 * * * * a", "minute field '61' out of range 0-59"),
        ("* 24 * * * a", "hour field '24' out of range 0-23"),
        ("* * * * 8 a", "day-of-week field '8' out of range 0-7"),
        ("0 0 30 2 * a", "never occurs"),
        ("@hourly", "no command after the schedule"),
        ("@fortnightly a", "unknown macro '@fortnightly'"),
        ("0 0 L * * a", "extension jobctl does not support"),
        ("0 * * * * %only input", "the command is empty before its first '%'"),
    ],
)
def test_malformed_lines_are_named_and_the_rest_converts(line: str, message: str) -> None:
    result, config = convert(f"0 1 * * * before\n{line}\n0 2 * * * after\n")
    found = messages(result)
    assert list(found) == [2]
    assert message in found[2]
    assert list(config.jobs) == ["before", "after"]


def test_reboot_is_reported_not_imported() -> None:
    result, config = convert("@reboot /usr/bin/agent --start\n")
    assert not config.jobs
    assert messages(result) == {
        1: "@reboot entry not imported: schedules fire at times, not at boot; "
        "start '/usr/bin/agent --start' from the init system instead"
    }


def test_reboot_of_a_system_crontab_names_the_command_without_its_user() -> None:
    result, config = convert("@reboot\troot\t/usr/local/sbin/warmup.sh --all\n", system=True)
    assert not config.jobs
    assert messages(result) == {
        1: "@reboot entry not imported: schedules fire at times, not at boot; "
        "start '/usr/local/sbin/warmup.sh --all' from the init system instead"
    }


def test_every_is_left_out_as_cron_never_ran_it() -> None:
    result, config = convert("@every 90s /usr/bin/poll\n0 1 * * * a\n")
    assert list(config.jobs) == ["a"]
    assert "'@every' is jobctl's own" in messages(result)[1]


def test_comments_make_descriptions_only_directly_above() -> None:
    text = (
        "# about a\n"
        "0 1 * * * a\n"
        "# about nothing\n"
        "\n"
        "0 2 * * * b\n"
        "# about the variable\n"
        "X=1\n"
        "0 3 * * * c\n"
        "# prose\n"
        "# 0 4 * * * disabled-job\n"
        "0 5 * * * d\n"
        "# ------------------\n"
        "0 6 * * * e\n"
        "#\tspaced   out  \n"
        "##   twice\n"
        "0 7 * * * f\n"
    )
    _, config = convert(text)
    assert {name: job.description for name, job in config.jobs.items()} == {
        "a": "about a",
        "b": None,
        "c": None,
        "d": None,
        "e": None,
        "f": "spaced   out twice",
    }


def test_same_command_twice_gets_two_names() -> None:
    result = import_crontab("0 1 * * * backup.sh\n0 13 * * * backup.sh\n")
    config = parse_config(result.toml)
    assert result.names == ["backup-fd1eb7", "backup-17092f"]
    assert config.schedules["backup-17092f"].cron == "0 13 * * *"


def test_vixie_day_quirk_is_pointed_out() -> None:
    result, config = convert("0 0 */2 * MON a\n0 0 1 * MON b\n0 0 * * MON c\n")
    assert list(messages(result)) == [1]
    assert "either" in messages(result)[1]
    assert list(config.jobs) == ["b", "c"]


def test_names_with_dots_and_reserved_words_stay_valid() -> None:
    result, config = convert("0 1 * * * exec /usr/bin/exec.d/run.v2\n0 2 * * * ./exec\n")
    for name in result.names:
        assert JOB_NAME.match(name)
        assert name != "exec"
    assert len(config.jobs) == 2


# ---------------------------------------------------------------------------------------------
# Properties


commands = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_characters="\n\r\x00",  # a NUL line is left out (see the test of it)
        exclude_categories=("Cs",),
    ),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip(" \t") == text)


@settings(max_examples=300, deadline=None)
@given(command=commands, system=st.booleans())
def test_any_command_survives_the_round_trip(command: str, system: bool) -> None:
    """Whatever the command holds (braces, quotes, %, control characters), the TOML parses
    and the worker runs exactly the line cron would have run."""
    user = " nobody" if system else ""
    result, config = convert(f"*/5 * * * *{user} {command}\n", system=system)
    expected_command, stdin = split_percent(command)
    expected_command = foreground(expected_command)[0]  # a trailing '&' goes (see its test)
    if not expected_command.strip():
        assert not config.jobs
        return
    assert len(config.jobs) == 1
    (name,) = config.jobs
    assert JOB_NAME.match(result.names[0])
    line = render_argv(config.jobs[name].command, {}, shell=True)[0]
    assert line == shell_command(expected_command, stdin).replace("{{", "{").replace("}}", "}")
    if stdin is None:
        assert line == expected_command
    assert config.schedules[name].cron == "*/5 * * * *"
    assert (config.jobs[name].user == "nobody") is system


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "",
                    "# a comment",
                    "MAILTO=root",
                    "PATH=/usr/bin:/bin",
                    "@reboot x",
                    "61 * * * * bad",
                    "0 0 * * * dup",
                    "@daily dup",
                    "*/15 9-17 * * MON-FRI work",
                    "garbage line",
                    "5 4 * * sun cat%a%b",
                ]
            ),
            commands.map(lambda command: f"0 12 * * * {command}"),
        ),
        max_size=15,
    )
)
def test_any_crontab_converts_to_valid_config(lines: list[str]) -> None:
    result = import_crontab("\n".join(lines))
    config = parse_config(result.toml)
    assert list(config.jobs) == result.names
    assert len(set(result.names)) == len(result.names)
    assert all(1 <= warning.line <= max(len(lines), 1) for warning in result.warnings)


def test_a_users_crontab_runs_as_that_user_in_its_home_under_names_of_its_own() -> None:
    text = "@hourly echo tick\nHOME=/srv\n@daily echo tock\n"
    root, config = convert_as(text, "root")
    assert base_names(list(config.jobs)) == ["root-echo-tick", "root-echo-tock"]
    config = by_base_name(config)
    tick, tock = config.jobs["root-echo-tick"], config.jobs["root-echo-tock"]
    # No cwd: a worker starts a user's job in that user's home, or in / when it has none
    # (a home written down here would fail every start once it is gone).
    assert (tick.user, tick.cwd) == ("root", None)
    assert (tock.user, tock.cwd) == ("root", "/srv")  # HOME= still says where, as for cron
    other, other_config = convert_as(text, "someone-unknown")
    merged = parse_config(root.toml + other.toml)  # two users' crontabs make one config
    assert len(merged.jobs) == 4
    assert by_base_name(other_config).jobs["someone-unknown-echo-tick"].cwd is None


def convert_as(text: str, user: str) -> tuple[ImportResult, Config]:
    result = import_crontab(text, user=user)
    return result, parse_config(result.toml)


def test_import_crontab_user_is_refused_with_system_or_when_no_name(env: Env) -> None:
    env.root.joinpath("c").write_text("@hourly true\n")
    both = env.run("import-crontab", "--user", "root", "--system", "c", config=False)
    assert (both.returncode, both.stdout) == (2, "")
    assert "--user is for one user's crontab" in both.stderr
    bad = env.run("import-crontab", "--user", "a b", "c", config=False)
    assert bad.returncode == 2 and "not a user name" in bad.stderr


def test_import_crontab_user_unknown_to_this_host_is_said_and_still_converted(env: Env) -> None:
    env.root.joinpath("c").write_text("@hourly true\n")
    done = env.run("import-crontab", "--user", "jobctl-no-such-user", "c", config=False)
    assert done.returncode == 0
    assert re.search(r"^\[jobs\.jobctl-no-such-user-true-[0-9a-f]{6}\]$", done.stdout, re.M)
    assert done.stderr == (
        "jobctl: --user jobctl-no-such-user: no such user on this host; its jobs fail to"
        " start until there is one\n"
    )
    known = env.run("import-crontab", "--user", "root", "c", config=False)
    assert (known.returncode, known.stderr) == (0, "")


def test_a_backgrounded_command_runs_as_the_job_itself() -> None:
    """`cmd &` in a crontab: cron's shell exits and the work goes on. A job's leftovers are
    stopped when its shell exits, so the work was lost, and the job said it succeeded."""
    result, config = convert(
        "0 * * * * nohup /usr/bin/backup --all > /tmp/b.log 2>&1 &\n"
        "5 * * * * test -x /usr/bin/a && /usr/bin/a\n"
    )
    lines = sorted(rendered(config, name) for name in config.jobs)
    assert lines[0].endswith("/usr/bin/backup --all > /tmp/b.log 2>&1"), lines
    assert lines[1].endswith("test -x /usr/bin/a && /usr/bin/a"), lines
    assert messages(result) == {
        1: "the trailing '&' is dropped: the command runs as the job itself (jobctl stops what"
        " a job leaves running when its shell exits, and logs its output)"
    }


def test_two_imports_appended_to_one_config_keep_apart_with_prefixes(env: Env) -> None:
    """Root's crontab, then /etc/crontab, appended to one jobs.toml: both had a backup.sh
    line, both named it `backup`, and the config no longer parsed (the table twice)."""
    mine, system = env.root / "mine.crontab", env.root / "system.crontab"
    mine.write_text("0 1 * * * /usr/local/bin/backup.sh\n")
    system.write_text("0 2 * * * root /usr/local/bin/backup.sh\n")
    first = env.run("import-crontab", "--prefix", "root", str(mine), check=True).stdout
    second = env.run("import-crontab", "--system", "--prefix", "sys", str(system), check=True)
    config = parse_config(first + second.stdout)
    assert base_names(sorted(config.jobs)) == ["root-backup", "sys-backup"]
    refused = env.run("import-crontab", "--prefix", "two words", str(mine))
    assert refused.returncode == 2 and refused.stderr.startswith("jobctl: --prefix: ")


def test_a_system_crontab_cron_would_skip_is_imported_with_a_warning(env: Env) -> None:
    """cron skips a system crontab root does not own, or that others may write (WRONG FILE
    OWNER, BAD FILE MODE): its lines would run as root. The import said nothing of it."""
    crontab = env.root / "cron.d-file"
    crontab.write_text("* * * * * root id > /tmp/x\n")
    crontab.chmod(0o666)
    loose = env.run("import-crontab", "--system", str(crontab), check=True)
    assert 'user = "root"' in loose.stdout
    assert loose.stderr.startswith(f"jobctl: warning: {crontab}: is writable by group or others")
    assert "cron skips such a system crontab" in loose.stderr
    crontab.chmod(0o644)
    if os.geteuid() == 0:
        assert env.run("import-crontab", "--system", str(crontab), check=True).stderr == ""
        os.chown(crontab, 1001, 1001)
        owned = env.run("import-crontab", "--system", str(crontab), check=True)
        assert "is not owned by root: cron skips" in owned.stderr


# ---------------------------------------------------------------------------------------------
# What cron did that jobctl does otherwise: ANDed day fields, MAILTO, nothing pruned


def _fake_weekday_date(folder: Path) -> Path:
    """A `date` that prints $WEEKDAY, so that a check of `date +%w` can be run for any day."""
    folder.mkdir(exist_ok=True)
    fake = folder / "date"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$WEEKDAY"\n')
    fake.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("line", "day", "weekday", "alone", "weekdays"),
    [
        ("0 0 */10 * 1-5 payroll.sh", "*/10", "1-5", "0 0 */10 * *", {1, 2, 3, 4, 5}),
        ("0 0 1 * */2 payroll.sh", "1", "*/2", "0 0 1 * *", {0, 2, 4, 6}),
        ("0 0 1-7 * sat payroll.sh", "1-7", "sat", "", {6}),  # no '*': cron ORs them too
    ],
)
def test_a_line_whose_day_fields_cron_ands_is_left_out_with_a_way_to_keep_its_days(
    tmp_path: Path, line: str, day: str, weekday: str, alone: str, weekdays: set[int]
) -> None:
    """`0 0 */10 * 1-5` fires 2 or 3 times a month under vixie cron and cronie (days 1, 11,
    21, 31 that are weekdays), and about 23 times under jobctl, which ORs the day fields. It
    was imported with a warning on stderr, while stdout went to jobs.toml."""
    result, config = convert(f"0 1 * * * before\n{line}\n0 2 * * * after\n")
    found = messages(result)
    if "*" not in day + weekday:  # both plain: cron ORs them too, and so does jobctl
        assert (found, list(config.jobs)) == ({}, ["before", "payroll", "after"])
        return
    assert list(config.jobs) == ["before", "after"]
    check = f"case $(date +%w) in [{''.join(map(str, sorted(weekdays)))}]) ;; *) exit 0 ;; esac;"
    assert found == {
        2: "not imported: cron runs this line only on days that match both day-of-month"
        f" {day!r} and day-of-week {weekday!r} (vixie cron and cronie require both when one"
        " starts with '*'), jobctl on days that match either, more often; to keep cron's"
        f" days, schedule {alone!r} and begin the command with {check!r}"
    }
    # The way out keeps cron's days: the schedule fires on the days of the month alone, and
    # the check lets the command run on cron's weekdays only.
    fields = cron.parse(alone).fields
    assert fields is not None
    assert fields.days == cron.parse(line.rsplit(" ", 1)[0]).fields.days  # type: ignore[union-attr]
    assert fields.weekdays == frozenset(range(7))
    path = f"{_fake_weekday_date(tmp_path / 'bin')}:/usr/bin:/bin"
    for number in range(7):
        said = run_shell(f"{check} echo ran", {"PATH": path, "WEEKDAY": str(number)})
        assert (said == "ran\n") is (number in weekdays), number


def test_the_check_of_a_left_out_line_reads_the_weekday_in_the_crontab_s_zone() -> None:
    result, _ = convert("CRON_TZ=Pacific/Kiritimati\n0 0 1 * */2 a\n")
    assert "'case $(TZ=Pacific/Kiritimati date +%w) in [0246])" in messages(result)[2]


def test_a_line_whose_day_fields_come_to_the_same_days_either_way_is_imported() -> None:
    """Every day of February with any weekday: ANDed or ORed, the same days."""
    result, config = convert("0 0 */2,2-28/2 FEB 0-6 leap-check\n")
    assert (result.warnings, list(config.jobs)) == ([], ["leap-check"])


def test_a_line_whose_day_of_month_never_occurs_is_left_out_as_cron_never_ran_it() -> None:
    """Vixie cron and cronie AND `31` in April with `*/7` into no day; jobctl, with no day 31
    to OR with, fired every Sunday in April. Both lines were imported in silence. With no
    `*` cron ORs them too, and the weekday alone decides either way: imported."""
    result, config = convert("0 0 31 4 */7 a\n0 0 31 2 */2 b\n0 0 31 4 MON c\n")
    assert messages(result) == {
        line: "not imported: cron never runs this line: day-of-month '31' never occurs in"
        f" month field {month!r}, and vixie cron and cronie require both day fields when one"
        f" starts with '*'; jobctl would fire on every day day-of-week {weekday!r} matches"
        for line, month, weekday in ((1, "4", "*/7"), (2, "2", "*/2"))
    }
    assert list(config.jobs) == ["c"]


days_of_month = st.sampled_from(["*/10", "*/2", "1", "1-7", "*/2,2-28/2", "1-31", "15,L"])
days_of_week = st.sampled_from(["1-5", "*/2", "0-6", "sat", "*/3,1-6", "*/1", "mon-fri,sun"])


@settings(max_examples=60, deadline=None)
@given(day=days_of_month, weekday=days_of_week, month=st.sampled_from(["*", "FEB", "4,6", "1-2"]))
def test_a_day_line_is_imported_exactly_when_it_fires_on_cron_s_days(
    day: str, weekday: str, month: str
) -> None:
    """Brute force over 28 years (every date on every weekday, 29 February too): a line is
    left out exactly when jobctl's days differ from vixie cron's."""
    import datetime

    expression = f"0 0 {day} {month} {weekday}"
    result, config = convert(f"{expression} job\n")
    try:
        fields = cron.parse(expression).fields
    except cron.CronError:
        assert not config.jobs  # a field jobctl cannot read: left out as before
        return
    assert fields is not None
    days = cron.parse(f"0 0 {day} {month} *").fields.days  # type: ignore[union-attr]
    weekdays = cron.parse(f"0 0 * {month} {weekday}").fields.weekdays  # type: ignore[union-attr]
    vixie_ands = day.startswith("*") or weekday.startswith("*")
    differ = False
    date = datetime.datetime(2000, 1, 1)
    while date.year < 2028 and not differ:
        if date.month in fields.months:
            either, both = date.day in days, (date.weekday() + 1) % 7 in weekdays
            under_cron = (either and both) if vixie_ands else (either or both)
            differ = fields.matches(date) != under_cron
        date += datetime.timedelta(days=1)
    assert (list(config.jobs) == ["job"]) is not differ, result.warnings


def _enable(toml: str, *lines: str) -> str:
    """The document with the commented-out lines given (as they start) enabled."""
    return "".join(
        line[2:] if line.startswith(tuple(f"# {start}" for start in lines)) else line
        for line in toml.splitlines(keepends=True)
    )


def test_mailto_becomes_a_hook_that_mails_a_failed_run_s_log_to_its_addresses(env: Env) -> None:
    """MAILTO was dropped with a warning: imported jobs (max_attempts = 1) failed and no one
    heard of it. Each job it covers gets a commented-out on_dead hook; enabled, it passes every
    address to mail as one word, whatever the address holds, and the run's log as the body."""
    odd = 'o\'brien+"x"$(touch pwned)`id`\\a@example.com'
    crontab = env.root / "crontab"
    crontab.write_text(
        f'MAILTO="{odd}, Ops Team <ops@example.com>"\n'
        "X=1\n"  # an env table follows the job's keys: the hook must come before it
        "0 3 * * * echo disk full; exit 3\n"
        'MAILTO=""\n'
        "0 4 * * * true\n"
    )
    done = env.run("import-crontab", str(crontab), config=False, check=True)
    assert done.stderr.startswith(
        f"jobctl: {crontab}: line 1: MAILTO ignored: jobctl sends no mail; output goes to the"
        " job logs. Each job it covers has an on_dead hook, commented out, that mails"
    )
    imported = parse_config(done.stdout).jobs
    assert all(job.on_dead is None for job in imported.values())  # commented out until enabled
    env.write_config(_enable(done.stdout, "on_dead = "))
    assert env.run("validate", check=True).returncode == 0
    config = by_base_name(parse_config(env.config.read_text()))
    assert config.jobs["true"].on_dead is None  # MAILTO="": cron mailed no one
    assert config.jobs["echo-disk"].on_dead is not None
    assert dict(config.jobs["echo-disk"].env) == {"X": "1"}

    mail = env.root / "bin" / "mail"
    mail.parent.mkdir()
    mail.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$MAIL_OUT.args"\ncat > "$MAIL_OUT.body"\n')
    mail.chmod(0o755)
    out = env.root / "sent"
    env.env["PATH"] = f"{mail.parent}:{env.env['PATH']}"
    env.env["MAIL_OUT"] = str(out)
    disk = config.jobs["echo-disk"].name
    job_id = env.enqueue(disk)
    env.run("run-worker", "--burst", check=True)
    env.wait_for(lambda: Path(f"{out}.body").exists())
    assert env.show(job_id)["state"] == "dead"
    assert Path(f"{out}.args").read_text().splitlines() == [
        "-s",
        f"jobctl: {disk} failed",
        odd,
        "Ops Team <ops@example.com>",
    ]
    assert Path(f"{out}.body").read_text() == "disk full\n"
    assert not (env.root / "pwned").exists()


def test_a_mailto_that_mail_would_read_as_an_option_gets_no_hook() -> None:
    result, config = convert("MAILTO=-oQ/tmp/x\n0 1 * * * a\n")
    assert messages(result) == {1: "MAILTO ignored: '-oQ/tmp/x' is no list of mail addresses"}
    assert "on_dead" not in result.toml and "a" in config.jobs


addresses = st.lists(
    commands.filter(lambda text: "," not in text and not text.startswith("-")),
    min_size=1,
    max_size=3,
).filter(lambda found: found[0][0] not in "\"'")  # (quotes around a value are removed)


@pytest.fixture(scope="module")
def fake_mail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `mail` that writes its arguments, each ended by a NUL, to $MAIL_OUT."""
    folder = tmp_path_factory.mktemp("bin")
    (folder / "mail").write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$MAIL_OUT"\n')
    (folder / "mail").chmod(0o755)
    return folder


@settings(max_examples=100, deadline=None)
@given(found=addresses)
def test_any_mailto_makes_a_hook_that_parses_when_enabled_and_mails_each_address(
    fake_mail: Path, found: list[str]
) -> None:
    """Whatever MAILTO holds, the document parses with the hook enabled, and /bin/sh hands
    mail the addresses unchanged, one word each."""
    result, _ = convert(f"MAILTO={', '.join(found)}\nX=1\n0 1 * * * a\n")
    hook = by_base_name(parse_config(_enable(result.toml, "on_dead = "))).jobs["a"].on_dead
    assert hook is not None and hook[:2] == ("/bin/sh", "-c")
    out = fake_mail / "args"
    path = f"{fake_mail}:/usr/bin:/bin"
    run_shell(hook[2], {"PATH": path, "MAIL_OUT": str(out), "JOBCTL_JOB_NAME": "a"})
    assert out.read_text().split("\0")[:-1] == ["-s", "jobctl: a failed", *found]


def test_the_header_suggests_retention_that_validates(env: Env) -> None:
    """A `* * * * *` line adds 1,440 jobs a day, kept until pruned; the header said nothing of
    it. Enabled, its suggestion is a valid [settings] table."""
    crontab = env.root / "crontab"
    crontab.write_text("* * * * * /usr/local/bin/poll\n")
    done = env.run("import-crontab", str(crontab), config=False, check=True)
    assert "# minute adds 1,440 a day)" in done.stdout
    env.write_config(_enable(done.stdout, "[settings]", "keep_succeeded", "keep_dead"))
    assert env.run("validate", check=True).returncode == 0
    config = parse_config(env.config.read_text())
    assert (config.settings.keep_succeeded, config.settings.keep_dead) == (7 * 86400, 30 * 86400)


def test_a_step_from_a_single_value_is_left_out_as_crons_differ_on_it() -> None:
    """`5/15`: Debian's cron refuses the line, upstream vixie runs minute 5 alone, cronie
    5-59/15; jobctl took it as cronie does, four runs an hour where Debian's cron ran none.
    A step over `*` or a range is cron's own, and imported."""
    text = "5/15 * * * * a\n0 9 * * mon/2 b\n*/15 * * * * c\n5-59/15 * * * * d\n0 1,5/2 * * * e\n"
    result, config = convert(text)
    assert sorted(config.schedules) == ["c", "d"]
    said = messages(result)
    assert sorted(said) == [1, 2, 5]
    assert said[1].startswith("not imported: '5/15' steps from a single value")
    assert said[5].startswith("not imported: '5/2' steps")

"""The host's time zone as jobctl reads it (/etc/localtime, /etc/timezone) follows a change
of it, as `timedatectl set-timezone` makes one: a running cron daemon plans in the new zone
from its next reload, as cron (through the C library) and systemd's timers do."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

from jobctl import timefmt
from jobctl.config import parse_config
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store.sqlite import SqliteStore

ZONEINFO = Path("/usr/share/zoneinfo")
# At 09:00 in the zone of the host, which it names none of its own.
NINE_DAILY = '[jobs.task]\ncommand = ["true"]\n[schedules.s]\njob = "task"\ncron = "0 9 * * *"\n'


def set_timezone(etc: Path, zone: str) -> None:
    """What `timedatectl set-timezone ZONE` does: a new /etc/localtime link put in place of
    the old one, and /etc/timezone rewritten."""
    fresh = etc / "localtime.new"
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(ZONEINFO / zone)
    os.replace(fresh, etc / "localtime")
    (etc / "timezone").write_text(f"{zone}\n")


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private /etc of the host's zone files, the host's zone read from it; no $TZ."""
    if not (ZONEINFO / "Asia" / "Tokyo").exists():
        pytest.skip(f"no zone files in {ZONEINFO}")
    folder = tmp_path / "etc"
    folder.mkdir()
    set_timezone(folder, "Europe/Berlin")
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(timefmt, "LOCALTIME", str(folder / "localtime"))
    monkeypatch.setattr(timefmt, "TIMEZONE_FILE", str(folder / "timezone"))
    yield folder
    timefmt.local_zone.cache_clear()
    timefmt.host_zone.cache_clear()


def test_the_host_zone_follows_a_new_localtime(etc: Path) -> None:
    assert timefmt.host_zone() == timefmt.local_zone() == "Europe/Berlin"
    set_timezone(etc, "Asia/Tokyo")
    assert timefmt.host_zone() == timefmt.local_zone() == "Asia/Tokyo"


def test_a_copied_localtime_follows_etc_timezone(etc: Path) -> None:
    """A /etc/localtime copied, not linked (as some images have it): /etc/timezone names it."""
    (etc / "localtime").unlink()
    shutil.copyfile(ZONEINFO / "Europe" / "Berlin", etc / "localtime")
    assert timefmt.host_zone() == "Europe/Berlin"
    (etc / "timezone").write_text("America/Chicago\n")
    shutil.copyfile(ZONEINFO / "America" / "Chicago", etc / "localtime")
    assert timefmt.host_zone() == "America/Chicago"


def test_a_reload_plans_in_the_new_host_zone(etc: Path, tmp_path: Path) -> None:
    """Scheduler.load, run on each reload, reads the host's zone as it is now."""
    config = parse_config(NINE_DAILY)
    store = SqliteStore(tmp_path / "cron.db")
    scheduler = Scheduler(store, config, EventLog(stream=io.StringIO()))
    scheduler.load(config, 0.0)
    assert store.time_tables(["s"]) == {"s": "0 9 * * * Europe/Berlin"}
    set_timezone(etc, "Asia/Tokyo")
    scheduler.load(config, 60.0)
    assert store.time_tables(["s"]) == {"s": "0 9 * * * Asia/Tokyo"}


def test_a_running_daemon_follows_set_timezone_on_reload(env: Env, tmp_path: Path) -> None:
    """The real daemon, in a mount namespace of its own whose /etc is a copy: `jobctl
    reload` after the zone changed there plans the schedule in the new zone."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private /etc")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here")
    etc = tmp_path / "private-etc"
    subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
    first, then = "Europe/Berlin", "Asia/Tokyo"
    set_timezone(etc, first)
    env.write_config(NINE_DAILY)
    env.env.pop("TZ", None)
    daemon = subprocess.Popen(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount --bind "{etc}" /etc && exec "$@"',
            "sh",
            *JOBCTL,
            *env.global_args(),
            "schedule-daemon",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    env.procs.append(daemon)

    def planned_in() -> str | None:
        if not env.db.exists():
            return None
        done = env.run("schedule", "list", "--json")
        if done.returncode != 0:
            return None
        (schedule,) = json.loads(done.stdout)
        return str(schedule["timezone"]) if schedule["daemon_running"] else None

    env.wait_for(lambda: planned_in() == first)
    set_timezone(etc, then)
    env.run("reload", check=True)
    env.wait_for(lambda: planned_in() == then)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=30)

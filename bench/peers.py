"""The peers jobctl is compared with, found or installed on demand.

Huey comes from PyPI into the running Python (the project's .venv). task-spooler comes from
Debian's packages, and is installed only when running as root outside CI; otherwise its rows
say "not installed".
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from benchlib import BENCH_DIR, say

HUEY_PEER = BENCH_DIR / "huey_peer.py"


@dataclass(frozen=True)
class Availability:
    """A peer's command (or module) when usable, else why not."""

    path: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.path is not None


def ensure_huey() -> Availability:
    """Huey importable by this Python, installing it from PyPI when missing."""
    if importlib.util.find_spec("huey") is None:
        say("   installing huey from PyPI into this Python (pip install huey) ...")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "huey"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        importlib.invalidate_caches()
        if result.returncode != 0 or importlib.util.find_spec("huey") is None:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return Availability(None, f"not installed: pip install huey failed ({last})")
    return Availability(str(HUEY_PEER))


def find_task_spooler() -> Availability:
    """task-spooler's binary (`tsp` on Debian, `ts` elsewhere), installing it when allowed."""
    found = _task_spooler_on_path()
    if found is not None:
        return Availability(found)
    if os.geteuid() != 0:
        return Availability(None, "not installed (not root: apt-get install task-spooler)")
    if os.environ.get("CI"):
        return Availability(None, "not installed (CI is set: no install attempted)")
    say("   installing task-spooler from Debian's packages (apt-get install task-spooler) ...")
    if not _apt_install("task-spooler"):
        _apt(["apt-get", "update", "-q"])
        _apt_install("task-spooler")
    found = _task_spooler_on_path()
    if found is None:
        return Availability(None, "not installed (apt-get install task-spooler failed)")
    return Availability(found)


def _task_spooler_on_path() -> str | None:
    for name in ("tsp", "ts"):
        path = shutil.which(name)
        if path is not None and _is_task_spooler(path):
            return path
    return None


def _is_task_spooler(path: str) -> bool:
    """`ts` may also be moreutils' timestamp filter: ask the binary what it is."""
    try:
        result = subprocess.run(
            [path, "-V"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "spooler" in (result.stdout + result.stderr).lower()


def _apt_install(package: str) -> bool:
    return _apt(["apt-get", "install", "-y", "-q", package])


def _apt(argv: list[str]) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0

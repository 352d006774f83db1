"""Starting commands and reaching their process groups.

A command starts in a session of its own (its own process group, away from the terminal's
Ctrl-C), so everything it starts can be signalled at once: by its attempt on a timeout, a
cancel or a shutdown, and by stop_orphans() when its worker died.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import grp
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import NamedTuple


class Child:
    """A started process, whichever way it was spawned: its pid, and its exit once reaped."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._popen = popen  # held, or Popen would reap the process behind our back

    def poll(self) -> int | None:
        """Reap it if it has exited (never blocks); its return code as Popen reports it."""
        if self._popen is not None:
            self.returncode = self._popen.poll()
        elif self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 255  # reaped by someone else: its status is gone
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < end:
            time.sleep(0.01)


def spawn(
    argv: list[str],
    env: Mapping[str, str],
    out_fd: int,
    err_fd: int,
    *,
    cwd: str | None = None,
    user: str | None = None,
    group: str | None = None,
    cwd_is_home: bool = False,
) -> Child:
    """Start the command in a session of its own: stdin from /dev/null, stdout and stderr
    to `out_fd` and `err_fd`. posix_spawn (vfork and exec, a third of Popen's cost) whenever
    it can do all that is asked; Popen for a working directory, a user or a group. A
    `cwd_is_home` the user cannot enter is left for /, as login and su leave it."""
    devnull = _devnull()
    unusual = cwd is not None or user is not None or group is not None
    if cwd is not None and user is not None and _switches_user(user):
        enter = _ENTER_HOME_AS_USER if cwd_is_home else _ENTER_AS_USER
        argv = ["/bin/sh", "-c", enter, "jobctl", cwd, user, *argv]
        cwd = "/"
    if unusual or min(devnull, out_fd, err_fd) < 3:  # Popen also copes with fds 0-2 closed
        gid, groups = _groups_of(user, group)
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=devnull,
            stdout=out_fd,
            stderr=err_fd,
            start_new_session=True,
            close_fds=True,
            user=_user_for_popen(user),
            group=gid,
            extra_groups=groups,
        )
        return Child(proc.pid, proc)
    search = env.get("PATH")
    actions = [
        (os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, out_fd, 1),
        (os.POSIX_SPAWN_DUP2, err_fd, 2),
    ]
    try:
        program = _resolve(argv[0], search)
        pid = os.posix_spawn(
            program, argv, env, file_actions=actions, setsid=True, setsigdef=_SIGDEF
        )
    except (FileNotFoundError, PermissionError):
        if _RESOLVED.pop((argv[0], search), None) is None:
            raise
        program = _resolve(argv[0], search)  # moved since it was looked up: look again
        pid = os.posix_spawn(
            program, argv, env, file_actions=actions, setsid=True, setsigdef=_SIGDEF
        )
    return Child(pid)


# A job run as another user enters its folder as that user, as cron does after its setuid:
# Popen changes folder before it switches users, with root's rights, and the job would then
# work in a folder its user could never have entered (below root's 0700 home, say).
_ENTER_AS_USER = (
    'cd -- "$1" 2>/dev/null || { printf "working directory %s: user %s cannot enter it\\n"'
    ' "$1" "$2" >&2; exit 126; }; shift 2; exec "$@"'
)
_ENTER_HOME_AS_USER = 'cd -- "$1" 2>/dev/null || cd /; shift 2; exec "$@"'


def _switches_user(user: str) -> bool:
    """Whether a job's `user` is another than the worker's (who then runs as root)."""
    try:
        return uid_of(user) != os.geteuid()
    except KeyError:
        return False  # no such user: Popen says so


def numeric_id(name: str) -> int | None:
    """A job's `user` or `group` given as a bare uid or gid; None for a name (ASCII digits
    only: "²" is a name to look up, not a number)."""
    return int(name) if name.isascii() and name.isdigit() else None


def account(user: str) -> pwd.struct_passwd | None:
    """The passwd entry of a job's `user` (a name, or a number that may have none);
    KeyError for a name that does not exist."""
    uid = numeric_id(user)
    if uid is not None:
        try:
            return pwd.getpwuid(uid)
        except KeyError:
            return None
    return pwd.getpwnam(user)


def known_user(user: str) -> bool:
    """Whether this host knows a job's `user` (a bare uid always counts)."""
    try:
        account(user)
    except KeyError:
        return False
    return True


def uid_of(user: str) -> int:
    """The uid a job's `user` runs as; KeyError for a name that does not exist."""
    entry = account(user)
    if entry is not None:
        return entry.pw_uid
    uid = numeric_id(user)
    assert uid is not None  # account() finds every name, or raises
    return uid


def environment_for_jobs() -> dict[str, str]:
    """The environment jobctl was started with, for its jobs and hooks. Started in the C
    locale (a systemd unit, cron, `env -i`), Python sets LC_CTYPE=C.UTF-8 in its own
    environment for its children (PEP 538): cron's jobs would see none, and tools such as
    `tr`, `sort` and `grep` treat bytes past ASCII otherwise under it. That variable is left
    out unless jobctl was given it; /proc/self/environ keeps the environment as it was given."""
    env = dict(os.environ)
    if "LC_CTYPE" in env:
        try:
            with open("/proc/self/environ", "rb") as given:
                started_with = b"\0" + given.read()
        except OSError:
            return env  # not Linux: nothing to tell it by
        if b"\0LC_CTYPE=" not in started_with:
            del env["LC_CTYPE"]
    return env


# What a job run as another user keeps of the worker's environment: where commands are and
# how text and time read. Nothing else: the worker's variables may carry its secrets (the
# password in a redis:// JOBCTL_DB), which that user must not be handed.
_KEPT_FOR_OTHER_USERS = frozenset({"PATH", "LANG", "LANGUAGE", "TZ"})


def login_env(user: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a job run as `user`, as cron makes one: a few of the worker's
    variables (_KEPT_FOR_OTHER_USERS and LC_*), the user's HOME, USER and LOGNAME (the
    worker's own HOME would send the job to root's files), and cron's SHELL=/bin/sh. The
    whole of `environ` when `user` is who the worker already is, or a name that does not
    exist (its start fails)."""
    try:
        entry = account(user)
    except KeyError:
        return dict(environ)
    if entry is None:  # a number with no passwd entry
        uid, login = uid_of(user), {}
    else:
        name = entry.pw_name
        uid, login = entry.pw_uid, {"HOME": entry.pw_dir, "USER": name, "LOGNAME": name}
    if uid == os.geteuid():
        return {**environ, **login}
    kept = {k: v for k, v in environ.items() if k in _KEPT_FOR_OTHER_USERS or k.startswith("LC_")}
    return kept | {"SHELL": "/bin/sh"} | login


def process_exists(pid: int) -> bool:
    """Whether a process of this pid runs on this host (another user's too). A zombie does
    not: killed, and only its parent has yet to reap it (signal 0 still finds it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
    except FileNotFoundError:  # gone since, unless this host has no /proc
        return not os.path.exists("/proc/self/stat")
    except OSError:
        return True
    return not fields or fields[0] not in (b"Z", b"X")


# How much later than a record says a process of its pid may seem to have started and still
# be the one it names: /proc/stat's boot time is in whole seconds, and NTP slews the clock.
_START_SLACK = 2.0


def process_running_since(pid: int, at: float) -> bool:
    """Whether a process of this pid runs on this host and started no later than `at`, a
    wall-clock time a record of it was written: the process that wrote it, not another
    handed the pid since (pids are reused, small ones soon after a boot). Without /proc to
    tell its start, whether one runs (process_exists)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime "))
    except FileNotFoundError:
        return process_exists(pid) if not os.path.exists("/proc/self/stat") else False
    except (OSError, StopIteration, ValueError, IndexError):
        return process_exists(pid)
    # Fields after the command name: state (the 3rd), ... starttime (the 22nd), in ticks.
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= at + _START_SLACK


def _user_for_popen(user: str | None) -> str | int | None:
    """Popen looks a string up as a name: a bare uid goes as a number."""
    if user is None:
        return None
    uid = numeric_id(user)
    return user if uid is None else uid


def _groups_of(user: str | None, group: str | None) -> tuple[str | int | None, list[int] | None]:
    """The group and supplementary groups a command runs with, as login and cron set them
    (initgroups): switching only the user would leave it root's group and groups."""
    number: str | int | None = group
    if group is not None and numeric_id(group) is not None:
        number = numeric_id(group)  # a bare gid
    if user is None or os.geteuid() != 0:
        return number, None  # not root: the kernel allows no change of groups anyway
    entry = account(user)
    if entry is None:
        # A uid with no passwd entry has no groups to look up: its own number as its group
        # (as systemd does for such a User=) and no other, never root's group and groups.
        return (uid_of(user) if number is None else number), []
    if number is None:
        gid = entry.pw_gid
    else:
        gid = number if isinstance(number, int) else grp.getgrnam(number).gr_gid
    return gid, os.getgrouplist(entry.pw_name, gid)


# Python ignores these; a command expects them at their defaults (as Popen restores them).
_SIGDEF = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))
_DEVNULL: list[int] = []
_DEVNULL_LOCK = threading.Lock()


def _devnull() -> int:
    """/dev/null for every command's stdin; opened on the first spawn, which first makes
    sure no descriptor this process inherited (from a shell, a supervisor) reaches a job:
    posix_spawn passes on every inheritable descriptor, where Popen closes them."""
    if not _DEVNULL:
        with _DEVNULL_LOCK:  # hook threads spawn too
            if not _DEVNULL:
                _seal_inherited()
                _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


def _seal_inherited() -> None:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = [str(fd) for fd in range(3, 256)]
    for name in names:
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)


_RESOLVED: dict[tuple[str, str | None], tuple[str, float]] = {}
_RESOLVED_FOR = 2.0  # seconds a lookup is reused: a newly installed program is seen soon


def _resolve(name: str, path: str | None) -> str:
    """The program a command name runs, looked up in the job's own PATH as exec would; a
    lookup is reused for a moment, as a shell's command hash does, not for the worker's life."""
    if "/" in name:
        return name
    now = time.monotonic()
    found = _RESOLVED.get((name, path))
    if found is not None and now - found[1] < _RESOLVED_FOR:
        return found[0]
    program = _look_up(name, path)
    if len(_RESOLVED) > 1000:
        _RESOLVED.clear()
    _RESOLVED[(name, path)] = (program, now)
    return program


def _look_up(name: str, path: str | None) -> str:
    denied = False
    for directory in (path if path is not None else os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK):
            if not os.path.isdir(candidate):
                return candidate
        elif os.path.exists(candidate):
            denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


class Refusal(NamedTuple):
    """A signal the kernel refused (EPERM): the process group it was for, whom its process
    runs as, and the error. A job's command that became another user (sudo, a setuid
    program) can no longer be signalled by a worker that is not root."""

    pid: int
    owner: str
    error: str


def signal_group(pgid: int, sig: int, refused: list[Refusal] | None = None) -> bool:
    """Send `sig` to the group; whether the group exists. A refusal (EPERM: another user's
    group, and no CAP_KILL) is no sign that it is gone: it is added to `refused`, for the
    caller to say that its timeout, cancel or shutdown did not reach the job."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        if refused is not None:
            refused.append(Refusal(pgid, _owner_of_group(pgid), exc.strerror or str(exc)))
        return True


def process_owner(pid: int) -> str | None:
    """The name (or uid) a process runs as, by its effective uid; None when it is gone.
    /proc/PID/status is readable for every process, even one that is not dumpable."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[2])
                    break
            else:
                return None
    except (OSError, ValueError, IndexError):
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _owner_of_group(pgid: int) -> str:
    """Whom the group's leader runs as, or (the leader gone) one of its members."""
    owner = process_owner(pgid)
    if owner is not None:
        return owner
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry)) == pgid and (owner := process_owner(int(entry))):
                        return owner
    return "owner unknown"


_CAP_KILL, _CAP_SETUID = 5, 7


@functools.cache  # a process's capabilities do not grow; read once, not at every start
def may_signal_other_users() -> bool:
    """Whether this process, able to switch users, may also signal their processes (root
    with CAP_KILL). Without it a job run as another user could be neither timed out,
    cancelled nor stopped. True when it cannot switch users at all: the start fails anyway,
    and says why."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"CapEff:"):
                    caps = int(line.split()[1], 16)
                    return not caps >> _CAP_SETUID & 1 or bool(caps >> _CAP_KILL & 1)
    except (OSError, ValueError, IndexError):
        pass
    return True  # no /proc to tell: the kill itself will


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Dead members can linger as zombies until
    their new parent reaps them, and signals still "reach" those, so on Linux /proc decides."""
    if not signal_group(pgid, 0):
        return False
    groups = _session_groups(pgid, by_group=True)
    return groups is None or pgid in groups


def session_alive(sid: int, *, age: float | None = None) -> bool:
    """Whether a process of the session (an attempt's: see signal_session) still runs.

    With `age`, the seconds since its leader started: a session that young holds no pid
    but those handed out since its leader's, so when they are few (ns_last_pid names the
    last) only they are tried, not every process of the host: an attempt looks at the end
    of each run, and a drain of short jobs must not pay for the host's other processes."""
    recent = _pids_since(sid) if age is not None and age < _YOUNG_SESSION else None
    groups = _session_groups(sid, pids=recent)
    return signal_group(sid, 0) if groups is None else bool(groups)


# A session younger than this cannot have seen its pids wrap around past pid_max and back
# beyond its leader's (tens of thousands of starts at the least); past _FEW_PIDS started
# since, trying each costs more than a look through /proc.
_YOUNG_SESSION = 1.0
_FEW_PIDS = 256


def _pids_since(first: int) -> range | None:
    """The pids handed out after `first` in this pid namespace, when they are few and did
    not wrap around since; None otherwise."""
    try:  # this namespace's (where /proc/loadavg may give the host's: LXCFS)
        last = int(os.pread(_last_pid_file(), 32, 0))
    except (OSError, ValueError):
        return None
    return range(first + 1, last + 1) if first <= last <= first + _FEW_PIDS else None


@functools.cache
def _last_pid_file() -> int:
    """ns_last_pid, opened once and read again with pread at each attempt's end: an open,
    read and close each time (9 us against 1) cost a drain of 5,000 short jobs about 0.13 s
    of the worker's 2.3 s of CPU."""
    return os.open("/proc/sys/kernel/ns_last_pid", os.O_RDONLY | os.O_CLOEXEC)


def signal_session(sid: int, sig: int, refused: list[Refusal] | None = None) -> bool:
    """Send `sig` to every process group of an attempt's session: its leader's, and those
    its processes made for themselves (coreutils `timeout`, a shell's job control), which a
    signal to the leader's group alone left running past a timeout, a cancel or a shutdown.
    Only a process that left the session (setsid: a daemon) is not reached. Whether any of
    it exists; the groups that refused it are added to `refused`."""
    return _signal_groups(sid, (sig,), refused)


def terminate_session(sid: int, refused: list[Refusal] | None = None) -> bool:
    """SIGTERM to every process group of an attempt's session, then SIGCONT, as systemd
    stops a unit: a stopped process (`kill -STOP`, a debugger, Ctrl-Z under job control)
    acts on SIGTERM only once continued, and would otherwise run no cleanup and wait out
    the whole kill_grace for its SIGKILL. Whether any of it exists; the groups that refused
    it are added to `refused`."""
    return _signal_groups(sid, (signal.SIGTERM, signal.SIGCONT), refused)


def _signal_groups(sid: int, signals: tuple[int, ...], refused: list[Refusal] | None) -> bool:
    groups = {sid} | (_session_groups(sid) or set())
    alive = False
    for sig in signals:
        for pgid in groups:
            alive = signal_group(pgid, sig, refused) or alive
    return alive


def _session_groups(
    number: int, *, by_group: bool = False, pids: range | None = None
) -> set[int] | None:
    """The groups of the live (not zombie) processes of session `number` (with `by_group`:
    those of group `number`), among `pids` or else every process; None without a /proc to
    tell. getsid and getpgid pass over the others without reading their /proc files."""
    if pids is None:
        try:
            entries = os.listdir("/proc")
        except OSError:
            return None
        candidates: range | list[int] = [int(entry) for entry in entries if entry.isdigit()]
    else:
        candidates = pids
    member_of = os.getpgid if by_group else os.getsid
    found: set[int] = set()
    for pid in candidates:
        try:
            if member_of(pid) != number:
                continue
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state ppid pgrp session ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 4 or fields[0] == b"Z":
            continue
        if int(fields[2 if by_group else 3]) == number:
            found.add(int(fields[2]))
    return found


class Unreached(NamedTuple):
    """A process stop_orphans could not stop: its signal was refused (`job_id`: the lost
    job it runs), or its environment could not be read (`job_id` None: whose it is is
    unknown), so a lost job's command may still run beside its rerun."""

    refusal: Refusal
    job_id: int | None


def stop_orphans(
    attempts: set[tuple[str, int, int]], since: float | None = None
) -> tuple[int, list[Unreached]]:
    """SIGKILL the process groups of attempts whose worker died: each attempt runs in a
    session of its own, so it outlives a `kill -9` of its worker, and must not overlap the
    run that replaces it. An attempt is (worker id, job id, attempt), found by the
    JOBCTL_WORKER, JOBCTL_JOB_ID and JOBCTL_ATTEMPT its processes carry: worker ids are
    unique, so jobs of other databases are never touched (Linux /proc).

    How many groups were killed, and the processes out of reach: those whose kill was
    refused, and those whose environment cannot be read (another user's, or not dumpable:
    a command that went through sudo or a setuid program) in the session of a process
    found, or leading a session of their own started since `since` (the wall-clock start
    of the earliest attempt), as an attempt's command does."""
    wanted = {
        (
            b"JOBCTL_WORKER=" + worker.encode(),
            b"JOBCTL_JOB_ID=%d" % job,
            b"JOBCTL_ATTEMPT=%d" % attempt,
        ): job
        for worker, job, attempt in attempts
    }
    own = os.getpgrp()
    groups: dict[int, int] = {}  # process group: its job
    sessions: dict[int, int] = {}  # session: its job
    unread: dict[int, str] = {}  # pid: why its environment could not be read
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0, []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except PermissionError as exc:
            unread[int(entry)] = exc.strerror or str(exc)
            continue
        except OSError:
            continue
        if b"JOBCTL_JOB_ID=" not in environ:
            continue
        variables = set(environ.split(b"\0"))
        job = next((job for names, job in wanted.items() if variables.issuperset(names)), None)
        if job is None:
            continue
        try:
            group, session = os.getpgid(int(entry)), os.getsid(int(entry))
        except OSError:
            continue
        if group != own:
            groups[group] = job
            sessions[session] = job
    unreached: list[Unreached] = []
    for group, job in groups.items():
        refused: list[Refusal] = []
        signal_group(group, signal.SIGKILL, refused)
        unreached += [Unreached(refusal, job) for refusal in refused]
    for pid, error in unread.items():
        try:
            session = os.getsid(pid)
        except OSError:
            continue
        job_of = sessions.get(session)
        if job_of is None and not (session == pid and _started_since(pid, since)):
            continue
        owner = process_owner(pid)
        if owner is None:
            continue  # gone since
        why = f"its environment cannot be read ({error}): it may be a lost job's, still running"
        if job_of is not None:  # a lost job's for sure: killed if it can be
            try:
                os.kill(pid, signal.SIGKILL)
                continue
            except ProcessLookupError:
                continue
            except PermissionError as exc:
                why = f"in a lost job's session, and its kill was refused ({exc.strerror})"
        unreached.append(Unreached(Refusal(pid, owner, why), job_of))
    return len(groups), unreached


def _started_since(pid: int, since: float | None) -> bool:
    """Whether a process started no earlier than `since` (a wall-clock time), by /proc."""
    if since is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") + _START_SLACK >= since

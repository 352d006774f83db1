"""`jobctl run-worker`: run jobs from the queue."""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jobctl.cli.app import app
from jobctl.cli.completers import complete_queue
from jobctl.cli.context import STATE
from jobctl.text import clean, say

if TYPE_CHECKING:
    from jobctl.config import Config
    from jobctl.records import WorkerInfo
    from jobctl.store import Store

# Options shared by run-worker, schedule-daemon and up.
QueueOption = Annotated[
    list[str] | None,
    typer.Option(
        "--queue",
        "-q",
        help="Take jobs from this queue (repeat; default or '*': all).",
        autocompletion=complete_queue,
        metavar="QUEUE",
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", "-n", min=1, max=1024, help="Jobs at once.", metavar="N")
]
ShutdownOption = Annotated[
    str,
    typer.Option(
        "--shutdown-timeout", help="On SIGTERM/SIGINT, let running jobs finish.", metavar="DURATION"
    ),
]
MetricsOption = Annotated[
    str | None,
    typer.Option(
        "--metrics-addr",
        help="Serve /metrics, /healthz and /livez at HOST:PORT (loopback when HOST is omitted).",
        metavar="HOST:PORT",
    ),
]


@app.command(
    "run-worker",
    epilog="Examples:  jobctl run-worker --concurrency 4  |  jobctl run-worker --burst -q slow",
)
def run_worker(
    queue: QueueOption = None,
    concurrency: ConcurrencyOption = 1,
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once nothing is ready or running.")
    ] = False,
    shutdown_timeout: ShutdownOption = "30s",
    name: Annotated[
        str | None,
        typer.Option("--worker-name", help="Worker id (default: host:pid:random).", metavar="NAME"),
    ] = None,
    metrics_addr: MetricsOption = None,
) -> None:
    """Run jobs until stopped. SIGTERM or Ctrl-C: finish running jobs, then exit 0;
    a second SIGTERM or Ctrl-C, or Ctrl-\\ (SIGQUIT), stops at once (interrupted jobs are
    queued again). An edited config applies to the jobs started after it is saved; SIGHUP
    re-reads it too, and never stops."""
    _reap_as_init()
    from jobctl.cli.options import duration_option
    from jobctl.worker import Worker, WorkerOptions

    grace = duration_option(shutdown_timeout, "--shutdown-timeout") or 0.0
    # A blank would split the name into two fields of status's and show's piped lines.
    if name is not None and (not name or clean(name) != name or _has_blank(name)):
        from jobctl.errors import UsageError

        raise UsageError(
            f"--worker-name: '{clean(name)}' is empty or holds blanks or control characters:"
            " it names the worker in status, logs and metrics"
        )
    listen = _listen_address(metrics_addr)
    config = STATE.config()
    options = WorkerOptions(
        queues=_queues_to_serve(queue, config),
        concurrency=concurrency,
        burst=burst,
        shutdown_timeout=grace,
        name=name,
    )
    _tell_jobs_where(config)
    _refuse_an_unusable_log_folder(config)
    with STATE.store(durability=_worker_durability(), service=True) as store:
        store.as_service()
        worker = Worker(store, config, options, log=STATE.event_log())
        with worker.signal_handlers(), _metrics(listen):
            code = worker.run()
    raise typer.Exit(code)


@app.command(
    "schedule-daemon",
    epilog="Example:  jobctl schedule-daemon  (a second one on the same database stands by)",
)
def schedule_daemon(
    metrics_addr: MetricsOption = None,
) -> None:
    """Enqueue cron runs when they are due. SIGHUP (or `jobctl reload`) re-reads the config;
    SIGTERM, Ctrl-C or Ctrl-\\ stops."""
    _reap_as_init()
    import signal

    from jobctl.daemon import Daemon

    listen = _listen_address(metrics_addr)
    config = _schedule_config()
    with STATE.store(service=True) as store:
        daemon = Daemon(store, config, log=STATE.event_log(), on_reload=STATE.use_config)
        _take_signals(daemon.request_stop, daemon.request_reload, daemon.log.emit)
        signal.set_wakeup_fd(daemon.wake_fd, warn_on_full_buffer=False)
        with _metrics(listen):
            code = daemon.run()
    if daemon.failure is not None:
        from jobctl.errors import StoreError

        raise StoreError(daemon.failure)
    raise typer.Exit(code)


def _take_signals(
    stop: Callable[[], None], reload: Callable[[], None], emit: Callable[..., None]
) -> None:
    """The cron daemon's handlers: SIGHUP re-reads the config, SIGUSR1 and SIGUSR2 are said
    and ignored, the other signals of SERVICE_SIGNALS stop it (SIGQUIT too: not a core dump)."""
    import signal

    from jobctl.stopsignals import IGNORED_SIGNALS, SERVICE_SIGNALS, ignored_and_said

    def take(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            reload()
        else:
            stop()

    for number in SERVICE_SIGNALS:
        signal.signal(number, take)

    def ignored(name: str) -> None:
        reason = "jobctl gives it no meaning: the cron daemon goes on"
        emit("scheduler.signal_ignored", signal=name, reason=reason)

    for number in IGNORED_SIGNALS:
        signal.signal(number, ignored_and_said(ignored))


@app.command(epilog="Example:  jobctl up --concurrency 4   (the mode for a systemd unit)")
def up(
    queue: QueueOption = None,
    concurrency: ConcurrencyOption = 2,
    shutdown_timeout: ShutdownOption = "30s",
    metrics_addr: MetricsOption = None,
) -> None:
    """Run the cron daemon and a worker pool in one foreground process."""
    _reap_as_init()
    from jobctl.cli.options import duration_option
    from jobctl.daemon import Daemon, run_in_thread
    from jobctl.errors import ConfigError
    from jobctl.worker import Worker, WorkerOptions

    grace = duration_option(shutdown_timeout, "--shutdown-timeout") or 0.0
    listen = _listen_address(metrics_addr)
    try:
        config = _schedule_config()
    except ConfigError as exc:
        if STATE.config().path is None:  # for --exec jobs alone, as pueue's daemon runs them
            raise ConfigError(f"{exc} (for --exec jobs alone, run-worker needs none)") from None
        raise
    log = STATE.event_log()
    options = WorkerOptions(
        queues=_queues_to_serve(queue, config),
        concurrency=concurrency,
        shutdown_timeout=grace,
        with_daemon=True,
    )
    _warn_of_schedules_served_elsewhere(config, options.queues)
    _tell_jobs_where(config)
    _refuse_an_unusable_log_folder(config)
    with (
        STATE.store(durability=_worker_durability(), service=True) as worker_store,
        STATE.store(service=True) as daemon_store,
    ):
        worker_store.as_service()
        worker = Worker(worker_store, config, options, log=log)

        def reload_worker(new_config: "Config") -> None:
            worker.take_config(new_config)  # said as run-worker says a reload
            STATE.use_config(new_config)  # what /metrics reports, too

        daemon = Daemon(daemon_store, config, log=log, on_reload=reload_worker)
        worker.on_stop.append(daemon.request_stop)
        worker.on_hangup.append(daemon.request_reload)  # the worker's handler takes SIGHUP
        with worker.signal_handlers(), _metrics(listen):
            thread = run_in_thread(daemon.run, "scheduler")
            try:
                code = worker.run()
            finally:  # a worker refused or failing too: the stores close behind the daemon
                daemon.request_stop()
                thread.join(timeout=10)
    raise typer.Exit(code)


def _warn_of_schedules_served_elsewhere(config: "Config", queues: tuple[str, ...] | None) -> None:
    """A warning for each schedule whose runs go to a queue this `up -q` does not serve:
    they wait for another worker, and with `overlap = "skip"` the one waiting holds off
    every later fire."""
    if queues is None:
        return
    for spec in config.schedules.values():
        job_type = config.jobs.get(spec.job)
        queue = spec.queue or (job_type.queue if job_type is not None else None)
        if spec.enabled and queue is not None and queue not in queues:
            say(
                f"jobctl: warning: schedule {spec.name!r} enqueues into queue {queue!r}, which"
                f" this worker does not serve (--queue {' '.join(queues)}): its runs wait for"
                " another worker"
            )


def _reap_as_init() -> None:
    """As a container's PID 1, fork a small init that reaps the orphans the jobs leave behind
    (`(sleep 1 &)`) and forwards the stop signals: left unreaped, they would use up a pids
    limit until no job could fork. First of all, before any thread or store is opened."""
    from jobctl.initproc import run_behind_init

    run_behind_init()


def _has_blank(name: str) -> bool:
    """Whether `name` holds a blank of any script (a space, a no-break or ideographic space)."""
    return any(char.isspace() for char in name)


def _queues_to_serve(names: list[str] | None, config: "Config") -> tuple[str, ...] | None:
    """The --queue values, with a warning for a queue the config never names: a typo there
    would leave the worker idle for good, while jobs enqueued with --queue NAME still run."""
    from jobctl.cli.completers import queues_named_in
    from jobctl.cli.options import worker_queues

    queues = worker_queues(names)
    for name in sorted(set(queues or ()) - queues_named_in(config)):
        say(
            f"jobctl: warning: no job type, schedule or [queues] limit in"
            f" {config.path or 'the config'} names queue {name!r}: only jobs enqueued with"
            f" --queue {name} run there"
        )
    return queues


@app.command(epilog="Example:  jobctl reload")
def reload() -> None:
    """Ask the cron daemon leading on this host (`schedule-daemon` or `up`) to re-read the
    config (SIGHUP), and wake this host's workers of the database (on Redis, every host's,
    each looking at its own file), which then look at the file at once: a raised max_running
    is used now, not at their next regular pass. Standby daemons need no asking: they read a
    changed file on taking over."""
    import os
    import signal
    import socket
    import time

    from jobctl.config import check_schedules, load_config_file
    from jobctl.errors import OperationFailed, StoreMissing

    host, now = socket.gethostname(), time.time()
    try:
        # (Its durability named: a config is read only where a daemon's own file is not
        # known, and a broken one is then refused in one line, not first warned of.)
        opened = STATE.store(create=False, durability="full")
    except StoreMissing as exc:
        raise StoreMissing(f"{exc}{_daemons_elsewhere()}") from None
    with opened as store:
        # Live ones only: a dead process's pid may belong to another program by now. Not the
        # workers: they need no signal, and one of an earlier release would die of it.
        here = [w for w in store.workers() if w.host == host and w.alive(now)]
        leads = any(w.kind == "scheduler" for w in here)
        hung = None if leads else _hung_leader_here(store, host, now)
        workers = sum(1 for w in here if w.kind == "worker")
        if hung is not None:  # not "runs with another database": it is this one's
            from jobctl.render import ago

            raise OperationFailed(
                f"the cron daemon leading on this host for database {STATE.db_location()} (pid"
                f" {hung.pid}) last heartbeated {ago(hung.heartbeat_at, now)}: it is stopped"
                f" (SIGSTOP, Ctrl-Z) or hung, and reads no reload until it runs again (kill -CONT"
                f" {hung.pid})"
            )
        # Only a process that is a cron daemon now: a record may name a pid reused since, or
        # (a shared store's records are written by whoever holds its password) any process.
        leaders = sorted({w.pid for w in here if w.kind == "scheduler"})
        pids = [pid for pid in leaders if _is_a_daemon(pid)]
        unidentified = [pid for pid in leaders if pid not in pids]
        # Each daemon re-reads the file it started with: that one is checked, not this call's,
        # which is needed only for a daemon whose file /proc does not tell (another user's).
        files = {pid: _config_of(pid) for pid in pids}
        named = [path for path in files.values() if path is not None]
        checked = _schedule_config() if len(named) < len(pids) or not pids else None
        for path in dict.fromkeys(named):
            if checked is None or checked.path is None or path.resolve() != checked.path.resolve():
                check_schedules(load_config_file(path))  # refused: exit 2, nothing sent
        sent, refused = 0, []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGHUP)
                sent += 1
            except ProcessLookupError:
                continue
            except PermissionError:
                refused.append(pid)
        woken = 0
        if workers:
            store.wake_workers()
            woken = workers
        if refused:
            raise OperationFailed(_another_users_daemons(refused, sent, woken))
        if unidentified:
            raise OperationFailed(_unidentified_leader(unidentified, sent, woken))
        if not sent and here:
            told = (
                f"woke its {woken} worker(s), which read the changed config now (standby daemons"
                " read it on taking over)"
                if woken
                else "its workers and standby daemons read the changed config on their own"
            )
            typer.echo(f"no cron daemon leads on this host: {told}")
            return
        if not sent:
            raise OperationFailed(
                f"no running worker or cron daemon of this host uses database"
                f" {STATE.db_location()}{_daemons_elsewhere()}"
            )
        shown = ", ".join(str(p) for p in dict.fromkeys(named)) or str(checked and checked.path)
        unknown = "" if len(named) == len(pids) else " (one daemon's own file could not be read)"
        also = f"; woke {woken} worker(s)" if woken else ""
        typer.echo(f"reload sent to {sent} daemon(s); checked {shown}{unknown}{also}")


def _another_users_daemons(pids: list[int], sent: int, woken: int) -> str:
    """Why a reload left out the cron daemons of this host it may not signal (another user's
    `up`): the leader never re-reads its file, so nothing may look like success."""
    from jobctl.fsutil import login_name

    owners: dict[int, str] = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # gone since: named by its pid alone
            uid = os.stat(f"/proc/{pid}").st_uid
            owners[pid] = login_name(uid) or f"uid {uid}"
    named = ", ".join(
        f"pid {pid} of {owners[pid]}" if pid in owners else f"pid {pid}" for pid in pids
    )
    whom = " or ".join(sorted(set(owners.values()))) or "its user"
    done = [f"reload sent to {sent} daemon(s)"] if sent else []
    done += [f"woke {woken} worker(s)"] if woken else []
    also = f" ({'; '.join(done)})" if done else ""
    return (
        f"the cron daemon leading on this host ({named}) is another user's: cannot signal it,"
        f" and it does not re-read its config{also}; run jobctl reload as {whom}"
    )


def _unidentified_leader(pids: list[int], sent: int, woken: int) -> str:
    """Why a reload sent nothing to the process the leader record of this host names: its
    command line is not jobctl's cron daemon's (a script copied under another name, or a
    pid another program took), so a SIGHUP could kill it; nothing may look like success."""
    named = []
    for pid in pids:
        argv = _command_line(pid)
        shown = clean(" ".join(argv)) if argv else None
        named.append(f"pid {pid} ({shown})" if shown else f"pid {pid} (its command line hidden)")
    done = [f"reload sent to {sent} daemon(s)"] if sent else []
    done += [f"woke {woken} worker(s)"] if woken else []
    also = f" ({'; '.join(done)})" if done else ""
    first = pids[0]
    return (
        f"the cron daemon record of this host for database {STATE.db_location()} names"
        f" {', '.join(named)}, which is not jobctl's up or schedule-daemon: sent it no"
        f" reload{also}; if it is the daemon, started under another name, kill -HUP {first}"
    )


def _hung_leader_here(store: "Store", host: str, now: float) -> "WorkerInfo | None":
    """The leading cron daemon of this host and database whose heartbeat lapsed while its
    process lives on, as `schedule list` finds it."""
    from jobctl.cli.schedule import stale_cron_leader

    leader = stale_cron_leader(store, now)
    return leader if leader is not None and leader.host == host else None


def _daemons_elsewhere() -> str:
    """A hint naming this user's cron daemons (`up`, `schedule-daemon`), for a reload that
    found none in the database it looked in: those serve another one, whose --db or
    JOBCTL_DB the reload must be given too."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.geteuid():
                continue
        except OSError:
            continue
        if _is_a_daemon(int(entry.name)):
            found.append(int(entry.name))
    # As a container's PID 1, `up` forks: the init it stays has the daemon's command line,
    # and is no second daemon to look for a database of.
    if 1 in found and any(_parent_of(pid) == 1 for pid in found):
        found.remove(1)
    if not found:
        return ""
    pids = ", ".join(str(pid) for pid in sorted(found))
    if len(found) == 1:
        return (
            f"; cron daemon process {pids} runs on this host with another database: give"
            " reload the --db (or JOBCTL_DB) it was started with"
        )
    return (
        f"; cron daemon processes {pids} run on this host with other databases: give reload"
        " the --db (or JOBCTL_DB) one was started with"
    )


def _parent_of(pid: int) -> int | None:
    """Process `pid`'s parent's pid; None when /proc does not tell (gone since)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # After the name in parentheses (which may hold any character): state, then ppid.
            return int(handle.read().rpartition(b")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _is_a_daemon(pid: int) -> bool:
    """Whether process `pid` of this host runs jobctl's `up` or `schedule-daemon`."""
    argv = _command_line(pid)
    return argv is not None and _runs_a_daemon(argv, f"/proc/{pid}/cwd")


def _command_line(pid: int) -> list[str] | None:
    """Process `pid`'s command line; None when /proc does not tell (gone, or hidden)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [os.fsdecode(a) for a in handle.read().split(b"\0") if a]
    except OSError:
        return None


def _runs_a_daemon(argv: list[str], folder: str = "/") -> bool:
    """Whether a command line is jobctl's `up` or `schedule-daemon`: jobctl's word anywhere
    (the script, under a link's name too, or `-m jobctl` after any interpreter options, as
    `python -u -m jobctl` in a container's CMD), then the first word after the global
    options. `folder`: where a relative script path is found (the process's own)."""
    for index in range(len(argv)):
        rest = _after_jobctl(argv, index, folder)
        if rest is None:
            continue
        words = iter(rest)
        for command in words:
            if command in _GLOBAL_OPTIONS_WITH_VALUES:
                next(words, None)
            elif not command.startswith("-"):
                return command in ("up", "schedule-daemon")
        return False
    return False


def _after_jobctl(argv: list[str], index: int, folder: str) -> list[str] | None:
    """The words after jobctl's own, when argv[index] is jobctl's (a script whose name, or
    the name its link leads to, is jobctl; or python's -m jobctl); else None."""
    word = argv[index]
    if not word.startswith("-"):
        if os.path.basename(word) == "jobctl":
            return argv[index + 1 :]
        if "/" in word:  # a link's own name (/usr/local/bin/jc -> jobctl)
            target = os.path.realpath(os.path.join(folder, word))
            return argv[index + 1 :] if os.path.basename(target) == "jobctl" else None
        return None
    if word.startswith("--") or "m" not in word:
        return None
    # python's short options run together (-um jobctl, -mjobctl): -m takes the rest
    module = word[word.index("m") + 1 :]
    if module:
        return argv[index + 1 :] if module == "jobctl" else None
    if argv[index + 1 : index + 2] == ["jobctl"]:
        return argv[index + 2 :]
    return None


_GLOBAL_OPTIONS_WITH_VALUES = frozenset({"--config", "-c", "--db", "--log-format", "--log-level"})


def _config_of(pid: int) -> Path | None:
    """The config file a daemon of this host re-reads, found as it found it at its start
    (its --config, else its JOBCTL_CONFIG, else jobs.toml in its folder, else its XDG
    config folder's); None when /proc does not tell (another user's process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [os.fsdecode(a) for a in handle.read().split(b"\0")]
        with open(f"/proc/{pid}/environ", "rb") as handle:
            pairs = (item.partition(b"=") for item in handle.read().split(b"\0"))
            environ = {os.fsdecode(k): os.fsdecode(v) for k, sep, v in pairs if sep}
        folder = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    explicit = None
    for index, word in enumerate(argv):
        if word in ("up", "schedule-daemon"):
            break  # the global options come before the command
        if word in ("--config", "-c") and index + 1 < len(argv):
            explicit = argv[index + 1]
        elif word.startswith("--config="):
            explicit = word.split("=", 1)[1]
        elif word.startswith("-c") and len(word) > 2:  # -cFILE
            explicit = word[2:]
    named = explicit or environ.get("JOBCTL_CONFIG")
    if named:
        return folder / named  # relative to its folder; an absolute path stays as it is
    if os.path.lexists(folder / "jobs.toml"):
        return folder / "jobs.toml"
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        home = environ.get("HOME")
        if not home:
            return None
        base = os.path.join(home, ".config")
    candidate = Path(base) / "jobctl" / "jobs.toml"
    # Neither is there now, yet the daemon started with one of them (it needs schedules):
    # moved or deleted since, so the re-read it is asked for fails. Which one it was cannot
    # be told; the folder's names the missing file as well as the other would.
    return candidate if candidate.is_file() else folder / "jobs.toml"


def _tell_jobs_where(config: "Config") -> None:
    """Give the jobs this worker starts (as its own user) the config and the database it
    uses, in JOBCTL_CONFIG and JOBCTL_DB: a job that runs `jobctl enqueue` to chain the next
    one queues it where this worker takes it, whatever --config and --db the worker was
    started with and whatever folder the job runs in (a worker that finds its config only
    after start gives it to them then: Worker._tell_jobs_of). Jobs run as another user keep
    none of the worker's variables (see processes.login_env): a redis:// password stays here."""
    from jobctl.store import location_kind

    location = STATE.db_location()
    kind, path = location_kind(location)
    if kind in ("path", "sqlite"):
        # As open_store reads it: `~` first (JOBCTL_DB=~/q.db from systemd's Environment=,
        # which expands none), then this folder (`sqlite://rel.db` too), so that a job with
        # a cwd of its own, and this worker reading the variable back, open this database.
        location = os.path.abspath(os.path.expanduser(path))
    os.environ["JOBCTL_DB"] = location
    if config.path is not None:
        os.environ["JOBCTL_CONFIG"] = str(config.path.absolute())


def _refuse_an_unusable_log_folder(config: "Config") -> None:
    """Refuse (exit 2), before the store is opened, a log folder the worker would refuse at
    its start: refused only then, it had made a new database and its lock file, and left
    them behind. Found as `validate` finds it, making nothing, and then said in the worker's
    own words by its own check, which makes nothing where it refuses. A folder that is fine
    is made later, by the worker after its first write (see Worker.run). Only for a database
    the store would make here: one that exists is left as it was by the worker's own check,
    and one that cannot be made is the store's refusal (exit 3), its cause said first."""
    from jobctl.cli.config_cmd import log_folder_refused
    from jobctl.errors import ConfigError
    from jobctl.logfolders import check_log_root
    from jobctl.store import location_kind
    from jobctl.worker import _log_root_refused

    kind, path = location_kind(STATE.db_location())
    if kind not in ("path", "sqlite"):
        return
    database = os.path.abspath(os.path.expanduser(path))
    try:
        os.lstat(database)
        return  # there already
    except FileNotFoundError:
        pass
    except OSError:
        return  # not to be told (a folder closed to this user): the store says why, exit 3
    if not os.path.isdir(os.path.dirname(database)):
        return
    refused = log_folder_refused(config)
    if refused is None:
        return
    _, folder, _ = refused
    try:
        check_log_root(folder)
    except OSError as exc:
        raise ConfigError(_log_root_refused(exc, folder)) from None


def _schedule_config() -> "Config":
    """The config with every cron expression checked, so a bad one fails before start. A
    daemon with no config file at all would run no schedule and never find one (a reload
    re-reads the file it started with): refused, as `validate` refuses it."""
    from jobctl.config import check_schedules

    return check_schedules(STATE.config(required=True))


def _listen_address(text: str | None) -> tuple[str, int] | None:
    """--metrics-addr read before the database is opened: a bad one made a new database
    before it was refused."""
    if text is None:
        return None
    from jobctl.observe.http import parse_address

    return parse_address(text)


@contextlib.contextmanager
def _metrics(address: tuple[str, int] | None) -> Iterator[None]:
    """Serve /metrics, /healthz and /livez in background threads while the command runs."""
    if address is None:
        yield
        return
    from jobctl.observe.health import LOCK_WAIT
    from jobctl.observe.http import ANSWER_TIMEOUT, MetricsServer

    # A probe only reads: a database deleted under the worker is a 503 "does not exist",
    # never a new empty one made at its path and reported healthy.
    server = MetricsServer(
        address,
        lambda: _read_only_store(ANSWER_TIMEOUT),
        _followed_config(),
        open_probe_store=lambda: _read_only_store(LOCK_WAIT),
    )
    server.start()
    host, port = server.address
    shown = f"[{host}]" if ":" in host else host  # as a scrape config takes an IPv6 address
    STATE.event_log().emit("metrics.listening", address=f"{shown}:{port}")
    try:
        yield
    finally:
        server.stop()


def _read_only_store(timeout: float) -> "Store":
    """The store a probe or a scrape reads, never created. A Redis server's connection waits
    for it `timeout` seconds, not the 60 s of a command: /healthz as long as the write probe
    does (LOCK_WAIT), so that a server that stalls is a 503 within about a second; /metrics
    as long as its answer is waited for (ANSWER_TIMEOUT), past which its thread was held
    for nothing, and the scrapes after it queued behind."""
    location = STATE.db_location()
    if location.lower().startswith(("redis://", "rediss://")):
        from jobctl.store.redis import RedisStore

        return RedisStore(location, create=False, timeout=timeout)
    return STATE.store(create=False, service=True)


def _followed_config() -> "Callable[[], Config]":
    """The config /metrics renders with: the file as it is now, re-read when it changed (a
    broken version keeps the last good one), as the worker and the leading cron daemon
    follow it. The config read at start would export a schedule taken out of the file for
    as long as the process runs (a false "stopped running" alert), and none added since."""
    from jobctl.errors import JobctlError
    from jobctl.reloads import ConfigFollower, schedules_plan

    started_with = STATE.config()
    follower = ConfigFollower(started_with, schedules=schedules_plan(started_with))

    def config() -> "Config":
        if follower.stale():
            # The worker, or the daemon as it leads, says why a version is refused.
            with contextlib.suppress(JobctlError):
                follower.adopt(follower.read())
        return follower.config

    return config


def _worker_durability() -> str:
    """Workers commit attempt results with at most "normal" durability: a result lost to a
    power cut only means the job runs again, which at-least-once delivery allows."""
    setting = STATE.config().settings.durability
    return "normal" if setting == "full" else setting

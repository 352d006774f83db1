"""How a database location is read from the config and the command line: a URL's scheme in any
case, a relative `sqlite://` path, and what `validate` says of a location workers refuse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import forkserver
import pytest
from conftest import JOBCTL, Env
from redis_server import RedisServer, namespace_for


def jobctl(env: Env, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS...` as typed, with no --db of the sandbox's: the config's `db` is read.
    A fork of the suite's server where it can take the call, as `Env.run` is."""
    where = env.root if cwd is None else cwd
    zygote = forkserver.zygote_for(args, env.env)
    if zygote is not None:
        return zygote.run(args, environ=env.env, cwd=where, input=None, timeout=60)
    return subprocess.run(
        [*JOBCTL, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env.env,
        cwd=where,
        stdin=subprocess.DEVNULL,
    )


def test_an_upper_case_redis_scheme_in_the_config_is_the_server_for_every_command(
    env: Env, redis_server: RedisServer
) -> None:
    url = redis_server.url(namespace_for(env.root))
    upper = "REDIS" + url[len("redis") :]
    env.write_config(f'[settings]\ndb = "{upper}"\n[jobs.a]\ncommand = ["true"]\n')
    config = str(env.config)
    enqueued = jobctl(env, "--config", config, "enqueue", "a")
    assert enqueued.returncode == 0, enqueued.stderr
    worker = jobctl(env, "--config", config, "run-worker", "--burst")
    assert worker.returncode == 0, worker.stderr
    # The worker served the server, not a SQLite file in a folder named `REDIS:`.
    assert not (env.root / "REDIS:").exists()
    shown = jobctl(env, "--db", url, "show", enqueued.stdout.strip(), "--json")
    assert json.loads(shown.stdout)["state"] == "succeeded", shown.stderr


def test_an_upper_case_redis_scheme_on_the_command_line_refuses_exec_as_redis_does(
    env: Env, redis_server: RedisServer
) -> None:
    url = redis_server.url(namespace_for(env.root))
    for location in (url, "REDIS" + url[len("redis") :], "Rediss" + url[len("redis") :]):
        result = jobctl(env, "--config", "/dev/null", "--db", location, "enqueue", "--exec", "true")
        assert result.returncode == 2, (location, result.stdout, result.stderr)
        assert "allow_exec" in result.stderr


def test_a_relative_sqlite_url_in_the_config_is_taken_from_the_configs_folder(env: Env) -> None:
    conf = env.root / "conf"
    (conf / "state").mkdir(parents=True)
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    config = conf / "jobs.toml"
    config.write_text('[settings]\ndb = "sqlite://state/j.db"\n[jobs.a]\ncommand = ["true"]\n')
    enqueued = jobctl(env, "--config", str(config), "enqueue", "a", cwd=elsewhere)
    assert enqueued.returncode == 0, enqueued.stderr
    assert (conf / "state" / "j.db").exists()
    assert list(elsewhere.iterdir()) == []
    # A worker started in yet another folder serves the same database.
    worker = jobctl(env, "--config", str(config), "run-worker", "--burst", cwd=conf)
    assert worker.returncode == 0, worker.stderr
    shown = jobctl(
        env, "--db", str(conf / "state" / "j.db"), "show", enqueued.stdout.strip(), "--json"
    )
    assert json.loads(shown.stdout)["state"] == "succeeded", shown.stderr


@pytest.mark.parametrize(
    ("location", "said"),
    [
        ("redis://localhost:99999", "the port must be a number up to 65535"),
        ("REDIS://localhost:99999", "the port must be a number up to 65535"),
        ("redis://:6395/x", "expected redis[s]://"),
        ("postgres://localhost/db", "not a database location"),
        ("redis:/localhost", "not a database location"),
    ],
)
def test_validate_refuses_a_database_location_no_worker_starts_on(
    env: Env, location: str, said: str
) -> None:
    env.write_config(f'[settings]\ndb = "{location}"\n[jobs.a]\ncommand = ["true"]\n')
    result = jobctl(env, "--config", str(env.config), "validate")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"jobs.toml:2: [settings] db: {location.lower()}" in result.stderr.lower()
    assert said in result.stderr
    assert "ok" not in result.stdout


@pytest.mark.parametrize(
    "location",
    [
        "redis://localhost:99999",
        "redis://:6395/x",
        "postgres://localhost/db",
        ":memory:",  # SQLite's in-memory database: an enqueue left files ':memory:' and its lock
        "./:memory:",
        "sqlite://:memory:",
    ],
)
def test_every_command_refuses_a_location_that_names_no_database_as_bad_usage(
    env: Env, location: str
) -> None:
    """`validate` refused a malformed location with exit 2, and every other command with
    exit 3, the code of a database that is there and cannot be used: a script told the two
    apart wrongly. Every command says exit 2, with validate's words."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    said = jobctl(env, "--config", str(env.config), "--db", location, "validate").stderr
    reason = said.split(f"{location}: ", 1)[1]
    for args in (["status"], ["list"], ["enqueue", "a"], ["run-worker", "--burst"]):
        result = jobctl(env, "--config", str(env.config), "--db", location, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr == f"jobctl: {location}: {reason}", args
    assert sorted(p.name for p in env.root.iterdir() if "memory" in p.name) == []


def test_a_file_named_like_sqlites_in_memory_database_is_given_by_its_full_path(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    named = env.root / ":memory:"
    result = jobctl(env, "--config", str(env.config), "--db", str(named), "enqueue", "a")
    assert result.returncode == 0, result.stderr
    assert named.stat().st_size > 0


def test_validate_refuses_a_malformed_db_option_with_its_password_hidden(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    result = jobctl(
        env, "--config", str(env.config), "--db", "redis://:secret@localhost:99999", "validate"
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--db: redis://:***@localhost:99999: the port must be a number" in result.stderr
    assert "secret" not in result.stderr


def test_validate_warns_of_a_far_missing_database_folder_as_the_worker_refuses_it(
    env: Env,
) -> None:
    database = env.root / "typo" / "jobctl" / "q.db"
    env.write_config(f'[settings]\ndb = "{database}"\n[jobs.a]\ncommand = ["true"]\n')
    result = jobctl(env, "--config", str(env.config), "validate")
    assert result.returncode == 0, result.stderr
    refusal = f"neither its folder {database.parent} nor {database.parent.parent} exists"
    assert "[settings] db: database" in result.stderr and refusal in result.stderr
    assert "workers would not start here" in result.stderr
    assert not (env.root / "typo").exists()  # validate made nothing
    worker = jobctl(env, "--config", str(env.config), "run-worker", "--burst")
    assert worker.returncode == 3 and refusal in worker.stderr, worker.stderr


def test_a_database_link_into_a_missing_folder_is_told_by_validate_and_every_command(
    env: Env,
) -> None:
    """`validate` said ok of a --db link whose target's folder is missing, and the worker
    then said only "cannot create: No such file or directory"."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    link = env.root / "q.db"
    link.symlink_to(env.root / "gone" / "q.db")
    refusal = (
        f"database {link}: a link to {env.root / 'gone' / 'q.db'}, whose folder"
        f" {env.root / 'gone'} does not exist"
    )
    result = jobctl(env, "--config", str(env.config), "--db", str(link), "validate")
    assert result.returncode == 0 and refusal in result.stderr, result.stderr
    assert "workers would not start here" in result.stderr
    for args in (["run-worker", "--burst"], ["enqueue", "a"]):
        refused = jobctl(env, "--config", str(env.config), "--db", str(link), *args)
        assert refused.returncode == 3 and refusal in refused.stderr, (args, refused.stderr)
    assert not (env.root / "gone").exists()


def test_a_location_of_another_kind_is_refused_without_its_password(env: Env) -> None:
    """`--db postgres://app:SECRET@db/x` (a URL for another program) printed SECRET in the
    refusal of every command, and of validate."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    location = "postgres://app:SECRET@db.internal/x"
    for args in (["validate"], ["list"], ["enqueue", "a"]):
        result = jobctl(env, "--config", str(env.config), "--db", location, *args)
        assert result.returncode in (2, 3), (args, result.stderr)
        assert "postgres://***@db.internal/x: not a database location" in result.stderr, args
        assert "SECRET" not in result.stderr, args


@pytest.mark.parametrize(
    "location",
    [
        "redis://:q8Zr/SECRET+kX2w=@127.0.0.1:16399/0",
        "redis://:SECRET#x@127.0.0.1/0",
        "redis://:SE?CRET@127.0.0.1/0",
        "redis://app:12/SECRET@127.0.0.1/0",
        "postgres://app:SE/CRET@db.internal/x",
    ],
)
def test_a_password_with_a_slash_question_mark_or_hash_is_never_printed(
    env: Env, location: str
) -> None:
    """A password from `openssl rand -base64` often has a `/`, which ends a URL's host part
    for its parser: no password was found to hide, and the refusal printed it whole."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    for args in (["validate"], ["list"], ["enqueue", "a"]):
        result = jobctl(env, "--config", str(env.config), "--db", location, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "://***@" in result.stderr, result.stderr
        assert "SECRET" not in result.stderr and "SE" not in result.stderr.split("@")[0]
        if location.startswith("redis"):
            assert "%2F %3F %23" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("text", "not a jobctl database (the file is not SQLite, or is corrupt)"),
        ("another program's", "not a jobctl database (it belongs to another program)"),
        ("a newer jobctl's", "is newer than this jobctl understands"),
    ],
)
def test_validate_warns_of_an_existing_file_that_is_no_jobctl_database(
    env: Env, content: str, said: str
) -> None:
    """`validate` said ok of a --db every other command refuses (exit 3): a text file, a
    database of another program or of a newer jobctl. Nothing is written, nor left beside."""
    import sqlite3

    from jobctl.store.sqlite.connection import APPLICATION_ID

    database = env.root / "other.db"
    if content == "text":
        database.write_text("hello\n")
    else:
        made = sqlite3.connect(database)
        made.execute("CREATE TABLE notes (body TEXT)")
        if content == "a newer jobctl's":
            made.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            made.execute("PRAGMA user_version = 9999")
        made.commit()
        made.close()
    before = database.read_bytes()
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    result = jobctl(env, "--config", str(env.config), "--db", "other.db", "validate")
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("jobctl: warning: --db: database other.db: "), line
    assert said in line and line.endswith(": workers would not start here"), line
    assert database.read_bytes() == before
    assert sorted(p.name for p in env.root.iterdir()) == ["home", "jobs.toml", "other.db"]
    refused = jobctl(env, "--config", str(env.config), "--db", "other.db", "list")
    assert refused.returncode == 3 and said in refused.stderr, refused.stderr


@pytest.mark.parametrize("kind", ["a directory", "a FIFO"])
def test_validate_warns_of_no_regular_file_at_the_database_location(env: Env, kind: str) -> None:
    """`validate` said ok of a directory at the --db location, which every worker refuses
    (exit 3); a FIFO is told by stat alone, never opened (an open would hang)."""
    import os

    database = env.root / "odd.db"
    if kind == "a directory":
        database.mkdir()
    else:
        os.mkfifo(database)
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    result = jobctl(env, "--config", str(env.config), "--db", "odd.db", "validate")
    assert result.returncode == 0, result.stderr
    said = f"database odd.db: is {kind}, not a database file"
    assert result.stderr.splitlines() == [
        f"jobctl: warning: --db: {said}: workers would not start here"
    ], result.stderr
    refused = jobctl(env, "--config", str(env.config), "--db", "odd.db", "list")
    assert refused.returncode == 3 and said in refused.stderr, refused.stderr


def test_validate_takes_a_jobctl_database_and_an_empty_file_in_silence(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    env.run("enqueue", "a", check=True)
    (env.root / "empty.db").touch()
    for database in (env.db, env.root / "empty.db"):
        result = jobctl(env, "--config", str(env.config), "--db", str(database), "validate")
        assert (result.returncode, result.stderr) == (0, ""), (database, result.stderr)


@pytest.mark.parametrize("given", ["env", "option"])
def test_a_tilde_location_is_the_same_database_for_the_worker_and_its_chained_jobs(
    env: Env, given: str
) -> None:
    """`JOBCTL_DB=~/q.db` (systemd's Environment= and docker -e expand no `~`) or
    `--db=~/q.db`: every command opens $HOME/q.db, but the worker made the location
    absolute before expanding it: it served ./~/q.db (the jobs enqueued never ran), or gave
    its jobs that path, where a chained `jobctl enqueue` queued into a database of its own."""
    home = env.root / "tilde-home"
    home.mkdir(mode=0o700)
    work = env.root / "work"
    work.mkdir()
    env.env["HOME"] = str(home)
    config = env.root / "jobs.toml"
    config.write_text(
        '[jobs.chain]\ncommand = ["sh", "-c", "printf %s \\"$JOBCTL_DB\\"; jobctl enqueue next"]\n'
        '[jobs.next]\ncommand = ["true"]\n'
    )
    env.env["PATH"] = f"{Path(JOBCTL[0]).parent}:{env.env.get('PATH', '/usr/bin:/bin')}"
    where = ["--db", "~/q.db"] if given == "option" else []
    if given == "env":
        env.env["JOBCTL_DB"] = "~/q.db"
    head = jobctl(env, "--config", str(config), *where, "enqueue", "chain", cwd=work)
    assert head.returncode == 0, head.stderr
    worker = jobctl(env, "--config", str(config), *where, "run-worker", "--burst", cwd=work)
    assert worker.returncode == 0, worker.stderr
    assert not (work / "~").exists()
    listed = jobctl(env, "--db", str(home / "q.db"), "list", "--json")
    jobs = {job["job"]: job for job in json.loads(listed.stdout)}
    assert jobs["chain"]["state"] == "succeeded", listed.stdout
    assert jobs["next"]["state"] == "succeeded", listed.stdout
    logged = jobctl(env, "--db", str(home / "q.db"), "logs", str(jobs["chain"]["id"]))
    assert logged.stdout.startswith(str(home / "q.db")), logged.stdout


def test_a_relative_sqlite_url_given_to_a_worker_reaches_its_jobs_from_its_own_folder(
    env: Env,
) -> None:
    """`--db sqlite://rel.db`: the worker's jobs got the URL as written, which a job with a
    `cwd` of its own read from there: a chained enqueue made sub/rel.db."""
    (env.root / "sub").mkdir()
    config = env.root / "jobs.toml"
    config.write_text(
        '[jobs.chain]\ncommand = ["jobctl", "enqueue", "next"]\ncwd = "sub"\n'
        '[jobs.next]\ncommand = ["true"]\n'
    )
    env.env["PATH"] = f"{Path(JOBCTL[0]).parent}:{env.env.get('PATH', '/usr/bin:/bin')}"
    where = ("--config", str(config), "--db", "sqlite://rel.db")
    assert jobctl(env, *where, "enqueue", "chain").returncode == 0
    worker = jobctl(env, *where, "run-worker", "--burst")
    assert worker.returncode == 0, worker.stderr
    assert not (env.root / "sub" / "rel.db").exists()
    listed = jobctl(env, *where, "list", "--json")
    assert sorted(job["state"] for job in json.loads(listed.stdout)) == ["succeeded"] * 2

"""A private Redis server for the suite (a pytest plugin, registered in conftest.py).

The `redis_server` session fixture starts `redis-server` on a free loopback port with
persistence off and a temporary directory, once per test process (each xdist worker has its
own), and stops it at the end. Tests isolate themselves by namespace, not by server: each
store URL carries a namespace of its own. When the binary is missing the Redis tests are
skipped with the reason, except under CI, where they fail: a green CI must have run them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

_START_TIMEOUT = 20.0
_current: RedisServer | None = None


@dataclass
class RedisServer:
    """One running redis-server on 127.0.0.1."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes]
    password: str | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "redis.log"

    def url(self, namespace: str, **options: str) -> str:
        auth = f":{self.password}@" if self.password else ""
        query = "&".join([f"namespace={namespace}", *(f"{k}={v}" for k, v in options.items())])
        return f"redis://{auth}127.0.0.1:{self.port}/0?{query}"

    def client(self, **options: Any) -> Any:
        import redis

        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            decode_responses=True,
            **options,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def namespace_for(root: Path) -> str:
    """A namespace unique to one test (its tmp_path)."""
    return "t" + hashlib.sha1(str(root).encode()).hexdigest()[:16]


def current() -> RedisServer:
    """The session's server, for store factories that cannot take fixtures."""
    assert _current is not None, "the redis_server fixture has not started a server"
    return _current


def require_redis() -> str:
    """The redis-server binary (and the redis package), or skip — or fail under CI."""
    binary = shutil.which("redis-server")
    missing = None
    if binary is None:
        missing = "redis-server is not installed (apt-get install redis-server; make test does)"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            missing = "the redis package is not installed (pip install -e .)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI is set, so the Redis tests may not be skipped")
        pytest.skip(missing)
    assert binary is not None
    return binary


def start_server(
    directory: Path, *extra: str, password: str | None = None, port: int | None = None
) -> RedisServer:
    """Start a redis-server in `directory` on a free port (or `port`, e.g. to restart one)
    and wait until it answers."""
    binary = require_redis()
    directory.mkdir(parents=True, exist_ok=True)
    last = ""
    wanted = port
    for _ in range(5):
        port = wanted or _free_port()
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            *extra,
        ]
        if password:
            argv += ["--requirepass", password]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        server = RedisServer(port, directory, proc, password)
        if _wait_ready(server):
            return server
        server.stop()
        with contextlib.suppress(OSError):
            last = server.log.read_text()[-500:]
    raise RuntimeError(f"redis-server did not start: {last}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: RedisServer) -> bool:
    import redis

    deadline = time.monotonic() + _START_TIMEOUT
    client = server.client()
    try:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            try:
                if client.ping():
                    return True
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    global _current
    server = start_server(tmp_path_factory.mktemp("redis"))
    _current = server
    try:
        yield server
    finally:
        _current = None
        server.stop()


@pytest.fixture(scope="session")
def redis_server_aof(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A second server with the append-only file on, fsynced every second."""
    server = start_server(
        tmp_path_factory.mktemp("redis-aof"), "--appendonly", "yes", "--appendfsync", "everysec"
    )
    try:
        yield server
    finally:
        server.stop()


@dataclass
class RedisEnv(Env):
    """The CLI sandbox of conftest.Env, pointed at a namespace of the test's Redis server."""

    url: str = ""

    def location(self) -> str:
        return self.url


@pytest.fixture
def redis_env(env: Env, redis_server: RedisServer) -> RedisEnv:
    return RedisEnv(
        root=env.root,
        config=env.config,
        db=env.db,
        env=env.env,
        procs=env.procs,
        url=redis_server.url(namespace_for(env.root)),
    )

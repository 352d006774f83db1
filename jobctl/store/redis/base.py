"""The connection, the scripts and the guards every part of the Redis store shares."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from jobctl.errors import StoreError, StoreFull, StoreMissing, UsageError
from jobctl.store.redis.codec import (
    MIN_SERVER,
    SCHEMA_VERSION,
    script_source,
)
from jobctl.store.redis.location import parse_location


class ServerBusy(StoreError):
    """The server runs another client's script past its busy-reply-threshold and answers
    every other command BUSY until it ends: the store is sound, only not available now."""


class RedisBase:
    """A namespace of a Redis server, shared by the workers and daemons of many hosts. One
    instance holds one connection pool; it is safe to use from several threads."""

    shared = True

    def __init__(self, location: str, *, create: bool = True, timeout: float | None = None) -> None:
        """`timeout`: the seconds every connection waits for the server, to connect and for
        each answer (10 and 60 by default); a health probe's is short."""
        self._where = parse_location(location)
        self._timeout = timeout
        self.location = self._where.shown
        self.namespace = self._where.namespace
        self.prefix = f"jobctl:{{{self.namespace}}}:"
        self._host = socket.gethostname()
        self._fence: str | None = None  # the cron leader token this store writes fires under
        self._scripts: dict[str, Script] = {}
        self._raw_client: Any = None
        # The namespace's check, when a busy server put it off until the first command.
        self._unchecked: bool | None = None
        # redis-py's annotations cannot say that decode_responses gives str: typed loosely.
        self._client: Any = self._connect(decode=True)
        try:
            with self._guard():
                self._check(create)
        except ServerBusy:
            # Checked by the first command instead, which a busy server fails as well: so
            # `health` reports a failed check rather than a store it cannot open.
            self._unchecked = create
        except BaseException:
            self._client.close()
            raise

    # -- plumbing --------------------------------------------------------------------------

    def _connect(self, *, decode: bool, timeout: float | None = None) -> Any:
        """A client whose connections wait `timeout` seconds for the server (the store's,
        else 10 to connect and 60 for an answer)."""
        timeout = timeout or self._timeout
        # No automatic retries: a script whose reply was lost must not run twice (an enqueue
        # would store its jobs twice). Callers that can retry (the worker) do.
        try:
            return redis.Redis.from_url(
                self._where.url,
                decode_responses=decode,
                socket_connect_timeout=timeout or 10,
                socket_timeout=timeout or 60,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise StoreError(f"{self.location}: {self._scrub(str(exc))}") from None

    def _check(self, create: bool) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.info("server")
        pipe.hget(self._key("meta"), "schema")
        info, schema = pipe.execute(raise_on_error=False)
        if isinstance(schema, Exception):
            raise schema
        # INFO may be denied to this user (ACLs): then the scripts' own errors must tell.
        version = str(info.get("redis_version", "")) if isinstance(info, dict) else ""
        numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if version and numbers < MIN_SERVER:
            raise StoreError(
                f"{self.location}: Redis {version} is too old; jobctl needs Redis 7.0 or newer"
            )
        if schema is None:
            if not create:
                raise StoreMissing(
                    f"{self.location}: namespace {self.namespace!r} does not exist "
                    "(nothing was ever enqueued there)"
                )
            made = self._client.hsetnx(self._key("meta"), "schema", str(SCHEMA_VERSION))
            self.created = bool(made)
        elif int(schema) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: namespace {self.namespace!r} has schema version {schema}, "
                f"newer than this jobctl understands ({SCHEMA_VERSION}); upgrade jobctl"
            )
        elif int(schema) < SCHEMA_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Build the keys an older schema lacks (one script: atomic, and done once whoever
        opens the namespace first). A read-only replica, or a user allowed only to read,
        cannot: what reads needs none of them, and the first writer builds them."""
        with contextlib.suppress(
            redis.exceptions.ReadOnlyError, redis.exceptions.NoPermissionError
        ):
            self._run("upgrade", str(SCHEMA_VERSION))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        if self._raw_client is not None:
            with contextlib.suppress(Exception):
                self._raw_client.close()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            if self._unchecked is not None:
                self._check(self._unchecked)
                self._unchecked = None
            yield
        except redis.exceptions.RedisError as exc:
            # A script refused what it was asked (lib.lua's refuse): the caller's mistake.
            refused = _refusal(exc)
            if refused is not None:
                raise UsageError(refused) from None
            if is_busy(exc):
                raise ServerBusy(self._describe(exc)) from None
            # A server at its maxmemory is a full disk's like: `prune` still makes room.
            full = isinstance(exc, redis.exceptions.OutOfMemoryError)
            raise (StoreFull if full else StoreError)(self._describe(exc)) from None

    def _describe(self, exc: redis.exceptions.RedisError) -> str:
        text = self._scrub(str(exc))
        where = self.location
        if "HELLO must be called with the client already authenticated" in text:
            return (
                f"{where}: authentication failed: the server asks for a password, and the URL"
                " gives none (redis://:PASSWORD@host or redis://USER:PASSWORD@host)"
            )
        if isinstance(exc, redis.exceptions.AuthenticationError):
            return f"{where}: authentication failed ({text})"
        if isinstance(exc, redis.exceptions.TimeoutError):
            return f"{where}: the server did not answer in time ({text})"
        tls = _tls_file_missing(exc)
        if tls:
            return f"{where}: {tls}"
        if isinstance(exc, redis.exceptions.ConnectionError):
            return f"{where}: cannot reach the server ({text}){_tls_hint(where, text)}"
        if isinstance(exc, redis.exceptions.ReadOnlyError):
            return f"{where}: the server is a read-only replica"
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return f"{where}: the server is out of memory (maxmemory); nothing was changed"
        if is_busy(exc):
            # Not Redis's advice: SCRIPT KILL cannot stop a script that wrote, and SHUTDOWN
            # NOSAVE throws away every job of a server without persistence.
            return (
                f"{where}: the server is busy running a script (a large enqueue --batch from"
                " another client?); try again when it ends"
            )
        if text.startswith("jobctl: "):
            return f"{where}: {text[len('jobctl: ') :]}"
        if text.startswith("WRONGTYPE"):
            return (
                f"{where}: not a jobctl database: a key under {self.prefix} holds "
                "another program's data"
            )
        if text.startswith("NOPERM") or "has no permissions to access one of the keys" in text:
            return (
                f"{where}: permission denied ({text}): the user needs the keys {self.prefix}* (ACL"
                " '~jobctl:*'; see the README's ACL rights)"
            )
        return f"{where}: {text}"

    def _scrub(self, text: str) -> str:
        secret = self._where.password
        return text.replace(secret, "***") if secret else text

    def _run(self, name: str, *args: str | bytes, client: Any = None) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._client.register_script(script_source(name))
            self._scripts[name] = script
        return script(keys=[self.prefix], args=list(args), client=client)

    def _raw(self) -> Any:
        """A second client that returns bytes: attempt output is not always text."""
        if self._raw_client is None:
            self._raw_client = self._connect(decode=False)
        return self._raw_client


# What a script's refusal starts with, and what Redis appends to an error a script raised
# (rather than returned): " script: SHA, on @user_script:LINE."
_REFUSED = "jobctl usage: "
_RAISED_AT = re.compile(r" script: [0-9a-f]+, on @[\w:]+\.$")


def is_busy(exc: BaseException) -> bool:
    """Whether the server answered BUSY: it runs another client's script (or function) past
    its busy-reply-threshold, and takes no other command until that ends."""
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith("BUSY ")


def _refusal(exc: redis.exceptions.RedisError) -> str | None:
    """The reason a script refused what it was asked, or None for any other error."""
    text = str(exc)
    if not isinstance(exc, redis.exceptions.ResponseError) or not text.startswith(_REFUSED):
        return None
    return _RAISED_AT.sub("", text[len(_REFUSED) :])


def _tls_hint(where: str, text: str) -> str:
    """What a connection that failed at its first bytes most likely means: a redis:// URL
    to a port that speaks TLS (the server drops the plain text), or a rediss:// one whose
    server certificate does not verify."""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            ": the server's TLS certificate did not verify; name the CA that signed it with"
            " ?ssl_ca_certs=FILE"
        )
    dropped = "reset by peer" in text or "Connection closed by server" in text
    if where.startswith("redis://") and dropped:
        return "; if that port speaks TLS, the URL must start with rediss://"
    return ""


def _tls_file_missing(exc: BaseException) -> str | None:
    """What a rediss:// connection failed on when it is a TLS file the URL names that is not
    there (ssl_ca_certs, ssl_certfile, ssl_keyfile): redis-py says only 'No such file or
    directory', which reads as a server that cannot be reached."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, FileNotFoundError):
            name = f" {cause.filename}" if cause.filename else ""
            return (
                f"a TLS file the URL names does not exist{name} (ssl_ca_certs, ssl_certfile,"
                " ssl_keyfile)"
            )
        cause = cause.__cause__ or cause.__context__
    if "Error 2 connecting" in str(exc) and "No such file or directory" in str(exc):
        return "a TLS file the URL names does not exist (ssl_ca_certs, ssl_certfile, ssl_keyfile)"
    return None

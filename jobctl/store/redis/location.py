"""Reading `redis://` locations; passwords never leave this module in the clear."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from jobctl.errors import BadLocation, DurationError
from jobctl.store.redis.codec import (
    DEFAULT_LEADER_LEASE,
    DEFAULT_NAMESPACE,
)

# ---------------------------------------------------------------------------------------------
# Locations


@dataclass(frozen=True)
class RedisLocation:
    """A parsed `redis://` or `rediss://` location."""

    url: str  # for redis-py, without jobctl's own query options
    shown: str  # for people: the password never appears
    namespace: str
    leader_lease: float
    password: str | None


def parse_location(location: str) -> RedisLocation:
    """`redis[s]://[[user]:password@]host[:port][/db][?namespace=NAME&leader_lease=5s]`."""
    from jobctl.durations import parse_duration

    try:
        parts = urlsplit(location)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        raise BadLocation(f"{redact(location)}: {exc}") from None
    # A password's `/`, `?` or `#` ends the host part early: the @ is found past it.
    escape = (
        " (a password's / ? # are written %2F %3F %23)"
        if "@" not in parts.netloc and "@" in location.partition("//")[2]
        else ""
    )
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise BadLocation(
            f"{redact(location)}: expected redis[s]://[[user]:password@]host[:port][/db]{escape}"
        )
    try:
        parts.port  # noqa: B018 (parsed on access)
    except ValueError:
        raise BadLocation(
            f"{redact(location)}: the port must be a number up to 65535{escape}"
        ) from None
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise BadLocation(
            f"{redact(location)}: the database must be a number (/0, /1, ...){escape}"
        )
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    known = _client_options(parts.scheme) | {"namespace", "leader_lease"}
    for name in names:
        if names.count(name) > 1:
            raise BadLocation(f"{redact(location)}: {name} is given more than once")
        if name not in known:
            raise BadLocation(f"{redact(location)}: unknown option {name!r} in the URL")
    namespace = DEFAULT_NAMESPACE
    lease = DEFAULT_LEADER_LEASE
    rest: list[tuple[str, str]] = []
    secret = unquote(parts.password) if parts.password else None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "namespace":
            if not value:
                raise BadLocation(f"{redact(location)}: namespace is empty")
            if any(ch in value for ch in "{}"):
                raise BadLocation(f"{redact(location)}: namespace must be a name without braces")
            namespace = value
        elif name == "leader_lease":
            try:
                lease = parse_duration(value)
            except DurationError as exc:
                raise BadLocation(f"{redact(location)}: leader_lease: {exc}") from None
            if lease < 0.2:
                raise BadLocation(f"{redact(location)}: leader_lease must be at least 200ms")
        else:
            if name == "password":
                secret = value
            rest.append((name, value))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    user = f"{parts.username}:***@" if parts.username else (":***@" if secret else "")
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    db = parts.path if parts.path not in ("", "/") else "/0"
    shown = f"{parts.scheme}://{user}{host}{port}{db}"
    if namespace != DEFAULT_NAMESPACE:
        shown += f"?namespace={namespace}"
    return RedisLocation(url, shown, namespace, lease, secret)


def redact(location: str) -> str:
    """`location` for people: a password never shown, the query left out."""
    from jobctl.store import hidden_userinfo

    try:
        parts = urlsplit(location)
    except ValueError:  # no URL to take apart
        return hidden_userinfo(location)
    if parts.password is None:  # none, or one its `/`, `?` or `#` hid from urlsplit
        return hidden_userinfo(location)
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, "", ""))


def _client_options(scheme: str) -> set[str]:
    """The query options redis-py takes from a URL (any other fails at the first command,
    deep in the client); the TLS ones only for rediss:// (a plain connection takes none)."""
    import inspect

    from redis.connection import URL_QUERY_ARGUMENT_PARSERS, SSLConnection

    names = {n for n in URL_QUERY_ARGUMENT_PARSERS if not n.startswith("ssl_")}
    names |= {"password", "username", "client_name", "lib_name", "lib_version"}
    if scheme == "rediss":
        ssl_options = inspect.signature(SSLConnection.__init__).parameters
        names |= {"ssl"} | {n for n in ssl_options if n.startswith("ssl_")}
    return names

"""Storage: the interface every store implements, and how a location selects one."""

from __future__ import annotations

from pathlib import Path

from jobctl.errors import BadLocation, StoreError
from jobctl.store.base import Finish, Store, WakeListener

__all__ = ["Finish", "Store", "WakeListener", "location_kind", "open_store"]


def open_store(
    location: str,
    *,
    durability: str = "full",
    create: bool = True,
    at_rest: bool = False,
    timeout: float | None = None,
) -> Store:
    """A path or sqlite:///path opens the SQLite store; redis:// or rediss:// the Redis one
    (imported only then: the client costs start-up time that SQLite users should not pay).
    Schemes are read in any case. Any other `scheme://`, or one of these three with a slash
    missing, is refused: a mistyped URL must not become a database file of that name.
    `at_rest`: a SQLite file read as it is, for reading only (see open_database). `timeout`:
    the seconds a Redis server is waited for, to connect and for each answer (its store's
    default when None; a SQLite file's waits are its lock's)."""
    kind, rest = location_kind(location)
    if kind == "redis":
        try:
            from jobctl.store.redis import RedisStore
        except ImportError as exc:
            raise StoreError(f"the Redis store needs the redis package: {exc}") from None
        return RedisStore(rest, create=create, timeout=timeout)
    if kind == "unknown":
        raise BadLocation(not_a_location(location))
    from jobctl.store.sqlite import SqliteStore

    return SqliteStore(
        Path(rest).expanduser(), durability=durability, create=create, at_rest=at_rest
    )


def not_a_location(location: str) -> str:
    """The refusal of a location of no kind jobctl opens (see location_kind), its user and
    password left out: `postgres://app:SECRET@db/x` typed for --db must not print SECRET."""
    if location.endswith(_IN_MEMORY) and location_kind(location)[0] == "unknown":
        return (
            f"{location}: SQLite's name for a database in memory, whose jobs would be gone when"
            " the command ends: not a database location (a file of that name: give its full"
            " path)"
        )
    return (
        f"{hidden_userinfo(location)}: not a database location (a path, sqlite:///PATH,"
        " redis://HOST or rediss://HOST)"
    )


def hidden_userinfo(location: str) -> str:
    """`location` with all that stands between its `//` and its last `@` shown as `***`,
    and without its query (which may hold `password=`): a password with a `/`, `?` or `#`
    in it, not written %2F, %3F or %23, ends a URL's host part early for a parser, which
    then finds no password to hide."""
    import re

    return re.sub(r"//.*@", "//***@", location, count=1, flags=re.S).split("?", 1)[0]


def location_kind(location: str) -> tuple[str, str]:
    """What a database location names, its scheme read in any case (RFC 3986), so that every
    reader of a location agrees with open_store: `REDIS://host` is no file path to one and a
    server to another. ("redis", URL) for redis:// and rediss:// (the scheme lowercased),
    ("sqlite", PATH) for sqlite://PATH, ("path", location) for a plain path, and ("unknown",
    location) for any other `scheme://`, or one of jobctl's with a slash missing (refused:
    see open_store)."""
    scheme, rest = _split_scheme(location)
    if scheme in ("redis", "rediss") and rest.startswith("//"):
        return "redis", f"{scheme}:{rest}"
    if scheme == "sqlite" and rest.startswith("//") and not _in_memory(rest[2:]):
        return "sqlite", rest[2:]
    if scheme in ("redis", "rediss", "sqlite") or (scheme and rest.startswith("//")):
        return "unknown", location
    if _in_memory(location):
        return "unknown", location
    return "path", location


# SQLite's name for a database in memory: refused (see not_a_location), as no job in it would
# outlive the command. A file of that name is given by its full path.
_IN_MEMORY = ":memory:"


def _in_memory(path: str) -> bool:
    """Whether SQLite would open `path` in memory, once a Path has dropped its `./`."""
    return path.endswith(_IN_MEMORY) and str(Path(path)) == _IN_MEMORY


def _split_scheme(location: str) -> tuple[str | None, str]:
    """(scheme lowercased, the rest after its colon) of a location that starts like a URL;
    (None, location) for anything else. `a:/x.db` is a path in a folder named `a:`, unless
    `a` is one of jobctl's own schemes."""
    import re

    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", location, re.DOTALL)
    if match is None:
        return None, location
    return match.group(1).lower(), match.group(2)

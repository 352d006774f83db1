"""Storage: the interface every store implements, and how a location selects one."""

from __future__ import annotations

from pathlib import Path

from jobctl.errors import StoreError
from jobctl.store.base import Finish, Store, WakeListener

__all__ = ["Finish", "Store", "WakeListener", "open_store"]


def open_store(
    location: str, *, durability: str = "full", create: bool = True, at_rest: bool = False
) -> Store:
    """A path or sqlite:///path opens the SQLite store; redis:// or rediss:// the Redis one
    (imported only then: the client costs start-up time that SQLite users should not pay).
    Schemes are read in any case. Any other `scheme://`, or one of these three with a slash
    missing, is refused: a mistyped URL must not become a database file of that name.
    `at_rest`: a SQLite file read as it is, for reading only (see open_database)."""
    scheme, rest = _split_scheme(location)
    if scheme in ("redis", "rediss") and rest.startswith("//"):
        try:
            from jobctl.store.redis import RedisStore
        except ImportError as exc:
            raise StoreError(f"the Redis store needs the redis package: {exc}") from None
        return RedisStore(f"{scheme}:{rest}", create=create)
    if scheme == "sqlite" and rest.startswith("//"):
        location = rest[2:]
    elif scheme in ("redis", "rediss", "sqlite") or (scheme and rest.startswith("//")):
        raise StoreError(
            f"{location}: not a database location (a path, sqlite:///PATH, redis://HOST or"
            " rediss://HOST)"
        )
    from jobctl.store.sqlite import SqliteStore

    return SqliteStore(
        Path(location).expanduser(), durability=durability, create=create, at_rest=at_rest
    )


def _split_scheme(location: str) -> tuple[str | None, str]:
    """(scheme lowercased, the rest after its colon) of a location that starts like a URL;
    (None, location) for anything else. `a:/x.db` is a path in a folder named `a:`, unless
    `a` is one of jobctl's own schemes."""
    import re

    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", location, re.DOTALL)
    if match is None:
        return None, location
    return match.group(1).lower(), match.group(2)

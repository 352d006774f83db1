"""Storage: the interface every store implements, and how a location selects one."""

from __future__ import annotations

from pathlib import Path

from jobctl.errors import StoreError
from jobctl.store.base import Finish, Store, WakeListener

__all__ = ["Finish", "Store", "WakeListener", "open_store"]


def open_store(location: str, *, durability: str = "full", create: bool = True) -> Store:
    """A path or sqlite:///path opens the SQLite store; redis:// or rediss:// the Redis one
    (imported only then: the client costs start-up time that SQLite users should not pay)."""
    scheme = _scheme(location)
    if scheme in ("redis", "rediss") and location[len(scheme) :].startswith("://"):
        location = scheme + location[len(scheme) :]  # REDIS:// too
        try:
            from jobctl.store.redis import RedisStore
        except ImportError as exc:
            raise StoreError(f"the Redis store needs the redis package: {exc}") from None
        return RedisStore(location, create=create)
    if location.startswith("sqlite://"):
        location = location[len("sqlite://") :]
    elif scheme is not None:  # a mistyped URL must not become a file of that name
        raise StoreError(
            f"{location}: not a database location (a path, sqlite:///PATH, redis://HOST or"
            " rediss://HOST)"
        )
    from jobctl.store.sqlite import SqliteStore

    return SqliteStore(Path(location).expanduser(), durability=durability, create=create)


def _scheme(location: str) -> str | None:
    """The scheme of a location written as a URL (`name:/...`), lowercased; None for a path."""
    import re

    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):/", location)
    return match.group(1).lower() if match else None

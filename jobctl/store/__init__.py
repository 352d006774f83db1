"""Storage: the interface every store implements, and how a location selects one."""

from __future__ import annotations

from pathlib import Path

from jobctl.errors import StoreError
from jobctl.store.base import Finish, Store, WakeListener

__all__ = ["Finish", "Store", "WakeListener", "open_store"]


def open_store(location: str, *, durability: str = "full", create: bool = True) -> Store:
    """A path or sqlite:///path opens the SQLite store; redis:// or rediss:// the Redis one
    (imported only then: the client costs start-up time that SQLite users should not pay)."""
    if location.startswith(("redis://", "rediss://")):
        try:
            from jobctl.store.redis import RedisStore
        except ImportError as exc:
            raise StoreError(f"the Redis store needs the redis package: {exc}") from None
        return RedisStore(location, create=create)
    if location.startswith("sqlite://"):
        location = location[len("sqlite://") :]
    from jobctl.store.sqlite import SqliteStore

    return SqliteStore(Path(location).expanduser(), durability=durability, create=create)

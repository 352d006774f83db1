"""Commands of the `schedule` group (registered on the app when imported)."""

from __future__ import annotations

"""Commands of the `observe` group (registered on the app when imported)."""

from __future__ import annotations

"""Commands of the `control` group (registered on the app when imported)."""

from __future__ import annotations

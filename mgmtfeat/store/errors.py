"""The error class of the feature store (its own module, so that the store's helpers can raise it)."""

from __future__ import annotations

__all__ = ["StoreError"]


class StoreError(ValueError):
    """A feature store is missing, incomplete or holds invalid values."""

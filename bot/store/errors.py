"""The store's errors a command can meet before any database module is loaded."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The configured database cannot be opened; the message says which and why."""

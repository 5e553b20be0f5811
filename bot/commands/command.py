"""What a chat message asks for: a ``Command``, or a ``CommandError`` saying what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A parsed command: ``name`` is a registered ``CommandSpec.name`` ("alert_add")."""

    name: str
    args: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


class CommandError(Exception):
    """A command the person got wrong: ``key`` and ``params`` say what and which limit."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandError) and (self.key, self.params) == (other.key, other.params)

    def __repr__(self) -> str:
        return f"CommandError({self.key!r}, {self.params!r})"

    __hash__ = None  # type: ignore[assignment]

"""Saying a failure: its cause in words, and one log line for what the service depends on.

The database and the network fail on a bad day (a server restarting, a connection cut, a
lock held too long); that is expected, and the log gets one line with its cause
(``root_reason``). Anything else is a bug in shwatch and keeps its traceback. The monitor
and the bot both say failures this way.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

EXPECTED_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


def root_reason(exc: BaseException) -> str:
    """The innermost cause of a failure, as a person would say it (no traceback, no SQL)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def log_failure(logger: logging.Logger, what: str, exc: BaseException, level: int = logging.ERROR) -> None:
    """``what: cause`` in one line for a database or network failure; a traceback otherwise."""
    if isinstance(exc, EXPECTED_FAILURES):
        logger.log(level, "%s: %s", what, root_reason(exc))
    else:
        logger.log(level, "%s", what, exc_info=exc)

"""Saying a failure in the log: one line for what the service depends on, a traceback for a bug.

The database and the network fail on a bad day (a server restarting, a connection cut, a
lock held too long); that is expected, and the log gets one line with its cause. Anything
else is a bug in shwatch and keeps its traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from monitors.db import root_reason

EXPECTED_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """``what: cause`` in one line for a database or network failure; a traceback otherwise."""
    if isinstance(exc, EXPECTED_FAILURES):
        logger.error("%s: %s", what, root_reason(exc))
    else:
        logger.error("%s", what, exc_info=exc)

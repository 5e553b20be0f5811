"""A process's resident memory, as the operating system counts it.

One function, read by the page-parsing worker about itself (``monitors.offload``) and by
the web app about its own process (``/healthz``, ``/metrics``); kept apart so that the web
app reads it without loading the parsers.
"""

from __future__ import annotations

import os


def resident_bytes() -> int | None:
    """This process's resident memory in bytes (None where /proc is not there to say)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None

"""``shwatch run`` as a background process for end-to-end tests: started through the real
entry point with a clean environment, stdout and stderr in one log file, stopped as a
person stops it (SIGTERM).

    proc = start_run(config, log_path, cwd, SHWATCH_WEB_PORT="0")
    code = terminate(proc)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SHWATCH = Path(sys.executable).with_name("shwatch")
# settings a developer's shell may hold: a test's service gets only what the test gives it
FOREIGN = ("TELEGRAM_", "SHWATCH_", "WECOM_")


def start_run(config: Path, log_path: Path, cwd: Path, **env: str) -> subprocess.Popen:
    """``shwatch --config CONFIG --log-level INFO run``, with ``env`` added to the clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    return subprocess.Popen(
        [str(SHWATCH), "--config", str(config), "--log-level", "INFO", "run"],
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=cwd, env={**clean, **env},
    )


def terminate(proc: subprocess.Popen, grace: float = 15.0) -> int:
    """SIGTERM and the exit code; a process not ended after ``grace`` seconds is killed
    (its code, -9, then says so)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)

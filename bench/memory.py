"""Resident memory of an idle ``shwatch run``: default sources, no chat platform (console).

Starts the real entry point on a migrated SQLite file (web app on, as by default), waits (default 120 s: the first polls of
the default sources have failed by then, as they do on a machine that cannot reach them),
reads VmRSS from /proc, and prints it beside the same reading for a bare python-telegram-bot
application (the baseline, measured in the same run). Target: at most 80 MB.

    python bench/memory.py [--wait 120] [--without-test-extras]

``--without-test-extras`` also measures the service as an installation without the test
extra runs it: there selenium's dependency trio is absent (httpcore imports trio whenever it
is installed; a console-only service no longer loads httpcore, so the two figures now agree).
The same entry point runs with trio hidden.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 80.0
WITHOUT_TRIO = """
import sys
sys.modules["trio"] = None  # as if not installed: httpcore imports it only when it is
from bot.cli.main import main
sys.argv = ["shwatch", "run"]
sys.exit(main())
"""
BARE_PTB = """
import time
from telegram.ext import Application
app = Application.builder().token("123:abc").build()
print("ready", flush=True)
time.sleep(3600)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


def measure(cmd: list[str], env: dict[str, str], wait: float) -> float:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(wait)
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited early with {proc.returncode}")
        return rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds after start before reading (default 120)")
    parser.add_argument("--without-test-extras", action="store_true",
                        help="also measure the service without trio, as an installation without the test extra")
    args = parser.parse_args()
    shwatch = Path(sys.executable).with_name("shwatch")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECOM_", "SHWATCH_"))}
        env["SHWATCH_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp}/bench.db"
        # the steady state: a store already migrated (a first start also runs the migrations)
        subprocess.run([str(shwatch), "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        service = measure([str(shwatch), "run"], env, args.wait)
        plain = measure([sys.executable, "-c", WITHOUT_TRIO], env, args.wait) if args.without_test_extras else None
        bare = measure([sys.executable, "-c", BARE_PTB], env, min(args.wait, 10.0))
    print(f"idle shwatch run (console, default sources) after {args.wait:.0f} s: {service:.1f} MB RSS")
    if plain is not None:
        print(f"the same without the test extra (no trio) after {args.wait:.0f} s: {plain:.1f} MB RSS")
    print(f"bare python-telegram-bot Application (baseline, same run): {bare:.1f} MB RSS")
    print(f"ratio shwatch / bare PTB: {service / bare:.2f}; target <= {TARGET_MB:.0f} MB: {'PASS' if service <= TARGET_MB else 'FAIL'}")
    return 0 if service <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())

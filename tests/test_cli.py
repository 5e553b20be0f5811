"""The entry point's last line of defence: an unusable store is one readable line, exit 1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

from shwatch_run import SHWATCH

from bot.store.lease import LEADER, LeaseStore
from bot.store.migrate import upgrade_to_head
from monitors.db import create_engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHWATCH_")}
    env.update(env_extra)
    return subprocess.run([str(SHWATCH), *args], capture_output=True, text=True, timeout=60, env=env)


def test_unreachable_database_is_one_line_without_the_password():
    url = f"postgresql+asyncpg://watcher:hunter2secret@127.0.0.1:{_free_port()}/shwatch"
    proc = _run("sources", env_extra={"SHWATCH_DATABASE_URL": url})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("shwatch: cannot open the database postgresql+asyncpg://watcher:***@127.0.0.1:")
    assert "hunter2secret" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_sqlite_file_that_cannot_be_created_names_the_path(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    url = f"sqlite+aiosqlite:///{blocker}/shwatch.db"
    proc = _run("poll", "--once", "--json", env_extra={"SHWATCH_DATABASE_URL": url})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"{blocker}/shwatch.db" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_match_needs_no_database(tmp_path: Path):
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{_free_port()}/none"
    proc = _run("match", "--json", "建设互联网医院", env_extra={"SHWATCH_DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert '"online_healthcare"' in proc.stdout


def test_sources_try_through_the_entry_point_needs_no_database_and_a_url():
    # the database named here does not exist: `sources try` never opens it
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{_free_port()}/none"
    missing = _run("sources", "try", env_extra={"SHWATCH_DATABASE_URL": url})
    assert missing.returncode == 2 and "needs a URL" in missing.stderr and "Traceback" not in missing.stderr
    dead = _run("sources", "try", f"http://127.0.0.1:{_free_port()}/list.html", env_extra={"SHWATCH_DATABASE_URL": url})
    assert dead.returncode == 1 and len(dead.stderr.strip().splitlines()) == 1 and "Traceback" not in dead.stderr


def test_sources_says_which_instance_leads_until_when(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'lead.db'}"
    config = tmp_path / "c.toml"
    config.write_text('sources = []\ntimezone = "UTC"\n', encoding="utf-8")
    before = _run("--config", str(config), "sources", env_extra={"SHWATCH_DATABASE_URL": url})
    assert before.returncode == 0 and before.stdout.strip().endswith("Leader: none yet (no shwatch run has led)")

    async def lead() -> str:
        await upgrade_to_head(url)
        engine = create_engine(url)
        try:
            lease = await LeaseStore(engine).acquire(LEADER, "host-a:41:beef", 60)
            return lease.expires_at.strftime("%Y-%m-%d %H:%M:%S")
        finally:
            await engine.dispose()

    until = asyncio.run(lead())
    after = _run("--config", str(config), "sources", env_extra={"SHWATCH_DATABASE_URL": url})
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().endswith(f"Leader: host-a:41:beef (lease until {until})")

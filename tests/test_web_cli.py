"""``cmd_web`` (``shwatch web``): as a process it serves until SIGTERM and exits 0; a store
that is not migrated, or a port in use, is one line on stderr and exit 1."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.store.migrate import head_revision, upgrade_to_head
from bot.web import cmd_web
from config.settings import load_settings

RUN_WEB = (
    "import asyncio, sys\n"
    "from bot.web import cmd_web\n"
    "from config.settings import load_settings\n"
    "sys.exit(asyncio.run(cmd_web(load_settings(sys.argv[1]))))\n"
)


def config(tmp_path: Path, port: int = 0) -> tuple[Path, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
    cfg = tmp_path / "shwatch.toml"
    cfg.write_text(f'database_url = "{url}"\n[web]\nport = {port}\n', encoding="utf-8")
    return cfg, url


def start(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_WEB, str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def first_line(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            return proc.stderr.readline().strip()
        if proc.poll() is not None:
            return proc.stderr.readline().strip()
    raise AssertionError("shwatch web said nothing")


def test_web_serves_read_only_until_sigterm(tmp_path):
    cfg, url = config(tmp_path)
    asyncio.run(upgrade_to_head(url))
    proc = start(cfg)
    try:
        line = first_line(proc)
        assert line.startswith("shwatch web: serving http://127.0.0.1:") and "(read-only)" in line, line
        base = line.split("serving ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(base + "healthz", timeout=10) as r:
            health = json.load(r)
        assert health.pop("memory_mb")["web"] > 10  # the web process's own resident memory, in MB
        assert health == {"status": "ok", "role": "web", "database": "ok", "scheduler": "none", "leader": None}
        request = urllib.request.Request(base + "items?q=%E5%8C%BB%E9%99%A2", headers={"Accept-Language": "zh"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200 and "没有符合条件的资讯" in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_web_refuses_a_store_that_is_not_migrated(tmp_path, capsys):
    cfg, _ = config(tmp_path)
    assert await cmd_web(load_settings(cfg, env={})) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"shwatch web: the database is at schema revision (none), not {head_revision()}: "
        "run `shwatch db upgrade` first (or start `shwatch run`, which upgrades it)"
    ]


async def test_web_port_in_use_is_one_line_and_exit_1(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg, url = config(tmp_path, port)
        await upgrade_to_head(url)
        assert await cmd_web(load_settings(cfg, env={})) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"shwatch web: the web port 127.0.0.1:{port} is already in use (choose another with [web] port)"
    ]

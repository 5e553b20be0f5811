"""Responsiveness benchmark: how fast the bot answers /start while hostile sources are polled.

The real ``shwatch run`` (a subprocess) talks to the fake Bot API (tests/fake_telegram.py)
and polls 16 hostile sources on loopback addresses 127.0.0.2-17, each answering a freshly
generated page on every request (no 304s): 8 serve a page nested 200,000 elements deep
(about 2 MB), 8 a list of 50,000 links (about 3 MB, under the 5 MB page limit). Every source is polled at start-up and
then every ``--interval`` seconds, so page parsing goes on for the whole measurement
(the number of pages served meanwhile is printed).

While that runs, people send /start, one after another, each from a chat of its own (a
chat's own limit, 1 message/s, plays no part), and the time from the update being offered
to the bot until its reply reaches the Bot API is measured. The same measurement with no
sources at all, in the same run, is the baseline. Target (issue 11): p95 under 1 s with the
hostile sources.

    .venv/bin/python bench/responsive.py [--requests 40] [--interval 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import itertools
import time
import urllib.request
import uuid
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fake_telegram  # noqa: E402
from loopback import LoopbackServer  # noqa: E402

SHWATCH = Path(sys.executable).with_name("shwatch")
TOKEN = "424242424:AAResponsiveBenchToken_abcdefghijklmno"
HOSTS = [f"127.0.0.{n}" for n in range(2, 18)]
DEEP = 200_000
LINKS = 50_000


def deep_page() -> bytes:
    return ("<html><head><title>deep</title></head><body>" + "<div>" * DEEP + "x" + "</div>" * DEEP + "</body></html>").encode()


def list_page() -> bytes:
    salt = uuid.uuid4().hex[:6]  # each page built is new to the poller
    rows = "".join(
        f'<li><a href="/x/2026{1 + n % 12:02d}{1 + n % 28:02d}/{salt}{n:x}.html">通知{n}</a> 2026-{1 + n % 12:02d}-{1 + n % 28:02d}</li>'
        for n in range(LINKS)
    )
    return f"<html><head><meta charset='utf-8'><title>list</title></head><body><ul>{rows}</ul></body></html>".encode()


class HostileSite(LoopbackServer):
    """Answers every request with the next of a few pre-built pages: a page never repeats
    twice in a row, so every poll parses it again (no ETag, no 304)."""

    thread_name = "hostile-site"

    def __init__(self, host: str, deep: list[bytes], lists: list[bytes]) -> None:
        super().__init__(host)
        self.deep, self.lists = itertools.cycle(deep), itertools.cycle(lists)
        self.served = 0

    def build(self, app: web.Application) -> None:
        async def deep(_request: web.Request) -> web.Response:
            self.served += 1
            return web.Response(body=next(self.deep), content_type="text/html")

        async def wide(_request: web.Request) -> web.Response:
            self.served += 1
            return web.Response(body=next(self.lists), content_type="text/html", charset="utf-8")

        app.router.add_get("/deep.html", deep)
        app.router.add_get("/list.html", wide)


def config_text(db: Path, tg: fake_telegram.FakeTelegram, ports: dict[str, int], interval: int) -> str:
    lines = [f'database_url = "sqlite+aiosqlite:///{db}"', "", "[telegram]", f'token = "{TOKEN}"', f'api_base_url = "{tg.base_url}"', "poll_timeout = 1", ""]
    for n, host in enumerate(ports):
        page = "deep.html" if n % 2 == 0 else "list.html"
        lines += ["[[sources]]", f'id = "hostile-{n}"', f'name = "Hostile {n}"', f'url = "http://{host}:{ports[host]}/{page}"', f"interval = {interval}", ""]
    return "\n".join(lines) if ports else "\n".join(lines) + "sources = []\n"


def memory_of(log_path: Path) -> dict[str, float | None]:
    """The running service's resident memory (MB) by process, from its /healthz."""
    port = re.search(r"web app on http://[^:]+:(\d+)/", log_path.read_text(errors="replace")).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        return json.load(r)["memory_mb"]


def measure(
    workdir: Path, ports: dict[str, int], requests: int, interval: int, warmup: float, every: float
) -> tuple[list[float], dict[str, float | None]]:
    """Seconds from /start being offered to the bot until its reply arrives, ``requests``
    times, one every ``every`` seconds (so the measurement spans several poll rounds); and
    the service's memory at the end, its page-parsing worker's apart."""
    with fake_telegram.FakeTelegram(token=TOKEN) as tg:
        config = workdir / "shwatch.toml"
        if ports:
            config.write_text(config_text(workdir / "bench.db", tg, ports, interval), encoding="utf-8")
        else:  # `sources = []` must come before any table
            config.write_text(
                f'database_url = "sqlite+aiosqlite:///{workdir / "quiet.db"}"\nsources = []\n\n[telegram]\n'
                f'token = "{TOKEN}"\napi_base_url = "{tg.base_url}"\npoll_timeout = 1\n',
                encoding="utf-8",
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
        env["SHWATCH_WEB_PORT"] = "0"
        log = (workdir / ("hostile.log" if ports else "quiet.log")).open("wb")
        proc = subprocess.Popen([str(SHWATCH), "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        try:
            tg.wait_for(lambda: len(tg.requests("getUpdates")) >= 1 or proc.poll() is not None, timeout=60)
            if proc.poll() is not None:
                raise AssertionError("shwatch run exited")
            time.sleep(warmup)  # the first polls of every source are under way
            latencies = []
            start = time.monotonic()
            for n in range(requests):
                time.sleep(max(0.0, start + n * every - time.monotonic()))
                chat = 70_000 + n
                after = len(tg.sent)
                offered = time.time()
                tg.send_text(chat, "/start", user_id=chat, language_code="en")
                reply = tg.wait_for_message(lambda m, c=chat: m.chat_id == c, timeout=60, after=after)
                latencies.append(reply.at - offered)  # `at`: when the fake Bot API received it
            log.flush()
            return latencies, memory_of(Path(log.name))
        except AssertionError:
            log.flush()
            print(f"no reply in time; the service's log ends:\n{log.name and Path(log.name).read_text(errors='replace')[-3000:]}")
            raise
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="how many /start to time in each phase")
    parser.add_argument("--interval", type=int, default=5, help="poll interval of each hostile source, seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds after start-up before the first /start")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two /start")
    args = parser.parse_args()
    deep = [deep_page().replace(b"deep", f"deep {n}".encode(), 1) for n in range(2)]
    lists = [list_page() for _ in range(2)]
    print(f"pages: {DEEP:,} nested elements ({len(deep[0]) / 1e6:.1f} MB), {LINKS:,} links ({len(lists[0]) / 1e6:.1f} MB)")
    servers = []
    try:
        ports = {}
        for host in HOSTS:
            server = HostileSite(host, deep, lists).start()
            servers.append(server)
            ports[host] = server.port
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            quiet, quiet_memory = measure(work, {}, args.requests, args.interval, args.warmup, args.every)
            hostile, hostile_memory = measure(work, ports, args.requests, args.interval, args.warmup, args.every)
            served = sum(server.served for server in servers)
    finally:
        for server in servers:
            server.stop()
    for label, values in (("no sources", quiet), ("16 hostile sources", hostile)):
        print(f"{label:20} /start reply  p50 {statistics.median(values) * 1000:7.0f} ms   p95 {p95(values) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms")
    print(f"hostile pages served to the poller meanwhile: {served} ({served * 2.9:.0f} MB or so)")
    for label, memory in (("no sources", quiet_memory), ("16 hostile sources", hostile_memory)):
        parser_mb = memory.get("page_parser")
        print(f"{label:20} resident memory at the end: service {memory['service']} MB, page-parsing worker "
              + (f"{parser_mb} MB" if parser_mb is not None else "not started"))
    ratio = p95(hostile) / p95(quiet)
    print(f"p95 with hostile sources: {p95(hostile):.3f} s (target < 1 s); ratio to no sources: {ratio:.1f}x")
    return 0 if p95(hostile) < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""An aiohttp app on 127.0.0.1 in a thread of its own: the base of the fake servers.

A subclass adds its routes in ``build(app)``; ``start()`` returns once the ephemeral port is
bound and serving (so a subprocess under test can be pointed at it), ``stop()`` runs
``on_stop()`` on the server's loop, then cleans up and joins the thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from aiohttp import web


class LoopbackServer:
    thread_name = "loopback-server"
    shutdown_timeout = 1.0

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # any 127.x.y.z address: servers on distinct loopback hosts
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def build(self, app: web.Application) -> None:
        raise NotImplementedError

    async def on_start(self) -> None:
        """Runs on the server's loop before it serves (create loop-bound state here)."""

    async def on_stop(self) -> None:
        """Runs on the server's loop before it shuts down (wake long-running handlers)."""

    def start(self):
        ready = threading.Event()
        failed: list[BaseException] = []
        sock = socket.socket()
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def boot() -> web.AppRunner:
            await self.on_start()
            app = web.Application()
            self.build(app)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            return runner

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                runner = loop.run_until_complete(boot())
            except BaseException as exc:  # report to start(), never leave it waiting
                failed.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.thread_name} did not start")
        if failed:
            self._loop = self._thread = None
            raise failed[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.on_stop(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(15)
            self._loop = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

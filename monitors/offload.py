"""Parsing big pages off the event loop.

lxml holds the GIL while it builds a tree, so a thread would not help: a page above
``[fetch] offload_bytes`` (default 256 KB) is parsed in a worker process, and the service's
loop keeps answering chats meanwhile. Small pages (nearly all) are parsed inline, where a
process round trip would cost more than the parse. At most ``queue`` big pages wait for the
pool at once (a bounded queue); a worker that dies on a hostile page (a parser crash, memory
exhausted) is replaced, and that page is reported as unreadable, never the poll.

    parser = PageParser(offload_bytes=256_000)
    entries = await parser.list_entries(content, base_url, source, charset)
    article = await parser.article(content, url, charset, forced_encoding)
    parser.worker_resident   # the worker's resident memory after its last page (bytes; None: no worker)
    await parser.close()

The worker's memory is its own: ``worker_resident`` is what the worker measured of itself
after its last parse, reported beside the service's own (``monitors.resident``) by /healthz
and /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any, Callable

from config.model import Source
from monitors.article import extract_article
from monitors.model import Article, ListEntry
from monitors.parse import parse_list
from monitors.resident import resident_bytes

log = logging.getLogger(__name__)


def _measured(func: Callable[..., Any], *args: Any) -> tuple[Any, int | None]:
    """In the worker: the parse's result and the worker's resident memory after it."""
    return func(*args), resident_bytes()


class PageUnreadable(Exception):
    """The worker parsing a page died (the page is hostile or too much for it)."""


class PageParser:
    def __init__(self, offload_bytes: int = 256_000, *, workers: int = 1, queue: int = 4) -> None:
        self.offload_bytes = offload_bytes
        self.workers = workers
        self._slots = asyncio.Semaphore(queue)
        self._pool: ProcessPoolExecutor | None = None
        self.offloaded = 0  # pages parsed in a worker (for tests and benches)
        self.worker_resident: int | None = None  # bytes, as the worker measured after its last page

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fresh interpreter, never a fork of a process with an event loop and threads
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def _run(self, size: int, func: Callable[..., Any], *args: Any) -> Any:
        if size <= self.offload_bytes:
            return func(*args)
        async with self._slots:
            self.offloaded += 1
            try:
                result, self.worker_resident = await asyncio.get_running_loop().run_in_executor(
                    self._executor(), _measured, func, *args
                )
                return result
            except BrokenProcessPool:
                log.warning("a page of %d bytes killed its parsing worker; a new worker takes over", size)
                self._discard_pool()
                raise PageUnreadable(f"the page ({size} bytes) could not be parsed") from None

    def _discard_pool(self) -> None:
        self.worker_resident = None  # its replacement has not measured itself yet
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def list_entries(self, content: bytes, base_url: str, source: Source, charset: str | None) -> list[ListEntry]:
        return await self._run(len(content), parse_list, content, base_url, source, charset)

    async def article(self, content: bytes, url: str, charset: str | None, forced_encoding: str | None) -> Article:
        return await self._run(len(content), extract_article, content, url, charset, forced_encoding)

    async def close(self) -> None:
        """Stop the worker at once: a page still being parsed is abandoned (the next poll
        fetches it again), so a service asked to stop never waits on a hostile page."""
        self.worker_resident = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # ProcessPoolExecutor stops a running task only by ending its process (a public
            # way, terminate_workers(), comes with Python 3.14)
            workers = list((pool._processes or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                if not ended(worker):
                    worker.terminate()
            await asyncio.get_running_loop().run_in_executor(None, _join, workers)


def ended(worker: Any, timeout: float = 0.0) -> bool:
    """Whether a worker process has exited, waiting up to ``timeout`` seconds.

    Judged by its sentinel (a pipe that closes when the process exits), not ``is_alive()``:
    the pool's own thread reaps its workers too, and a process reaped by that thread can
    read as alive to this one for a while (waitpid answers ECHILD, which ``is_alive`` takes
    for "not started yet")."""
    return bool(wait([worker.sentinel], timeout))


def _join(workers: list[Any], timeout: float = 2.0) -> None:
    """Wait for terminated workers to end; one that has not after ``timeout`` is killed."""
    for worker in workers:
        if not ended(worker, timeout):
            worker.kill()
            ended(worker, timeout)

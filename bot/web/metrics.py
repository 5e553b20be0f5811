"""The service's Prometheus metrics, on a registry of their own (no module-global state).

One ``Metrics`` object per process. The parts of the service that do the work count into it::

    metrics.polls.labels(source="shgov-yw", outcome="ok").inc()        # ok | not_modified | failed
    metrics.items_found.labels(source="shgov-yw").inc(3)
    metrics.poll_seconds.labels(source="shgov-yw").observe(0.42)
    metrics.deliveries.labels(channel="telegram", result="sent").inc()  # sent | failed
    metrics.telegram_429.inc()

What the database already knows is read when /metrics is scraped (``observe_store``): the
outbox's depth per status and the items stored per source; so is resident memory, the
process's own and its page-parsing worker's apart (``observe_memory``).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

POLL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)  # seconds (fetch timeout 20 s)
OUTBOX_DEPTH_STATUSES = ("pending", "sending")


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("shwatch_polls", "Polls of a source, by outcome", ["source", "outcome"], registry=r)
        self.items_found = Counter("shwatch_items_found", "New items found by polls", ["source"], registry=r)
        self.poll_seconds = Histogram(
            "shwatch_poll_duration_seconds", "How long one poll of a source took", ["source"], buckets=POLL_BUCKETS, registry=r
        )
        self.deliveries = Counter(
            "shwatch_deliveries", "Deliveries sent or failed for good, by channel", ["channel", "result"], registry=r
        )
        self.telegram_429 = Counter("shwatch_telegram_429", "Telegram answers 429 Too Many Requests", registry=r)
        self.outbox_depth = Gauge("shwatch_outbox_depth", "Deliveries waiting in the outbox, by status", ["status"], registry=r)
        self.items_stored = Gauge("shwatch_items_stored", "Items in the store, by source", ["source"], registry=r)
        self.resident = Gauge(
            "shwatch_resident_memory_bytes", "Resident memory: this process (by its role) and its page-parsing worker",
            ["process"], registry=r,
        )

    def observe_store(self, outbox: Mapping[str, int], stored: Mapping[str, int]) -> None:
        """Set the gauges read from the database: outbox rows per status, items per source."""
        for status in OUTBOX_DEPTH_STATUSES:
            self.outbox_depth.labels(status=status).set(outbox.get(status, 0))
        self.items_stored.clear()  # a source whose items are gone must not keep its last value
        for source, count in stored.items():
            self.items_stored.labels(source=source).set(count)

    def observe_memory(self, readings: Mapping[str, int | None]) -> None:
        """Set resident memory per process; a process with no reading (a worker not started,
        or replaced and not measured yet) has no sample."""
        self.resident.clear()
        for process, value in readings.items():
            if value is not None:
                self.resident.labels(process=process).set(value)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

"""Rendering the monitor's results as rich tables for people (JSON: ``monitors.serialize``).

Pure: values in, strings / rich renderables out. Times are shown in the configured zone
(Asia/Shanghai: ``+08:00``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from config.model import Source, Topic
from monitors.model import Item, SourceStatus
from monitors.serialize import SHANGHAI
from monitors.store import SourceHealth
from monitors.wording import zone_label

# SourceStatus as people read it at the terminal, and its colour
STATUS_TEXT = {
    SourceStatus.NEVER: ("never polled", "dim"),
    SourceStatus.OK: ("ok", "green"),
    SourceStatus.WARNING: ("warning", "yellow"),
    SourceStatus.ARTICLE: ("article problem", "yellow"),
    SourceStatus.FAILING: ("failing", "red"),
    SourceStatus.LAYOUT: ("layout problem", "red"),
}
def _when(moment: datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    if fmt == "%Y-%m-%d %H:%M" and (local.hour, local.minute) == (0, 0):
        return local.strftime("%Y-%m-%d")
    return local.strftime(fmt)


def topic_names(item: Item, topics: Mapping[str, Topic]) -> str:
    names = [topics[t].name(item.lang) if t in topics else t for t in item.topics]
    return ", ".join(names) or "-"


SUMMARY_CHARS = 140  # a summary at the terminal: a few lines, not a page
STACK_BELOW = 120  # columns: narrower terminals get one block per item instead of a table


def held(summary: str, limit: int = SUMMARY_CHARS) -> str:
    """A summary held to ``limit`` characters, cut with '…'."""
    summary = " ".join(summary.split())
    return summary if len(summary) <= limit else summary[: limit - 1].rstrip() + "…"


def _link(url: str) -> Text:
    # one unbroken line: copyable whole, and a clickable hyperlink where the terminal can
    return Text(url, style=f"link {url}", no_wrap=True, overflow="ignore")


def items_table(
    new_items: Sequence[Item],
    sources: Mapping[str, Source],
    topics: Mapping[str, Topic],
    zone: tzinfo = SHANGHAI,
    title: str | None = None,
    width: int = 200,
) -> RenderableType:
    """The new items for people. At ``STACK_BELOW`` columns and more, a table (source, date,
    title, fields, summary, link; the link column never wraps a URL); narrower, one block per
    item with the link alone on its last line. Summaries are held to a few lines."""
    offset = zone_label(zone)
    longest = max((len(i.url) for i in new_items), default=20)
    if width < max(STACK_BELOW, longest + 60):
        return _stacked(new_items, sources, topics, zone, title, offset)
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("Source", overflow="fold", max_width=16)
    table.add_column(f"Date ({offset})", no_wrap=True)
    table.add_column("Title", overflow="fold", ratio=3)
    table.add_column("Fields", overflow="fold", ratio=2, max_width=24)
    table.add_column("Summary", overflow="fold", ratio=4)
    table.add_column("Link", no_wrap=True, overflow="ignore", min_width=longest)
    for item in new_items:
        source = sources.get(item.source_id)
        table.add_row(
            source.name if source else item.source_id,
            _when(item.published, zone),
            Text(item.title, style="bold"),
            topic_names(item, topics),
            held(item.summary) if item.summary else Text("-", style="dim"),
            _link(item.url),
        )
    return table


def _stacked(
    new_items: Sequence[Item],
    sources: Mapping[str, Source],
    topics: Mapping[str, Topic],
    zone: tzinfo,
    title: str | None,
    offset: str,
) -> RenderableType:
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold underline"))
    for item in new_items:
        source = sources.get(item.source_id)
        meta = f"{source.name if source else item.source_id} · {_when(item.published, zone)} ({offset})"
        parts.append(Text(""))
        parts.append(Text(item.title, style="bold"))
        parts.append(Text(meta, style="dim"))
        fields = topic_names(item, topics)
        if fields != "-":
            parts.append(Text(fields, style="cyan"))
        if item.summary:
            parts.append(Text(held(item.summary)))
        parts.append(_link(item.url))
    return Group(*parts)


def health_table(rows: Sequence[SourceHealth], zone: tzinfo = SHANGHAI) -> Table:
    """``shwatch sources``: id, name, status, last poll, last success, items, failures, last error."""
    table = Table(title="Sources", show_lines=False)
    offset = zone_label(zone)
    for name, kw in (
        ("ID", {"no_wrap": True}),
        ("Name", {"overflow": "fold"}),
        ("Status", {"no_wrap": True}),
        (f"Last poll ({offset})", {"no_wrap": True}),
        (f"Last success ({offset})", {"no_wrap": True}),
        ("Items", {"justify": "right"}),
        ("Failures", {"justify": "right"}),
        ("Last error", {"overflow": "fold", "ratio": 1}),
    ):
        table.add_column(name, **kw)
    for row in rows:
        state = row.state
        label, style = STATUS_TEXT[row.status]
        table.add_row(
            row.source.id,
            row.source.name,
            Text(label, style=style),
            _when(state.last_attempt_at, zone, "%Y-%m-%d %H:%M:%S"),
            _when(state.last_success_at, zone, "%Y-%m-%d %H:%M:%S"),
            str(row.item_count),
            str(state.consecutive_failures),
            state.last_error or "-",
        )
    return table


@dataclass(frozen=True)
class CheckResult:
    """``shwatch sources check``: what one live look at a list page showed."""

    source: Source
    seen: int
    problem: str | None = None
    newest_title: str | None = None
    newest_published: datetime | None = None
    final_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_table(results: Sequence[CheckResult], zone: tzinfo = SHANGHAI) -> Table:
    table = Table(title="Source check (live, nothing stored)")
    table.add_column("ID", no_wrap=True)
    table.add_column("Name", overflow="fold")
    table.add_column("Items", justify="right")
    table.add_column(f"Newest ({zone_label(zone)})", overflow="fold")
    table.add_column("Problem", overflow="fold")
    for r in results:
        newest = "-"
        if r.newest_title:
            newest = f"{_when(r.newest_published, zone)} {r.newest_title}"
        table.add_row(
            r.source.id,
            r.source.name,
            str(r.seen),
            newest,
            Text(r.problem, style="red") if r.problem else Text("ok", style="green"),
        )
    return table

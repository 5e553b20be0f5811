"""``shwatch match [--json] (TEXT | --file PATH)``: which topics and terms a text triggers.

The text goes through the same ``Tagger`` as polled items (the topics of the settings).
``--file -`` reads standard input. A file that cannot be read (missing, a directory, not
text) gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from config.model import Settings, Topic
from monitors.model import TopicMatch
from monitors.tagger import Tagger


class UnreadableText(Exception):
    """The text to match could not be read; the message says why, for a person."""


def read_text_file(file: str) -> str:
    """The file's text: UTF-8 (with or without BOM), else GB18030; ``-`` is stdin."""
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except FileNotFoundError:
        raise UnreadableText(f"{file}: no such file") from None
    except IsADirectoryError:
        raise UnreadableText(f"{file}: is a directory, not a text file") from None
    except OSError as exc:
        raise UnreadableText(f"{file}: cannot be read ({exc.strerror or exc})") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise UnreadableText(f"{file}: is not UTF-8 or GB18030 text")


def match_json(match: TopicMatch) -> str:
    return json.dumps({"topics": list(match.topics), "matched": match.matched}, ensure_ascii=False)


def render_match(match: TopicMatch, topics: tuple[Topic, ...]):
    """A rich renderable: one row per topic (id, Chinese / English name, terms found)."""
    from rich.table import Table
    from rich.text import Text

    if not match.topics:
        return Text("No topic matched (未匹配任何主题).", style="yellow")
    by_id = {t.id: t for t in topics}
    table = Table(title=f"{len(match.topics)} topic(s) matched / 匹配主题", title_justify="left")
    table.add_column("topic", style="bold cyan", no_wrap=True)
    table.add_column("name / 名称")
    table.add_column("terms / 关键词", style="green")
    for topic_id in match.topics:
        topic = by_id[topic_id]
        table.add_row(topic_id, f"{topic.name_zh}\n{topic.name_en}", ", ".join(match.matched[topic_id]))
    return table


async def cmd_match(settings: Settings, text: str | None, file: str | None, as_json: bool) -> int:
    if file is not None:
        try:
            text = read_text_file(file)
        except UnreadableText as exc:
            print(f"shwatch: match: {exc}", file=sys.stderr)
            return 2
    match = Tagger(settings.topics).tag("", text or "")
    if as_json:
        print(match_json(match))
    else:
        from rich.console import Console

        Console().print(render_match(match, settings.topics))
    return 0

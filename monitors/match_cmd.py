"""``shwatch match [--json] (TEXT | --file PATH)``: which topics a text is about, which it
only mentions, and the terms (and where they were found) that show it.

The text goes through the same ``Tagger`` as polled items (the topics and relevance rules of
the settings), as the body of an item without a title. ``--json`` prints one object with
exactly the keys ``topics``, ``mentions``, ``matched`` (topic id -> terms found, for topics
and mentions) and ``scores`` (topic id -> relevance 0-1, for topics and mentions).
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
from monitors.wording import counted


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
    shown = (*match.topics, *match.mentions)
    return json.dumps(
        {
            "topics": list(match.topics),
            "mentions": list(match.mentions),
            "matched": {t: match.terms(t) for t in shown},
            "scores": {t: match.scores[t] for t in shown},
        },
        ensure_ascii=False,
    )


def evidence_text(match: TopicMatch, topic_id: str) -> str:
    """``term (title, lead)`` for each term found, as shown to a person."""
    return ", ".join(f"{e.term} ({', '.join(e.places)})" for e in match.evidence[topic_id])


def render_match(match: TopicMatch, topics: tuple[Topic, ...]):
    """A rich renderable: one row per topic and per mention (id, names, relevance, terms and
    where they were found)."""
    from rich.table import Table
    from rich.text import Text

    if not match.topics and not match.mentions:
        return Text("No topic matched (未匹配任何主题).", style="yellow")
    by_id = {t.id: t for t in topics}
    table = Table(
        title=f"About {counted(len(match.topics), 'topic')}, mentions {len(match.mentions)} / "
        f"相关主题 {len(match.topics)} 个,提及 {len(match.mentions)} 个",
        title_justify="left",
    )
    table.add_column("topic", style="bold cyan", no_wrap=True)
    table.add_column("name / 名称")
    table.add_column("relevance / 相关度", justify="right")
    table.add_column("terms (where) / 关键词(位置)", style="green")
    for topic_id in match.topics:
        topic = by_id[topic_id]
        table.add_row(topic_id, f"{topic.name_zh}\n{topic.name_en}", f"{match.scores[topic_id]:.2f} about / 相关",
                      evidence_text(match, topic_id))
    for topic_id in match.mentions:
        topic = by_id[topic_id]
        table.add_row(topic_id, f"{topic.name_zh}\n{topic.name_en}", f"{match.scores[topic_id]:.2f} mention / 提及",
                      evidence_text(match, topic_id), style="dim")
    return table


async def cmd_match(settings: Settings, text: str | None, file: str | None, as_json: bool) -> int:
    if file is not None:
        try:
            text = read_text_file(file)
        except UnreadableText as exc:
            print(f"shwatch: match: {exc}", file=sys.stderr)
            return 2
    match = Tagger(settings.topics, rules=settings.relevance).tag("", text or "")
    if as_json:
        print(match_json(match))
    else:
        from rich.console import Console

        Console().print(render_match(match, settings.topics))
    return 0

"""Quality of the topic tagger on the hand-labelled evaluation set bench/data/tagging.jsonl.

Each passage (title + text, real text from the page in its ``url``) is labelled with the
fields it is *about* and the fields it only *mentions* (rules: bench/data/RULES.md). The
tagger's ``topics`` are the alerts it would send, so:

- per field: precision / recall / F1 of ``topics`` against ``about``;
- alert precision: the share of predicted topics that the passage is about (a topic the
  passage only mentions counts as wrong), alert recall: the share of ``about`` labels found;
- reference F1: ``topics`` + ``mentions`` against ``about`` + ``mentions`` (does the tagger
  see every field the passage refers to, whatever it makes of it).

The plan-level group (kind "plan") is not labelled and not scored.

Targets (issue "Relevance, not mentions"): alert precision >= 0.92, alert recall >= 0.92,
every field F1 >= 0.80. Exit code 1 when one is missed.

    .venv/bin/python bench/tagging.py [--data PATH] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import load_default_relevance, load_default_topics
from monitors.tagger import Tagger

DATA = Path(__file__).resolve().parent / "data" / "tagging.jsonl"
TARGET_PRECISION = 0.92
TARGET_RECALL = 0.92
TARGET_FIELD_F1 = 0.80


@dataclass(frozen=True)
class Passage:
    id: str
    url: str
    lang: str
    title: str
    text: str
    about: frozenset[str]
    mentions: frozenset[str]


@dataclass(frozen=True)
class Prediction:
    passage: Passage
    topics: frozenset[str]
    mentions: frozenset[str]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, predicted: frozenset[str], gold: frozenset[str]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)


@dataclass
class Evaluation:
    fields: tuple[str, ...]
    predictions: list[Prediction]
    per_field: dict[str, Counts] = field(default_factory=dict)
    alerts: Counts = field(default_factory=Counts)
    references: Counts = field(default_factory=Counts)
    mention_alerts: int = 0  # predicted topics the passage only mentions
    nofield_alerts: int = 0  # predicted topics on passages that touch no field

    @property
    def worst_field(self) -> tuple[str, float]:
        name = min(self.fields, key=lambda f: self.per_field[f].f1)
        return name, self.per_field[name].f1

    @property
    def passed(self) -> bool:
        return (
            self.alerts.precision >= TARGET_PRECISION
            and self.alerts.recall >= TARGET_RECALL
            and self.worst_field[1] >= TARGET_FIELD_F1
        )


def load_passages(path: Path = DATA) -> list[Passage]:
    passages = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        about, mentions = frozenset(row["about"]), frozenset(row["mentions"])
        if about & mentions:
            raise ValueError(f"{path}:{number}: {row['id']} has {sorted(about & mentions)} in both about and mentions")
        passages.append(
            Passage(row["id"], row["url"], row["lang"], row.get("title") or "", row["text"], about, mentions)
        )
    return passages


def predict(tagger: Tagger, passages: Iterable[Passage], fields: Sequence[str]) -> list[Prediction]:
    wanted = set(fields)
    out = []
    for passage in passages:
        match = tagger.tag(passage.title, passage.text)
        topics = frozenset(t for t in match.topics if t in wanted)
        mentions = frozenset(t for t in getattr(match, "mentions", ()) if t in wanted)
        out.append(Prediction(passage, topics, mentions))
    return out


def evaluate(tagger: Tagger, passages: Sequence[Passage]) -> Evaluation:
    fields = tuple(t.id for t in tagger.topics if t.kind == "field")
    result = Evaluation(fields, predict(tagger, passages, fields), {f: Counts() for f in fields})
    for p in result.predictions:
        gold = p.passage.about
        result.alerts.add(p.topics, gold)
        result.references.add(p.topics | p.mentions, gold | p.passage.mentions)
        result.mention_alerts += len(p.topics & p.passage.mentions)
        if not gold and not p.passage.mentions:
            result.nofield_alerts += len(p.topics)
        for f in fields:
            result.per_field[f].add(frozenset({f}) & p.topics, frozenset({f}) & gold)
    return result


def report(result: Evaluation, *, errors: bool = False) -> str:
    lines = [f"{'field':<22} {'about':>5} {'P':>6} {'R':>6} {'F1':>6}"]
    for f in result.fields:
        c = result.per_field[f]
        lines.append(f"{f:<22} {c.tp + c.fn:>5} {c.precision:>6.2f} {c.recall:>6.2f} {c.f1:>6.2f}")
    a, r = result.alerts, result.references
    n = len(result.predictions)
    lines.append(
        f"alerts: precision {a.precision:.3f} ({a.tp}/{a.tp + a.fp}), recall {a.recall:.3f} ({a.tp}/{a.tp + a.fn}), "
        f"F1 {a.f1:.3f}; wrong alerts: {result.mention_alerts} on a field only mentioned, "
        f"{result.nofield_alerts} on passages touching no field"
    )
    lines.append(f"references (topics+mentions vs about+mentions): P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f}")
    if errors:
        for p in result.predictions:
            wrong, missed = p.topics - p.passage.about, p.passage.about - p.topics
            if wrong or missed:
                lines.append(
                    f"  {p.passage.id}: wrong {sorted(wrong)} missed {sorted(missed)} "
                    f"(mentions predicted {sorted(p.mentions)}, labelled {sorted(p.passage.mentions)})"
                )
    worst, worst_f1 = result.worst_field
    lines.append(
        f"SUMMARY tagging: {n} passages, alert precision {a.precision:.3f}, recall {a.recall:.3f}, "
        f"lowest field F1 {worst_f1:.2f} ({worst}) (targets >= {TARGET_PRECISION}, >= {TARGET_RECALL}, "
        f">= {TARGET_FIELD_F1}): {'PASS' if result.passed else 'FAIL'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--errors", action="store_true", help="list every passage with a wrong or missed topic")
    args = parser.parse_args(argv)
    passages = load_passages(args.data)
    langs = {lang: sum(p.lang == lang for p in passages) for lang in ("zh", "en")}
    print(f"{args.data.name}: {len(passages)} passages ({langs['zh']} zh, {langs['en']} en), "
          f"{sum(not p.about and not p.mentions for p in passages)} touching no field")
    result = evaluate(Tagger(load_default_topics(), rules=load_default_relevance()), passages)
    print(report(result, errors=args.errors))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: reading list pages of unknown layout (the generic list detector).

    .venv/bin/python bench/lists.py [--rounds 30]

For each page of tests/fixtures/pages/generic (synthetic, in the shapes of the TRS, Hanweb,
ASP.NET, card, dt/dd and flat-link CMS families) and the real wsjkw list page from ../shared
(when present: its tree built and read by the detector alone, without the shared-CMS adapter that normally reads it), the time of ``parse_list`` on a source
without selectors (the lxml shared-CMS pass that finds nothing, the BeautifulSoup tree, the
shared-CMS adapter, then the detector) against the baseline of building the BeautifulSoup
tree alone, measured in the same run. The detector runs only on pages where the shared-CMS
adapter finds nothing, so the shared-CMS pages that most sources are (bench/poll.py) never
pay for it. Figures are the median of ``--rounds`` runs per page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bs4 import BeautifulSoup  # noqa: E402

from config.model import Source  # noqa: E402
from monitors.encoding import decode_html  # noqa: E402
from monitors.listdetect import detect_list  # noqa: E402
from monitors.parse import parse_list  # noqa: E402

GENERIC = REPO / "tests" / "fixtures" / "pages" / "generic"
REAL = REPO.parent / "shared" / "fixtures" / "wsjkw.sh.gov.cn" / "yqtb-list_2022-04-27.html"
BASE = "http://www.example.gov.cn/col/index.html"


def median_ms(action, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    source = Source(id="bench", name="bench", url=BASE)
    pages = sorted(p for p in GENERIC.glob("*-list.html"))
    print(f"{'page':32} {'items':>5} {'parse_list':>11} {'soup only':>10} {'ratio':>6}")
    ratios = []
    for path in pages:
        content = path.read_bytes()
        text = decode_html(content, None)
        items = len(parse_list(content, BASE, source))
        parsed = median_ms(lambda: parse_list(content, BASE, source), args.rounds)
        soup = median_ms(lambda: BeautifulSoup(text, "lxml"), args.rounds)
        ratios.append(parsed / soup)
        print(f"{path.name:32} {items:5d} {parsed:9.2f}ms {soup:8.2f}ms {parsed / soup:5.2f}x")
    if REAL.is_file():
        text = REAL.read_text("utf-8")
        tree = BeautifulSoup(text, "lxml")
        items = len(detect_list(tree, BASE))
        detected = median_ms(lambda: detect_list(BeautifulSoup(text, "lxml"), BASE), args.rounds)
        soup = median_ms(lambda: BeautifulSoup(text, "lxml"), args.rounds)
        ratios.append(detected / soup)
        print(f"{'real wsjkw list (tree+detector)':32} {items:5d} {detected:9.2f}ms {soup:8.2f}ms {detected / soup:5.2f}x")
    print(f"median ratio, reading a generic list page vs building its tree alone: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()

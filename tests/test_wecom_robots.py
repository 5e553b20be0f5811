"""Robots: the 20/min sliding window and the batching of alerts (pure, a number clock)."""

from __future__ import annotations

import pytest

from bot.text import utf8_len
from bot.wecom.robots import SendWindow, plan_batches


def test_window_allows_twenty_per_sliding_minute():
    w = SendWindow()
    for i in range(20):
        assert w.remaining(i * 0.5) == 20 - i
        w.record(i * 0.5)
    assert w.remaining(10.0) == 0
    assert w.free_at(10.0) == pytest.approx(60.0)  # the first send leaves the window at 0 + 60
    assert w.remaining(59.99) == 0
    assert w.remaining(60.0) == 1
    assert w.remaining(69.6) == 20


def test_window_block_until_after_a_130101():
    w = SendWindow()
    w.record(0.0)
    w.block_until(75.0)
    assert w.remaining(74.9) == 0
    assert w.free_at(10.0) == pytest.approx(75.0)
    assert w.remaining(75.0) == 20


def test_one_message_per_alert_while_the_window_has_room():
    pending = [(i, [f"**alert {i}**"]) for i in range(5)]
    batches, done = plan_batches(pending, budget=20)
    assert [b.content for b in batches] == [f"**alert {i}**" for i in range(5)]
    assert done == [0, 1, 2, 3, 4]


def test_alerts_are_batched_when_they_come_faster_than_the_window():
    pending = [(i, [f"**alert {i}** " + "内容" * 100]) for i in range(60)]  # ~620 bytes each
    batches, done = plan_batches(pending, budget=5)
    assert 1 < len(batches) <= 5
    assert all(utf8_len(b.content) <= 4096 for b in batches)
    assert done == list(range(len(done)))  # oldest first, none skipped
    assert sum(len(b.refs) for b in batches) == len(done) > 5
    for b in batches:  # each batch is its alerts joined by a blank line, nothing lost or cut
        assert b.content == "\n\n".join(f"**alert {i}** " + "内容" * 100 for i in b.refs)


def test_everything_eventually_goes_out_exactly_once():
    pending = [(i, [f"alert {i} " + "x" * 900]) for i in range(100)]
    sent: list[int] = []
    rounds = 0
    while pending:
        batches, done = plan_batches(pending, budget=20)
        assert batches and len(batches) <= 20
        sent.extend(done)
        pending = [p for p in pending if p[0] not in set(done)]
        rounds += 1
    assert sent == list(range(100)) and rounds <= 3


def test_a_long_alert_in_several_pieces_is_never_sent_in_part():
    big = ("big", ["a" * 4000, "b" * 4000, "c" * 4000])
    pending = [("small", ["s" * 100]), big]
    batches, done = plan_batches(pending, budget=2)
    assert done == ["small"]
    assert [b.refs for b in batches] == [("small",)]
    batches, done = plan_batches([big], budget=3)
    assert done == ["big"] and len(batches) == 3


def test_no_budget_no_batches():
    assert plan_batches([(1, ["x"])], budget=0) == ([], [])
    assert plan_batches([], budget=20) == ([], [])

"""The pure send scheduler, driven by a plain-number clock."""

from __future__ import annotations

from bot.channels.telegram.limits import RateLimits, SendScheduler


def drain(scheduler: SendScheduler, start: float, until: float, step: float = 0.001) -> list[tuple[float, object]]:
    """Take every chat the scheduler hands out between start and until; re-want nothing."""
    sends = []
    now = start
    while now <= until:
        chat = scheduler.take(now)
        if chat is not None:
            sends.append((now, chat))
            continue
        nxt = scheduler.next_at(now)
        if nxt is None:
            break
        now = max(now + step, nxt)
    return sends


def max_in_window(times: list[float], window: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_global_limit_is_30_per_second_across_many_chats():
    s = SendScheduler(RateLimits(smooth=False))
    for chat in range(100):
        s.want(chat)
    sends = drain(s, 0.0, 10.0)
    times = [t for t, _ in sends]
    assert len(sends) == 100
    assert max_in_window(times, 1.0) == 30
    # full speed: the 100 sends fit in a little over three seconds
    assert times[-1] <= 3.01
    assert sorted(c for _, c in sends) == list(range(100))


def test_one_chat_gets_one_message_per_second():
    s = SendScheduler(RateLimits())
    times = []
    now = 0.0
    for _ in range(5):
        s.want("a")
        while (chat := s.take(now)) is None:
            now = s.next_at(now)
        times.append(now)
    assert times == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_the_overall_window_counts_a_slow_send_from_its_answer():
    # Telegram counts a message when it arrives, somewhere between its send and its answer:
    # a send answered 0.4 s late may have arrived then, so the 31st send after it waits a
    # full second from the answer, and no second of arrivals can hold 31 messages
    s = SendScheduler(RateLimits(smooth=False))
    for chat in range(31):
        s.want(chat)
    first = [s.take(0.0) for _ in range(30)]
    assert first == list(range(30)) and s.take(0.0) is None
    s.finished(0, 0.4)  # the first send was slow on its way
    for chat in range(1, 30):
        s.finished(chat, 0.01)
    assert s.take(1.0) is None  # a second after the sends, but not after the slow one's answer
    assert s.next_at(1.0) == 1.4 and s.take(1.4) == 30


def test_a_chats_next_message_waits_a_full_interval_from_when_the_last_was_answered():
    s = SendScheduler(RateLimits())
    s.want("a")
    assert s.take(0.0) == "a"
    s.finished("a", 0.4)  # the request was slow on its way: answered 0.4 s after it was taken
    s.want("a")
    assert s.take(1.0) is None  # a second after the take, but only 0.6 s after the answer
    assert s.next_at(1.0) == 1.4 and s.take(1.4) == "a"
    s.finished("a", 1.41)
    s.finished("b", 2.0)  # a chat never taken: nothing to count
    s.want("b")
    assert s.take(1.5) == "b"


def test_margin_widens_every_window():
    s = SendScheduler(RateLimits(margin=0.05))
    s.want("a")
    assert s.take(0.0) == "a"
    s.want("a")
    assert s.take(1.0) is None
    assert s.next_at(1.0) == 1.05


def test_group_gets_at_most_20_per_minute():
    s = SendScheduler(RateLimits())
    times = []
    now = 0.0
    while now < 120:
        s.want(-100, group=True)
        chat = s.take(now)
        if chat is None:
            now = s.next_at(now)
            continue
        times.append(now)
    assert max_in_window(times, 60.0) == 20
    assert times[:20] == [float(i) for i in range(20)]
    assert times[20] == 60.0  # the 21st waits until the first leaves the minute


def test_private_chat_is_not_limited_per_minute():
    s = SendScheduler(RateLimits())
    now, count = 0.0, 0
    while now < 30:
        s.want(5)
        if s.take(now) is not None:
            count += 1
        now += 1.0
    assert count == 30


def test_blocked_chat_waits_while_others_continue():
    s = SendScheduler(RateLimits(smooth=False))
    s.block("flooded", 10.0)
    s.want("flooded")
    s.want("b")
    s.want("c")
    assert {s.take(0.0), s.take(0.0)} == {"b", "c"}
    assert s.take(0.0) is None
    assert s.next_at(0.0) == 10.0
    assert s.take(9.99) is None
    assert s.take(10.0) == "flooded"


def test_block_after_want_reorders_lazily():
    s = SendScheduler(RateLimits(smooth=False))
    s.want("x")
    s.want("y")
    s.block("x", 5.0)
    assert s.take(0.0) == "y"
    assert s.take(0.0) is None
    assert s.take(5.0) == "x"


def test_block_never_shortens_an_earlier_block():
    s = SendScheduler(RateLimits(smooth=False))
    s.block("a", 10.0)
    s.block("a", 3.0)
    assert s.blocked_until("a") == 10.0


def test_a_chat_is_handed_out_once_per_want():
    s = SendScheduler(RateLimits(smooth=False))
    s.want("a")
    s.want("a")
    assert s.take(0.0) == "a"
    assert s.take(100.0) is None
    assert s.next_at(100.0) is None
    assert s.waiting == 0


def test_ready_order_is_fifo_among_ready_chats():
    s = SendScheduler(RateLimits(smooth=False))
    for chat in ["c", "a", "b"]:
        s.want(chat)
    assert [s.take(0.0), s.take(0.0), s.take(0.0)] == ["c", "a", "b"]


def test_forget_removes_a_waiting_chat():
    s = SendScheduler(RateLimits(smooth=False))
    s.want("gone")
    s.want("stays")
    s.forget("gone")
    assert s.take(0.0) == "stays"
    assert s.take(0.0) is None


def test_prune_forgets_idle_chats_but_keeps_recent_group_history():
    s = SendScheduler(RateLimits(smooth=False))
    s.record("p", 0.0)
    s.record(-1, 0.0, group=True)
    s.prune(5.0)
    assert s.chat_ready_at("p") == 0.0
    assert -1 in s._chats  # its minute is not over yet
    s.prune(61.0)
    assert -1 not in s._chats


def test_smooth_rate_spaces_sends_evenly():
    s = SendScheduler(RateLimits(margin=0.03))
    for chat in range(90):
        s.want(chat)
    times = [t for t, _ in drain(s, 0.0, 10.0, step=0.0001)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1.03 / 30 - 1e-9
    assert max_in_window(times, 1.03) <= 30
    assert len(times) == 90 and times[-1] <= 89 * 1.03 / 30 + 0.01


def test_record_counts_sends_made_outside_take():
    s = SendScheduler(RateLimits(per_second=2, smooth=False))
    s.record("a", 0.0)
    s.record("b", 0.1)
    s.want("c")
    assert s.take(0.2) is None
    assert s.next_at(0.2) == 1.0
    assert s.take(1.0) == "c"


def test_fanout_of_3000_chats_keeps_every_limit_and_runs_at_full_speed():
    s = SendScheduler(RateLimits())
    for chat in range(3000):
        s.want(chat, group=chat % 10 == 0)
    sends = drain(s, 0.0, 200.0)
    times = [t for t, _ in sends]
    assert len({c for _, c in sends}) == 3000
    assert max_in_window(times, 1.0) <= 30
    assert times[-1] < 100.0


def test_urgent_reply_goes_ahead_of_a_fanout_but_keeps_its_chat_limit():
    s = SendScheduler(RateLimits(smooth=False))
    for chat in range(100):
        s.want(chat)
    for _ in range(30):
        assert s.take(0.0) is not None
    s.record("person", 0.5)
    s.want("person", urgent=True)
    # the global second is used up; at 1.0 the global slot is free but the person's chat is not
    assert s.take(1.0) not in (None, "person")
    assert s.take(1.5) == "person"


def test_want_urgent_upgrades_a_waiting_chat():
    s = SendScheduler(RateLimits(smooth=False))
    for chat in range(5):
        s.want(chat)
    s.want(4, urgent=True)
    assert s.take(0.0) == 4
    assert [s.take(0.0) for _ in range(4)] == [0, 1, 2, 3]
    assert s.take(0.0) is None


def test_a_blocked_urgent_chat_does_not_hold_up_ready_chats():
    s = SendScheduler(RateLimits(smooth=False))
    s.block("p", 3.0)
    s.want("p", urgent=True)
    s.want("q")
    assert s.take(0.0) == "q"
    assert s.next_at(0.0) == 3.0
    assert s.take(3.0) == "p"


def _late_drain(limits: RateLimits, n: int, late: float, stall_at: int, stall: float) -> list[float]:
    """Take n chats from a loop that always wakes ``late`` after the scheduler's time and
    stalls once for ``stall`` seconds (a claim being composed, say)."""
    s = SendScheduler(limits)
    for chat in range(n):
        s.want(chat)
    times: list[float] = []
    now = 0.0
    while len(times) < n:
        if s.take(now) is not None:
            times.append(now)
            if len(times) == stall_at:
                now += stall
            continue
        now = s.next_at(now) + late
    return times


def test_late_sends_are_made_up_but_no_window_ever_holds_more_than_the_limit():
    strict = RateLimits(margin=0.03)  # the spacing is the window: every late send is lost for good
    telegram = RateLimits.telegram()
    rate = lambda times: (len(times) - 1) / (times[-1] - times[0])  # noqa: E731
    slow = _late_drain(strict, 300, late=0.001, stall_at=100, stall=0.04)
    assert rate(slow) < 0.975 * (30 / 1.03)
    fast = _late_drain(telegram, 300, late=0.001, stall_at=100, stall=0.04)
    assert rate(fast) > 0.995 * (1 / telegram.spacing)  # the schedule was kept
    assert rate(fast) > 0.97 * 30
    # a stall longer than catch_up costs at most its excess
    stalled = _late_drain(telegram, 300, late=0.001, stall_at=100, stall=0.2)
    assert stalled[-1] - stalled[0] <= fast[-1] - fast[0] + 0.2 - telegram.catch_up + 1e-9
    window = telegram.second + telegram.margin
    for times in (slow, fast, stalled):
        assert len(times) == 300
    assert max_in_window(slow, 1.03) <= 30
    assert max_in_window(fast, window) <= 30 and max_in_window(stalled, window) <= 30

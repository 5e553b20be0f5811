"""The WeCom API client against the fake WeCom server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from bot.core.clock import FakeClock, seconds_to_next_minute
from bot.channels.wecom.api import WeComApi, WeComError, WeComTooFast
from fake_press import free_port
from fake_wecom import FakeWeCom

SECRET = "app-secret-do-not-log-0123456789"
ROBOT_KEY = "robot-key-do-not-log-42"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 6, 14, 8, 0, 12, tzinfo=timezone.utc))


@pytest.fixture
def wecom(clock):
    with FakeWeCom(secret=SECRET, robots={ROBOT_KEY: "ops"}, clock=lambda: clock.now().timestamp()) as fake:
        yield fake


class Sleeper:
    """An injected sleep that moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
async def api(wecom, clock):
    client = WeComApi(
        wecom.base_url, corp_id=wecom.corp_id, secret=SECRET, agent_id=wecom.agent_id,
        secrets=[ROBOT_KEY], clock=clock, sleep=Sleeper(clock),
    )
    yield client
    await client.aclose()


async def test_token_is_cached_until_it_nearly_expires(api, wecom, clock):
    await api.send_app_message("zhangsan", "**hello**")
    await api.send_app_message("lisi", "second", msgtype="text")
    assert wecom.token_requests == 1
    clock.advance(7200 - 301)  # still inside expires_in minus the margin
    await api.send_app_message("zhangsan", "third")
    assert wecom.token_requests == 1
    clock.advance(2)  # now within the 300 s margin: fetch a fresh one
    await api.send_app_message("zhangsan", "fourth")
    assert wecom.token_requests == 2
    sent = [(m.to, m.msgtype, m.content) for m in wecom.app_messages]
    assert sent == [("zhangsan", "markdown", "**hello**"), ("lisi", "text", "second"), ("zhangsan", "markdown", "third"), ("zhangsan", "markdown", "fourth")]


async def test_concurrent_senders_share_one_token_fetch(api, wecom):
    await asyncio.gather(*(api.send_app_message(f"u{i}", f"m{i}") for i in range(8)))
    assert wecom.token_requests == 1
    assert sorted(m.to for m in wecom.app_messages) == sorted(f"u{i}" for i in range(8))


@pytest.mark.parametrize("errcode", [40014, 42001, 40001])
async def test_rejected_token_is_refreshed_and_the_call_retried_once(api, wecom, errcode):
    await api.send_app_message("zhangsan", "before")
    wecom.invalidate_tokens(errcode)
    await api.send_app_message("zhangsan", "after")
    assert wecom.token_requests == 2
    assert wecom.errcodes("send") == [0, errcode, 0]
    assert [m.content for m in wecom.app_messages] == ["before", "after"]


async def test_token_refresh_is_retried_only_once(api, wecom):
    wecom.fail_next("send", 40014, times=2)
    with pytest.raises(WeComError) as info:
        await api.send_app_message("zhangsan", "x")
    assert info.value.errcode == 40014
    assert wecom.errcodes("send") == [40014, 40014]
    assert wecom.app_messages == []


async def test_errcode_in_a_200_answer_is_an_error(api, wecom):
    wecom.fail_next("send", 45009)  # api freq out of limit: try later
    with pytest.raises(WeComError) as info:
        await api.send_app_message("zhangsan", "x")
    assert info.value.errcode == 45009 and info.value.retryable
    wecom.fail_next("send", 81013)  # user, party and tag all invalid: permanent
    with pytest.raises(WeComError) as info:
        await api.send_app_message("nobody", "x")
    assert info.value.errcode == 81013 and not info.value.retryable
    assert wecom.app_messages == []


async def test_agentid_is_sent_as_an_integer(wecom, clock):
    # the fake answers 40056 unless agentid is the JSON integer of the app
    async with WeComApi(wecom.base_url, corp_id=wecom.corp_id, secret=SECRET, agent_id=str(wecom.agent_id), clock=clock) as api:  # type: ignore[arg-type]
        await api.send_app_message(["a", "b"], "hi")
    assert wecom.app_messages[0].to == "a|b"


async def test_wrong_secret_is_reported_without_the_secret(wecom, clock):
    wrong = "wrong-secret-never-shown-123"
    async with WeComApi(wecom.base_url, corp_id=wecom.corp_id, secret=wrong, agent_id=wecom.agent_id, clock=clock) as api:
        with pytest.raises(WeComError) as info:
            await api.send_app_message("zhangsan", "x")
    assert info.value.errcode == 40001
    assert wrong not in str(info.value)


async def test_size_limits_in_utf8_bytes(api, wecom):
    await api.send_app_message("u", "中" * 682, msgtype="text")  # 2046 bytes
    with pytest.raises(ValueError, match="2048"):
        await api.send_app_message("u", "中" * 683, msgtype="text")  # 2049 bytes
    await api.send_robot(wecom.robot_url(ROBOT_KEY), "字" * 1365)  # 4095 bytes of markdown
    with pytest.raises(ValueError, match="4096"):
        await api.send_robot(wecom.robot_url(ROBOT_KEY), "字" * 1366)
    assert len(wecom.app_messages) == 1 and len(wecom.robot_messages()) == 1


async def test_robot_too_fast_waits_for_the_next_minute_and_retries(api, wecom, clock):
    wecom.fail_next("webhook", 130101)
    await api.send_robot(wecom.robot_url(ROBOT_KEY), "**alert**")
    assert api.sleep.waits == [pytest.approx(49.0)]  # 08:00:12 -> 08:01:00, plus a 1 s margin
    assert clock.now().minute == 1
    assert [m.content for m in wecom.robot_messages(ROBOT_KEY)] == ["**alert**"]
    assert wecom.errcodes("webhook") == [130101, 0]


async def test_robot_too_fast_gives_up_after_bounded_retries(api, wecom):
    wecom.fail_next("webhook", 130101, times=5)
    with pytest.raises(WeComTooFast) as info:
        await api.send_robot(wecom.robot_url(ROBOT_KEY), "x")
    assert info.value.retryable and info.value.retry_after is not None
    assert len(api.sleep.waits) == api.too_fast_retries


async def test_robot_errors_never_show_the_key(api, wecom):
    with pytest.raises(WeComError) as info:
        await api.send_robot(wecom.robot_url("unknown-key-zz"), "x")
    assert info.value.errcode == 93000
    dead = f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    with pytest.raises(WeComError) as info:
        await api.send_robot(dead, "x")
    assert info.value.errcode is None and info.value.retryable
    assert ROBOT_KEY not in str(info.value)


async def test_fake_enforces_the_robot_window(api, wecom, clock):
    url = wecom.robot_url(ROBOT_KEY)
    for i in range(20):
        await api.send_robot(url, f"m{i}")
    api.too_fast_retries = 0
    with pytest.raises(WeComTooFast):
        await api.send_robot(url, "m20")
    assert len(wecom.violations) == 1
    clock.advance(60)
    await api.send_robot(url, "m20")
    assert len(wecom.robot_messages(ROBOT_KEY)) == 21


def test_seconds_to_next_minute():
    assert seconds_to_next_minute(datetime(2026, 1, 1, 0, 0, 59, 500000, tzinfo=timezone.utc), offset=0) == pytest.approx(0.5)
    assert seconds_to_next_minute(datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc), offset=1) == 61


@pytest.mark.parametrize("body", [{}, {"errmsg": "ok"}, {"errcode": "oops"}, {"errcode": None}])
async def test_an_answer_without_errcode_zero_is_not_a_success(api, wecom, body):
    """HTTP 200 with JSON is not enough: only errcode 0 means WeCom took the message."""
    wecom.answer_next("webhook", body)
    with pytest.raises(WeComError) as info:
        await api.send_robot(wecom.robot_url(ROBOT_KEY), "x")
    assert info.value.errcode is not None and not info.value.retryable
    await api.send_app_message("zhangsan", "token first")
    wecom.answer_next("send", body)
    with pytest.raises(WeComError):
        await api.send_app_message("zhangsan", "y")
    wecom.answer_next("gettoken", {"access_token": "no-errcode"})
    api.drop_token()
    with pytest.raises(WeComError):
        await api.access_token()
    assert wecom.robot_messages() == [] and [m.content for m in wecom.app_messages] == ["token first"]


async def test_a_gateway_error_page_is_retryable(api, wecom):
    wecom.answer_next("webhook", {"message": "bad gateway"}, status=502)
    with pytest.raises(WeComError) as info:
        await api.send_robot(wecom.robot_url(ROBOT_KEY), "x")
    assert info.value.errcode is None and info.value.retryable

"""The callback server with real AES-256-CBC: verification, receipt, rejections, replays.

Message handling through the command core is covered at the end of this file and in
tests/test_wecom_e2e.py; here a recording handler sees what the server lets through.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx
import pytest
import sqlalchemy as sa
from fake_wecom import FakeWeCom, callback_post, inner_xml, markdown_problems
from sqlalchemy import select

from bot.channels.wecom.api import WeComApi
from bot.channels.wecom.callback import CallbackServer, InboundMessage, parse_inner
from bot.channels.wecom.channel import WeComAppChannel
from bot.channels.wecom.crypto import WeComCrypto
from bot.commands.core import CommandCore
from bot.core.clock import FakeClock
from bot.core.i18n import t
from bot.delivery.compose import DeliveryComposer
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.inbound import InboundLog
from bot.store.outbox import Outbox
from bot.store.schema import deliveries, inbound_messages
from config.model import Secret, Settings, Source, WeComSettings
from config.settings import load_default_topics
from monitors.model import Item
from monitors.store import ItemStore

TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AGENT = 1000002
NOW = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)
TS = int(NOW.timestamp())


class Recorder:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def __call__(self, message: InboundMessage) -> None:
        self.messages.append(message)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(engine, crypto, clock):
    recorder = Recorder()
    srv = CallbackServer(crypto, recorder, InboundLog(engine, "wecom"), host="127.0.0.1", port=0, path="/wecom/callback", agent_id=AGENT, clock=clock)
    await srv.start()
    srv.recorder = recorder
    srv.url = f"http://127.0.0.1:{srv.bound_port}/wecom/callback"
    yield srv
    await srv.stop()


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def text(content: str, msg_id: str = "1001", user: str = "zhangsan") -> str:
    return inner_xml(CORP_ID, user, content, msg_id, TS, AGENT)


async def post(http, server, crypto, plaintext: str, *, ts: int = TS, **kw) -> httpx.Response:
    params, body = callback_post(crypto, plaintext, ts, agent_id=AGENT)
    params.update(kw)
    return await http.post(server.url, params=params, content=body)


async def test_url_verification_with_the_official_vector(engine, crypto, http):
    clock = FakeClock(datetime.fromtimestamp(1409659589, timezone.utc))
    srv = CallbackServer(crypto, Recorder(), InboundLog(engine, "wecom"), host="127.0.0.1", port=0, clock=clock)
    await srv.start()
    try:
        params = {
            "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "timestamp": "1409659589",
            "nonce": "263014780",
            "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
        }
        url = f"http://127.0.0.1:{srv.bound_port}/wecom/callback"
        answer = await http.get(url, params=params)
        assert answer.status_code == 200 and answer.text == "1616140317555161061"
        bad = await http.get(url, params={**params, "msg_signature": "0" * 40})
        assert bad.status_code == 403 and bad.content == b""
    finally:
        await srv.stop()


async def test_verification_with_an_unescaped_plus_in_the_query(engine, crypto, http):
    """The official echostr contains "+"; sent raw (not %2B) a query parser reads it as a space."""
    clock = FakeClock(datetime.fromtimestamp(1409659589, timezone.utc))
    srv = CallbackServer(crypto, Recorder(), InboundLog(engine, "wecom"), host="127.0.0.1", port=0, clock=clock)
    await srv.start()
    try:
        echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
        raw_query = f"msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr={echostr}"
        answer = await http.get(f"http://127.0.0.1:{srv.bound_port}/wecom/callback?{raw_query}")
        assert answer.status_code == 200 and answer.text == "1616140317555161061"
    finally:
        await srv.stop()


async def test_verification_round_trip_and_stale_timestamp(server, http, crypto):
    echostr, sig = crypto.seal("echo-42", str(TS), "n1")
    ok = await http.get(server.url, params={"msg_signature": sig, "timestamp": str(TS), "nonce": "n1", "echostr": echostr})
    assert ok.text == "echo-42"
    old = TS - 301
    echostr, sig = crypto.seal("echo-42", str(old), "n1")
    stale = await http.get(server.url, params={"msg_signature": sig, "timestamp": str(old), "nonce": "n1", "echostr": echostr})
    assert stale.status_code == 403 and stale.content == b""


async def test_text_message_is_acknowledged_empty_and_handled(server, http, crypto):
    answer = await post(http, server, crypto, text("订阅 在线教育"))
    assert answer.status_code == 200 and answer.content == b""
    await server.drain()
    [message] = server.recorder.messages
    assert (message.from_user, message.msg_type, message.content, message.msg_id) == ("zhangsan", "text", "订阅 在线教育", "1001")
    assert message.create_time == TS


async def test_replayed_msgid_is_handled_once(server, http, crypto):
    for _ in range(3):  # WeCom retries up to three times
        answer = await post(http, server, crypto, text("/help", msg_id="777"))
        assert answer.status_code == 200
    await post(http, server, crypto, text("/help", msg_id="778"))
    await server.drain()
    assert [m.msg_id for m in server.recorder.messages] == ["777", "778"]


async def test_bad_signature_is_a_bare_403(server, http, crypto):
    answer = await post(http, server, crypto, text("/help"), msg_signature="a" * 40)
    assert answer.status_code == 403 and answer.content == b""
    params, body = callback_post(crypto, text("/help"), TS)
    answer = await http.post(server.url, params={**params, "nonce": "other"}, content=body)  # signature over another nonce
    assert answer.status_code == 403 and answer.content == b""
    await server.drain()
    assert server.recorder.messages == []


@pytest.mark.parametrize("offset", [-301, 301, -3600])
async def test_stale_or_future_timestamp_is_a_bare_403(server, http, crypto, offset):
    answer = await post(http, server, crypto, text("/help"), ts=TS + offset)
    assert answer.status_code == 403 and answer.content == b""
    await server.drain()
    assert server.recorder.messages == []


async def test_timestamp_within_five_minutes_is_accepted(server, http, crypto):
    answer = await post(http, server, crypto, text("/help"), ts=TS - 299)
    assert answer.status_code == 200
    await server.drain()
    assert len(server.recorder.messages) == 1


async def test_wrong_corp_id_is_a_bare_403(server, http):
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")  # same token and key, another corp
    params, body = callback_post(other, inner_xml("ww0000000000000000", "x", "/help", "9", TS, AGENT), TS)
    answer = await http.post(server.url, params=params, content=body)
    assert answer.status_code == 403 and answer.content == b""
    await server.drain()
    assert server.recorder.messages == []


async def test_other_agent_is_a_bare_403(server, http, crypto):
    answer = await post(http, server, crypto, inner_xml(CORP_ID, "x", "/help", "9", TS, 999))
    assert answer.status_code == 403 and answer.content == b""


async def test_oversized_body_is_a_bare_413(server, http, crypto):
    params, body = callback_post(crypto, text("x" * 70_000), TS)
    assert len(body) > 64 * 1024
    answer = await http.post(server.url, params=params, content=body)
    assert answer.status_code == 413 and answer.content == b""

    async def chunks():  # no Content-Length: the server still stops at 64 KB
        for _ in range(20):
            yield b"<" * 8192

    answer = await http.post(server.url, params=params, content=chunks())
    assert answer.status_code == 413 and answer.content == b""
    await server.drain()
    assert server.recorder.messages == []


@pytest.mark.parametrize(
    "params,body",
    [
        ({}, b"<xml/>"),
        ({"msg_signature": "x", "timestamp": str(TS)}, b"<xml/>"),
        ({"msg_signature": "x", "timestamp": "soon", "nonce": "1"}, b"<xml/>"),
        ({"msg_signature": "x", "timestamp": str(TS), "nonce": "1"}, b"not xml at all"),
        ({"msg_signature": "x", "timestamp": str(TS), "nonce": "1"}, b"<xml><ToUserName>a</ToUserName></xml>"),
        ({"msg_signature": "x", "timestamp": str(TS), "nonce": "1"}, b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'),
    ],
)
async def test_malformed_requests_get_a_bare_400(server, http, params, body):
    answer = await http.post(server.url, params=params, content=body)
    assert answer.status_code == 400 and answer.content == b""


async def test_tampered_ciphertext_is_rejected(server, http, crypto):
    params, body = callback_post(crypto, text("/help"), TS)
    tampered = body.replace(b"<![CDATA[", b"<![CDATA[AAAA", 2)  # breaks the Encrypt (and signature)
    answer = await http.post(server.url, params=params, content=tampered)
    assert answer.status_code in (400, 403) and answer.content == b""


def test_parse_inner_non_text_and_event():
    image = parse_inner(inner_xml(CORP_ID, "u1", None, "55", TS, AGENT, msg_type="image").encode())
    assert (image.msg_type, image.content, image.msg_id) == ("image", "", "55")
    event = parse_inner(
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>u1</FromUserName><CreateTime>{TS}</CreateTime>"
        f"<MsgType>event</MsgType><Event>enter_agent</Event><AgentID>{AGENT}</AgentID></xml>".encode()
    )
    assert event.msg_type == "event" and event.content == "enter_agent" and event.msg_id.startswith("ev-")


async def test_handler_failure_does_not_break_the_server(engine, crypto, clock, http):
    async def boom(message):
        raise RuntimeError("handler bug")

    srv = CallbackServer(crypto, boom, InboundLog(engine, "wecom"), host="127.0.0.1", port=0, clock=clock)
    await srv.start()
    try:
        url = f"http://127.0.0.1:{srv.bound_port}/wecom/callback"
        for i in range(2):
            params, body = callback_post(crypto, text("/help", msg_id=f"b{i}"), TS)
            answer = await http.post(url, params=params, content=body)
            assert answer.status_code == 200
        await srv.drain()
        echostr, sig = crypto.seal("still-up", str(TS), "n")
        answer = await http.get(url, params={"msg_signature": sig, "timestamp": str(TS), "nonce": "n", "echostr": echostr})
        assert answer.text == "still-up"
    finally:
        await srv.stop()


async def test_acknowledged_before_the_message_is_handled(engine, crypto, clock, http):
    """WeCom wants an answer within 5 s: the 200 must not wait for the command and its reply.
    Here the handler cannot finish until the test has the answer in hand; a server that
    awaited the handler first would never answer (and the bounded client timeout fails it)."""
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def slow(message):
        started.append(message.msg_id)
        await release.wait()
        finished.append(message.msg_id)

    srv = CallbackServer(crypto, slow, InboundLog(engine, "wecom"), host="127.0.0.1", port=0, clock=clock)
    await srv.start()
    try:
        params, body = callback_post(crypto, text("/latest 20", msg_id="slow-1"), TS)
        answer = await http.post(f"http://127.0.0.1:{srv.bound_port}/wecom/callback", params=params, content=body, timeout=5)
        assert answer.status_code == 200 and answer.content == b""
        assert finished == []
        release.set()
        await srv.drain()
        assert started == finished == ["slow-1"]
    finally:
        release.set()
        await srv.stop()


async def test_outer_corp_id_right_but_ciphertext_for_another_corp_is_a_bare_403(server, http):
    """ToUserName can be copied; the corp id sealed inside the ciphertext is what counts."""
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    encrypt, sig = other.seal(text("/help", msg_id="x1"), str(TS), "n1")
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>{AGENT}</AgentID></xml>"
    answer = await http.post(server.url, params={"msg_signature": sig, "timestamp": str(TS), "nonce": "n1"}, content=body.encode())
    assert answer.status_code == 403 and answer.content == b""
    echostr, sig = other.seal("echo", str(TS), "n2")  # the same for URL verification
    answer = await http.get(server.url, params={"msg_signature": sig, "timestamp": str(TS), "nonce": "n2", "echostr": echostr})
    assert answer.status_code == 403 and answer.content == b""
    await server.drain()
    assert server.recorder.messages == []


async def test_rejections_never_echo_the_request(server, http, crypto, caplog):
    """A rejected caller learns nothing but the status; the log says why, without secrets."""
    caplog.set_level("WARNING", logger="shwatch.wecom.callback")
    answer = await post(http, server, crypto, text("/help"), msg_signature="b" * 40)
    assert answer.status_code == 403 and answer.content == b""
    assert "text/html" not in answer.headers.get("content-type", "")
    assert "bad signature" in caplog.text
    for secret in (AES_KEY, TOKEN):
        assert secret not in caplog.text


# ---- the app's delivery worker (outbox channel "wecom") against the fake WeCom API ----------


APP_SECRET = "app-secret-never-logged-42"


def app_settings(fake: FakeWeCom, **extra) -> Settings:
    source = Source("xwfb", "上海发布", "https://www.example.invalid/xwfb/index.html")
    wecom = WeComSettings(
        corp_id=CORP_ID, agent_id=AGENT, secret=Secret(APP_SECRET), token=Secret(TOKEN), encoding_aes_key=Secret(AES_KEY),
        api_base_url=fake.base_url, host="127.0.0.1", port=0, **extra,
    )
    return Settings(database_url="sqlite://", topics=load_default_topics(), wecom=wecom, sources=(source,))


@pytest.fixture
def app_wecom(clock):
    with FakeWeCom(corp_id=CORP_ID, secret=APP_SECRET, agent_id=AGENT, clock=lambda: clock.now().timestamp()) as fake:
        yield fake


@pytest.fixture
async def app(engine, app_wecom, clock):
    api = WeComApi(app_wecom.base_url, corp_id=CORP_ID, secret=APP_SECRET, agent_id=AGENT, clock=clock)
    store = ChatStore(engine, clock)
    outbox = Outbox(engine, clock)
    settings = app_settings(app_wecom)
    channel = WeComAppChannel(settings, InboundLog(engine, "wecom"), None, outbox, DeliveryComposer(ItemStore(engine), settings), api, chats=store, clock=clock)
    channel.store = store
    yield channel
    await api.aclose()


async def enqueue_alert(engine, app, userid: str, title: str) -> int:
    chat = await app.store.get_or_create("wecom", userid, "private", lang="zh")
    [item] = await ItemStore(engine).insert_items(
        [Item("xwfb", f"https://www.example.invalid/{title}.html", title, NOW, summary="工业互联网平台建设。", first_seen_at=NOW)]
    )
    await app.worker.outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": str(item.id), "item_id": item.id, "payload": {"keywords": ["工业互联网"]}}])
    async with engine.connect() as conn:
        return (await conn.execute(select(deliveries.c.id).where(deliveries.c.item_id == item.id))).scalar_one()


async def test_app_delivers_alerts_as_markdown(engine, app, app_wecom):
    delivery_id = await enqueue_alert(engine, app, "zhangsan", "工业互联网新政发布")
    assert await app.worker.run_once()
    [message] = app_wecom.messages_to("zhangsan")
    assert message.msgtype == "markdown" and "**工业互联网**" in message.content and "工业互联网新政发布" in message.content
    assert (await app.worker.outbox.get(delivery_id)).status == "sent"


async def test_app_busy_errcode_is_retried_later(engine, app, app_wecom, clock):
    delivery_id = await enqueue_alert(engine, app, "zhangsan", "忙碌重试")
    app_wecom.fail_next("send", 45009)
    await app.worker.run_once()
    row = await app.worker.outbox.get(delivery_id)
    assert row.status == "pending" and row.attempts == 1 and "45009" in row.last_error and row.not_before > clock.now()
    await app.worker.run_once()
    assert app_wecom.messages_to("zhangsan") == []  # not due yet
    clock.advance(600)
    await app.worker.run_once()
    assert len(app_wecom.messages_to("zhangsan")) == 1 and (await app.worker.outbox.get(delivery_id)).status == "sent"


async def test_app_member_gone_deactivates_the_chat(engine, app, app_wecom):
    delivery_id = await enqueue_alert(engine, app, "left-the-company", "人员离职")
    app_wecom.fail_next("send", 81013)
    await app.worker.run_once()
    assert (await app.worker.outbox.get(delivery_id)).status == "dropped"
    assert not (await app.store.get("wecom", "left-the-company")).active


async def test_app_token_refresh_during_delivery(engine, app, app_wecom):
    first = await enqueue_alert(engine, app, "zhangsan", "第一条")
    await app.worker.run_once()
    app_wecom.invalidate_tokens(42001)
    second = await enqueue_alert(engine, app, "zhangsan", "第二条")
    await app.worker.run_once()
    assert [(await app.worker.outbox.get(i)).status for i in (first, second)] == ["sent", "sent"]
    assert app_wecom.token_requests == 2 and len(app_wecom.messages_to("zhangsan")) == 2


async def test_alerts_held_by_quiet_hours_arrive_together_in_one_message(engine, app, app_wecom, clock):
    chat = await app.store.get_or_create("wecom", "nightowl", "private", lang="zh")
    await app.store.set_quiet(chat.id, "16:00", "18:00")  # NOW is 17:00 in Shanghai
    ids = [await enqueue_alert(engine, app, "nightowl", f"夜间通知{i}") for i in range(4)]
    assert await app.worker.run_once() == []  # all held: nothing due
    assert app_wecom.messages_to("nightowl") == []
    clock.advance(hours=1, minutes=1)  # 18:01: the window is over
    assert await app.worker.run_once()
    [message] = app_wecom.messages_to("nightowl")
    assert message.content.startswith(t("quiet.held", "zh", count=4))
    assert [message.content.index(f"**夜间通知{i}**") for i in range(4)] == sorted(message.content.index(f"**夜间通知{i}**") for i in range(4))
    assert markdown_problems(message.content) == [], message.content
    assert [(await app.worker.outbox.get(i)).status for i in ids] == ["sent"] * 4


async def test_one_members_alerts_leave_in_order(engine, app, app_wecom):
    for i in range(6):
        await enqueue_alert(engine, app, "reader", f"顺序{i}")
    await app.worker.run_once()
    sent = [m.content for m in app_wecom.messages_to("reader")]
    assert [next(i for i in range(6) if f"顺序{i}" in c) for c in sent] == list(range(6))


# ---- members' commands: encrypted callback -> CommandCore -> reply via message/send ---------


class Member:
    """A WeCom member talking to the app through the running callback server."""

    def __init__(self, http, url, crypto, clock, userid):
        self.http, self.url, self.crypto, self.clock, self.userid = http, url, crypto, clock, userid
        self.n = 0

    async def say(self, content: str | None, msg_type: str = "text", msg_id: str | None = None) -> httpx.Response:
        self.n += 1
        ts = int(self.clock.now().timestamp())
        xml = inner_xml(CORP_ID, self.userid, content, msg_id or f"{self.userid}-{self.n}", ts, AGENT, msg_type=msg_type)
        params, body = callback_post(self.crypto, xml, ts, agent_id=AGENT)
        return await self.http.post(self.url, params=params, content=body)


@pytest.fixture
async def running_app(engine, app_wecom, clock, crypto, http):
    settings = app_settings(app_wecom, admin_users=("boss",))
    api = WeComApi(app_wecom.base_url, corp_id=CORP_ID, secret=APP_SECRET, agent_id=AGENT, clock=clock)
    store = ChatStore(engine, clock)
    digest_requests: list[str] = []

    async def digest_now(chat):  # the service wires the digest job here
        digest_requests.append(chat.address)

    outbox = Outbox(engine, clock)
    core = CommandCore(settings, clock, chats=store, items=ItemStore(engine), outbox=outbox,
                       dispatched=DispatchLog(engine, outbox), digest_now=digest_now)
    channel = WeComAppChannel(settings, InboundLog(engine, "wecom"), core, outbox, DeliveryComposer(ItemStore(engine), settings), api, chats=store, clock=clock)
    channel.digest_requests = digest_requests
    await channel.start()
    channel.store = store
    channel.url = f"http://127.0.0.1:{channel.port}/wecom/callback"
    yield channel
    await channel.stop()
    await api.aclose()


async def converse(app, member, wecom, text: str, msg_type: str = "text") -> str:
    before = len(wecom.messages_to(member.userid))
    answer = await member.say(text, msg_type=msg_type)
    assert answer.status_code == 200 and answer.content == b""
    await app.server.drain()
    replies = wecom.messages_to(member.userid)[before:]
    assert replies, f"no reply to {text!r}"
    return "\n".join(m.content for m in replies)


COMMANDS = [
    # (alias, slash): every command a member can send, in the order of a conversation
    ("帮助", "/help"),
    ("开始", "/start"),
    ("领域", "/topics"),
    ("订阅 在线教育", "/subscribe online_education"),
    ("退订 全部", "/unsubscribe all"),
    ("关键词 添加 工业互联网", "/alert add 工业互联网"),
    ("关键词", "/alerts"),
    ("最新 3", "/latest 3"),
    ("来源", "/sources"),
    ("关键词 删除 工业互联网", "/alert del 工业互联网"),
    ("摘要 08:30", "/digest 08:30"),
    ("摘要 关", "/digest off"),
    ("摘要 开", "/digest on"),
    ("摘要 现在", "/digest now"),
    ("模式 两者", "/mode both"),
    ("免打扰 22:00-07:30", "/quiet 22:00-07:30"),
    ("免打扰 关", "/quiet off"),
    ("时区 Asia/Tokyo", "/tz Asia/Tokyo"),
    ("统计", "/stats"),
    ("健康", "/health"),
    ("语言 English", "/lang en"),
    ("帮助", "/help"),
    ("停止", "/stop"),
]


@pytest.mark.parametrize("form", ["alias", "slash"])
async def test_every_command_in_alias_and_slash_form(running_app, app_wecom, http, crypto, clock, engine, form):
    """Each command through the encrypted callback: the reply (read through message/send)
    says what happened in the member's language, and the store changed accordingly."""
    app, wecom = running_app, app_wecom
    await ItemStore(engine).insert_items(
        [Item("xwfb", "https://www.example.invalid/latest.html", "工业互联网新政发布", NOW, summary="工业互联网平台建设。", first_seen_at=NOW)]
    )
    member = Member(http, app.url, crypto, clock, f"user-{form}")
    pick = 0 if form == "alias" else 1
    replies = {}
    for pair in COMMANDS:
        text = pair[pick]
        replies[pair[1] if pair[1] not in replies else pair[1] + " (en)"] = await converse(app, member, wecom, text)
    chat_gone = await app.store.get("wecom", member.userid)
    r = replies
    assert "/subscribe" in r["/help"] and "订阅 在线教育" in r["/help"] and t("help.title", "zh") in r["/help"]
    assert t("start.welcome", "zh") in r["/start"]
    assert "`online_education` 在线教育" in r["/topics"] and "订阅 在线教育" in r["/topics"]  # no buttons: says what to send
    assert "在线教育" in r["/subscribe online_education"] and t("sub.now", "zh", count=1) in r["/subscribe online_education"]
    assert t("sub.now", "zh", count=0) in r["/unsubscribe all"]
    assert t("alert.added", "zh", keyword="工业互联网") in r["/alert add 工业互联网"]
    assert "工业互联网" in r["/alerts"] and t("alert.list_title", "zh", count=1, limit=50) in r["/alerts"]
    assert t("alert.deleted", "zh", keyword="工业互联网") in r["/alert del 工业互联网"]
    assert t("digest.on", "zh", time="08:30", tz="Asia/Shanghai") in r["/digest 08:30"]
    assert t("digest.off", "zh") in r["/digest off"]
    assert t("digest.on", "zh", time="08:30", tz="Asia/Shanghai") in r["/digest on"]
    assert t("digest.now", "zh") in r["/digest now"] and app.digest_requests[-1] == member.userid
    assert t("mode.set_both", "zh", time="08:30", tz="Asia/Shanghai") in r["/mode both"]
    assert "22:00-07:30" in r["/quiet 22:00-07:30"]
    assert t("quiet.off", "zh") in r["/quiet off"]
    assert t("tz.set", "zh", tz="Asia/Tokyo") in r["/tz Asia/Tokyo"]
    assert t("latest.title", "zh", count=1) in r["/latest 3"] and "**工业互联网新政发布**" in r["/latest 3"]
    assert t("sources.title", "zh", count=1) in r["/sources"] and "上海发布" in r["/sources"]
    assert t("refuse.admin", "zh", command="/stats") == r["/stats"]  # not an admin
    assert t("refuse.admin", "zh", command="/health") == r["/health"]
    assert t("lang.set", "en") in r["/lang en"]
    assert t("help.title", "en") in r["/help (en)"]  # from now on in English
    assert r["/stop"].startswith("Stopped:") and chat_gone is None
    for m in wecom.messages_to(member.userid):
        assert m.msgtype == "markdown" and markdown_problems(m.content) == [], m.content


async def test_settings_reach_the_store(running_app, app_wecom, http, crypto, clock):
    member = Member(http, running_app.url, crypto, clock, "settings-user")
    store = running_app.store
    steps = [
        ("订阅 在线教育 工业互联网", lambda c: c.topics == {"online_education", "industrial_internet"}),
        ("退订 在线教育", lambda c: c.topics == {"industrial_internet"}),
        ('关键词 添加 "数字 孪生" -exclude 游戏', lambda c: [(r.keyword, r.excludes) for r in c.rules] == [("数字 孪生", ("游戏",))]),
        ("关键词 删除 数字 孪生", lambda c: c.rules == ()),
        ("模式 摘要", lambda c: c.mode == "digest"),
        ("摘要 07:45", lambda c: (c.digest_enabled, c.digest_time) == (True, "07:45")),
        ("免打扰 23:00-06:00", lambda c: (c.quiet_start, c.quiet_end) == ("23:00", "06:00")),
        ("免打扰 关", lambda c: (c.quiet_start, c.quiet_end) == (None, None)),
        ("时区 Europe/London", lambda c: c.tz == "Europe/London"),
        ("语言 English", lambda c: c.lang == "en"),
        ("/lang zh", lambda c: c.lang == "zh"),
    ]
    for text, ok in steps:
        await converse(running_app, member, app_wecom, text)
        chat = await store.get("wecom", member.userid)
        assert ok(chat), (text, chat)
    assert chat.kind == "private" and chat.channel == "wecom"


async def test_bad_input_gets_a_clear_answer(running_app, app_wecom, http, crypto, clock):
    member = Member(http, running_app.url, crypto, clock, "lisi")
    reply = await converse(running_app, member, app_wecom, "关键词 添加 " + "长" * 51)
    assert "50" in reply
    reply = await converse(running_app, member, app_wecom, "订阅 不存在的领域")
    assert "不存在的领域" in reply
    reply = await converse(running_app, member, app_wecom, '关键词 添加 "没有结束的引号')
    assert "引号" in reply
    reply = await converse(running_app, member, app_wecom, "摘要 25:00")
    assert "25:00" in reply and "HH:MM" in reply
    reply = await converse(running_app, member, app_wecom, "随便说点什么")
    assert "帮助" in reply or "/help" in reply
    assert (await running_app.store.get("wecom", "lisi")).rules == ()
    assert (await running_app.store.get("wecom", "lisi")).topics == frozenset()


async def test_non_text_message_gets_a_hint_in_the_members_language(running_app, app_wecom, http, crypto, clock):
    member = Member(http, running_app.url, crypto, clock, "wangwu")
    reply = await converse(running_app, member, app_wecom, None, msg_type="image")  # never met: Chinese
    assert reply == t("hint.non_text", "zh")
    assert app_wecom.messages_to("wangwu")[-1].msgtype == "text"
    await converse(running_app, member, app_wecom, "语言 English")
    reply = await converse(running_app, member, app_wecom, None, msg_type="voice")
    assert reply == t("hint.non_text", "en")


async def test_events_greet_a_new_member_and_are_otherwise_silent(running_app, app_wecom, http, crypto, clock):
    def event(name: str, user: str) -> str:
        ts = int(clock.now().timestamp())
        return (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>"
            f"<AgentID>{AGENT}</AgentID></xml>"
        )

    for name in ("enter_agent", "subscribe", "subscribe"):  # the second subscribe is WeCom's retry
        ts = int(clock.now().timestamp())
        params, body = callback_post(crypto, event(name, "newbie"), ts, agent_id=AGENT)
        answer = await http.post(running_app.url, params=params, content=body)
        assert answer.status_code == 200 and answer.content == b""
    await running_app.server.drain()
    [welcome] = app_wecom.messages_to("newbie")
    assert t("start.welcome", "zh") in welcome.content


async def test_admin_commands_only_for_admin_users(running_app, app_wecom, http, crypto, clock):
    boss = Member(http, running_app.url, crypto, clock, "boss")
    other = Member(http, running_app.url, crypto, clock, "zhaoliu")
    assert t("stats.title", "zh") in await converse(running_app, boss, app_wecom, "统计")
    assert t("health.title", "zh") in await converse(running_app, boss, app_wecom, "/health")
    assert await converse(running_app, other, app_wecom, "/stats") == t("refuse.admin", "zh", command="/stats")
    assert await converse(running_app, other, app_wecom, "健康") == t("refuse.admin", "zh", command="/health")


async def test_retried_message_gets_one_reply(running_app, app_wecom, http, crypto, clock):
    member = Member(http, running_app.url, crypto, clock, "retry-user")
    for _ in range(3):
        answer = await member.say("订阅 在线教育", msg_id="42-same")
        assert answer.status_code == 200
    await running_app.server.drain()
    assert len(app_wecom.messages_to("retry-user")) == 1


async def test_app_compose_failure_puts_the_rows_back(engine, app, app_wecom):
    delivery_id = await enqueue_alert(engine, app, "zhangsan", "渲染失败")
    good = app.worker.compose

    async def broken(claimed):
        raise RuntimeError("renderer bug")

    app.worker.compose = broken
    assert await app.worker.run_once() == []  # nothing went out: the loop waits a claim interval, no busy spin
    assert (await app.worker.outbox.get(delivery_id)).status == "pending"
    app.worker.compose = good
    await app.worker.run_once()
    assert (await app.worker.outbox.get(delivery_id)).status == "sent" and len(app_wecom.messages_to("zhangsan")) == 1


async def test_app_delivery_with_nothing_to_render_fails_with_a_reason(engine, app, app_wecom):
    delivery_id = await enqueue_alert(engine, app, "zhangsan", "无内容")

    async def nothing(claimed):
        return {}

    app.worker.compose = nothing
    await app.worker.run_once()
    row = await app.worker.outbox.get(delivery_id)
    assert row.status == "failed" and "nothing to send" in row.last_error
    assert app_wecom.messages_to("zhangsan") == []


async def test_handled_msgids_are_forgotten_after_a_day(server, http, crypto, clock, engine):


    async def remembered() -> list[str]:
        async with engine.connect() as conn:
            return sorted((await conn.execute(sa.select(inbound_messages.c.msg_id))).scalars())

    async def send(msg_id: str) -> None:
        ts = int(clock.now().timestamp())
        params, body = callback_post(crypto, inner_xml(CORP_ID, "u", "/help", msg_id, ts, AGENT), ts, agent_id=AGENT)
        assert (await http.post(server.url, params=params, content=body)).status_code == 200
        await server.drain()

    await send("day1-a")
    clock.advance(hours=2)
    await send("day1-b")
    await send("day1-a")  # a retry within the day: still recognised
    assert await remembered() == ["day1-a", "day1-b"]
    clock.advance(hours=23)  # day1-a is now 25 h old, day1-b 23 h
    await send("day2-a")
    assert await remembered() == ["day1-b", "day2-a"]
    assert [m.msg_id for m in server.recorder.messages] == ["day1-a", "day1-b", "day2-a"]

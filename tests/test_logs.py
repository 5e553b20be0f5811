"""Secrets never reach a log line or a stored error, in any letter case or encoding; a
library's failure is one log line, never a traceback."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

from bot.core.clock import FakeClock
from bot.logs import RedactingFilter, redact
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from monitors.db import create_engine
from monitors.failures import log_failure

TOKEN = "987654321:AAHsecretTOKENvalue_abcdefghij"
AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_a_token_is_redacted_in_any_case_encoding_or_part():
    for text in (
        f"https://api.telegram.org/bot{TOKEN}/getMe",
        "Forbidden: bot 987654321:aahsecrettokenvalue_abcdefghij was blocked",  # PTB lower-cases
        "token=987654321%3AAAHsecretTOKENvalue_abcdefghij",
        "the secret AAHSECRETTOKENVALUE_ABCDEFGHIJ alone",
        f"aes {AES.upper()} and {AES.lower()}",
    ):
        out = redact(text, [TOKEN, AES])
        lowered = out.lower()
        assert "aahsecrettokenvalue" not in lowered and AES.lower() not in lowered, out
        assert "***" in out


def _record(name: str, exc: BaseException, message: str) -> logging.LogRecord:
    try:
        raise exc
    except BaseException as caught:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, message, (), (type(caught), caught, caught.__traceback__))


def test_a_library_failure_is_one_redacted_line_without_a_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([TOKEN]))
    try:
        json.loads("<html>502 Bad Gateway</html>")
    except json.JSONDecodeError as exc:
        bad_json = exc
    record = _record("telegram.ext.Updater", bad_json, f"Error while getting Updates for bot{TOKEN.lower()}")
    handler.handle(record)
    out = stream.getvalue()
    assert out.count("\n") == 1 and "Traceback" not in out
    assert "JSONDecodeError" in out and "aahsecrettokenvalue" not in out.lower()


def test_our_own_unexpected_errors_keep_their_traceback_redacted():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter([TOKEN]))
    handler.handle(_record("shwatch.service", RuntimeError(f"boom {TOKEN}"), "bug"))
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError" in out and "aahsecret" not in out.lower()


async def test_stored_errors_are_redacted_whatever_the_sender_wrote(engine):
    clock = FakeClock(datetime(2026, 6, 1, tzinfo=timezone.utc))
    chat = await ChatStore(engine, clock).get_or_create("telegram", "42")
    outbox = Outbox(engine, clock, secrets=[TOKEN])
    await outbox.enqueue([{"chat_id": chat.id, "kind": "notice", "ref": "a"}, {"chat_id": chat.id, "kind": "notice", "ref": "b"}])
    first, second = await outbox.claim("w", 10, ["telegram"])
    await outbox.fail(first.id, f"Bad Request: bot{TOKEN.lower()} refused")
    await outbox.retry(second.id, "https://api.telegram.org/bot987654321%3AAAHsecretTOKENvalue_abcdefghij/x", None)
    for delivery_id in (first.id, second.id):
        stored = (await outbox.get(delivery_id)).last_error
        assert stored and "***" in stored and "aahsecret" not in stored.lower()


async def test_a_database_failure_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # no schema: every query fails
    stream = io.StringIO()
    logger = logging.getLogger("shwatch.test-failures")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        try:
            await Outbox(engine).claim("worker", 10, ["console"])
        except Exception as exc:
            log_failure(logger, "console delivery round failed", exc)
        try:
            {}["missing"]
        except KeyError as exc:
            log_failure(logger, "a bug", exc)
    finally:
        logger.removeHandler(handler)
        await engine.dispose()
    database, bug = stream.getvalue().split("a bug", 1)
    assert database == "console delivery round failed: OperationalError: no such table: deliveries\n"
    assert "Traceback (most recent call last)" in bug and "KeyError: 'missing'" in bug

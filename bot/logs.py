"""Logging to stderr with secrets redacted, and library failures in one line.

Every record passes through ``RedactingFilter``: the Telegram token (it sits in every Bot
API URL that httpx logs) and its secret part alone, WeCom secrets, AES keys, callback tokens,
robot keys and access tokens are replaced by ``***`` whatever logger produced the line,
exception tracebacks included, in any letter case and URL-encoded (python-telegram-bot
capitalises error descriptions, so a token echoed back can come out in lower case).

A record of a library's logger (python-telegram-bot, httpx, APScheduler, aiohttp) that
carries an exception is one line with the cause: an expected remote failure (a proxy's HTML
502 page where JSON was expected, a timeout) is never a traceback in the log.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from config.model import Secret, Settings

# Query parameters and path shapes that carry credentials, whatever their value.
_PATTERNS = [
    re.compile(r"(?i)((?:access_token|corpsecret|secret|key|token)=)[^&\s\"']+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_-]{20,}"),
]


def secrets_of(settings: Settings) -> list[str]:
    values: list[Secret | None] = [
        settings.telegram.token,
        settings.wecom.secret,
        settings.wecom.token,
        settings.wecom.encoding_aes_key,
        *(robot.key for robot in settings.wecom.robots),
    ]
    return [v.reveal() for v in values if v]


LIBRARY_LOGGERS = ("telegram", "httpx", "httpcore", "apscheduler", "aiohttp")
MIN_SECRET = 4  # shorter values would redact ordinary words


def _forms(secret: str) -> set[str]:
    """A secret as it may appear in text: as is, URL-encoded, and (a bot token
    ``123:ABC...``) its secret part alone."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if ":" in secret:
        tail = secret.split(":", 1)[1]
        forms |= {tail, quote(tail, safe="")}
    return {f for f in forms if len(f) >= MIN_SECRET}


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every form of every secret (longest first); built
    once per set of secrets (a service has one), not at every redaction."""
    return _pattern_of(tuple(sorted({s for s in secrets if s})))


@functools.lru_cache(maxsize=16)
def _pattern_of(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = sorted({f for s in secrets for f in _forms(s)}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] | re.Pattern[str] | None = ()) -> str:
    pattern = secrets if isinstance(secrets, re.Pattern) or secrets is None else secret_pattern(secrets)
    if pattern is not None:
        text = pattern.sub("***", text)
    for shape in _PATTERNS:
        text = shape.sub(lambda m: m.group(1) + "***", text)
    return text


def one_line(exc: BaseException, most: int = 300) -> str:
    """``Type: message`` on one line: the message's lines joined (aiohttp puts the cause of a
    bad request on its second line), clipped to ``most`` characters."""
    text = " ".join(str(exc).split())
    if len(text) > most:
        text = text[: most - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.pattern = secret_pattern(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.name.startswith(LIBRARY_LOGGERS):
            # a library's view of a remote failure: the cause in one line, no traceback
            exc = record.exc_info[1]
            if exc is not None:
                message = f"{message}: {one_line(exc)}"
            record.exc_info = None
            record.exc_text = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.pattern)
        record.msg = redact(message, self.pattern)
        record.args = None
        return True


def setup_logging(settings: Settings | None, level: str | None = None) -> None:
    """Send logs to stderr, redacted; keep chatty HTTP libraries at WARNING."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets_of(settings) if settings else ()))
    root.addHandler(handler)
    root.setLevel(level or (settings.log_level if settings else "INFO"))
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Logging to stderr with secrets redacted.

Every record passes through ``RedactingFilter``: the Telegram token (it sits in every Bot
API URL that httpx logs), WeCom secrets, AES keys and access tokens are replaced by ``***``
whatever logger produced the line, including exception tracebacks.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

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


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        record.msg = redact(message, self.secrets)
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

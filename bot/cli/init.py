"""``shwatch init``: a commented starter ``./shwatch.toml`` with every setting at its default.

Settings that have a default are written with it (so the file loads to exactly the built-in
defaults); settings without one (tokens, keys, ids) are written commented out, with what to
put there. tests/test_init.py checks the file against the settings model: no key is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from config.model import (
    ConsoleSettings, DigestSettings, FetchSettings, ServiceSettings, TelegramSettings, WebSettings, WeComSettings,
)

F, T, D, W, C, WC, S = (
    FetchSettings(), TelegramSettings(), DigestSettings(), WebSettings(), ConsoleSettings(), WeComSettings(), ServiceSettings(),
)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


STARTER = f"""# shwatch settings. Every setting is shown with its default; change what you need.
# Found by: --config PATH, else $SHWATCH_CONFIG, else ./shwatch.toml (this file), else the
# built-in defaults. The environment overrides the file (SHWATCH_DATABASE_URL,
# TELEGRAM_BOT_TOKEN, WECOM_SECRET, ...). Check it with: shwatch sources

database_url = "sqlite+aiosqlite:///var/shwatch.db"   # or postgresql+asyncpg://user@host/db
timezone = "Asia/Shanghai"    # for digests, quiet hours and the times shown
max_age_days = 3              # no instant alert for items older than this (digests still list them)
log_level = "INFO"            # DEBUG | INFO | WARNING | ERROR
# topics_file = "topics.toml" # your own fields and terms (default: the plan's 12 fields, config/topics.toml)

[fetch]
concurrency = {F.concurrency}            # requests in flight overall
per_host = {F.per_host}                 # and per host (be polite to the sites)
connect_timeout = {F.connect_timeout}        # seconds
timeout = {F.timeout}               # seconds for a whole request, body included
max_bytes = {F.max_bytes}         # bigger pages are cut off and reported
max_redirects = {F.max_redirects}            # and only within the source's own site (or its allow_hosts)
user_agent = {_toml(F.user_agent)}
article_concurrency = {F.article_concurrency}      # article pages read at once per source
baseline_articles = {F.baseline_articles}       # a source's first poll reads this many of its articles
max_articles_per_poll = {F.max_articles_per_poll}   # at most this many article reads per source per poll
poll_deadline = {F.poll_deadline}       # seconds a poll of one source may take; the rest waits
offload_bytes = {F.offload_bytes}     # bigger pages are parsed in a worker process

[telegram]
# token = "123456:ABC..."     # from @BotFather (or TELEGRAM_BOT_TOKEN); none: alerts print here
api_base_url = {_toml(T.api_base_url)}
admin_chat_ids = []           # chat ids allowed /stats and /health, told when a source breaks
poll_timeout = {T.poll_timeout}             # seconds of Telegram long polling
messages_per_second = {T.messages_per_second}      # at most 30; give each delivery worker its share

[wecom]
# corp_id = "ww..."           # the five app settings switch the WeCom app on
# agent_id = 1000002
# secret = "..."              # or WECOM_SECRET
# token = "..."               # the callback token
# encoding_aes_key = "..."    # 43 characters
api_base_url = "https://qyapi.weixin.qq.com"
# host = "0.0.0.0"            # a listener of its own for the callback (default: the web app's server)
# port = 8081
path = "/wecom/callback"
admin_users = []              # WeCom userids allowed /stats and /health
msgtype = {_toml(WC.msgtype)}          # app messages: "markdown", or "text" (shows in WeChat too)
member_per_minute = {WC.member_per_minute}        # WeCom drops app messages beyond these to one member: more wait
member_per_hour = {WC.member_per_hour}
# [[wecom.robots]]            # group robots: name, key (or url), topics, keywords, digest_time, lang
# name = "team"
# key = "..."
# topics = ["online_healthcare"]

[digest]
default_time = {_toml(D.default_time)}        # a chat's daily digest time until it sets its own
send_empty = {_toml(D.send_empty)}           # true: a short "nothing new" note instead of nothing

[web]
enabled = {_toml(W.enabled)}                # the web app in `shwatch run` (shwatch web serves it alone)
host = {_toml(W.host)}            # 127.0.0.1: this machine only; put a proxy in front to publish it
port = {W.port}                   # or SHWATCH_WEB_PORT
# base_url = "https://example.org/shwatch"   # absolute links in feeds, behind a proxy

[console]
lang = {_toml(C.lang)}                 # alerts printed here (no Telegram token): "auto" = each item's language, or "zh" / "en"
status_interval = {C.status_interval}       # seconds between the one-line sources status lines of `shwatch run`

[service]
lease_seconds = {S.lease_seconds:g}            # several `shwatch run` on one database: one leads (polls, digests,
                              # Telegram updates); a dead or hung leader is replaced within this long

# [[sources]]                 # when present, replaces the default sources (config/sources.toml)
# id = "wsjkw-xwfb"
# name = "上海市卫生健康委员会 · 新闻发布"
# url = "https://wsjkw.sh.gov.cn/xwfb/index.html"
# kind = "html"               # or "rss"
# lang = "zh"
# interval = 600              # seconds between polls
# allow_hosts = []            # other hosts its pages may redirect to
# Try a page first: shwatch sources try URL (it prints the table to paste here).
"""

NEXT_STEPS = """next:
  shwatch sources           check the sources and their health
  shwatch poll --once       fetch every source once and see what they publish
  shwatch run               the service (alerts print here until a Telegram token is set)"""


def write_starter_config(path: Path, *, force: bool = False) -> int:
    """Write the starter file; never over an existing one without ``force``. Exit code."""
    if path.exists() and not force:
        print(f"shwatch init: {path} exists already; nothing written (--force overwrites it)", file=sys.stderr)
        return 1
    if not path.parent.is_dir():
        print(f"shwatch init: the folder {path.parent} does not exist", file=sys.stderr)
        return 2
    try:
        path.write_text(STARTER, encoding="utf-8")
    except OSError as exc:
        print(f"shwatch init: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {path}: every setting with its default and what it does")
    print(NEXT_STEPS)
    return 0

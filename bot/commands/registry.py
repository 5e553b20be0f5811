"""The bot's commands, in /help order: the one table the parser, the permission checks,
/help and Telegram's command menu are derived from (see ``bot.commands.spec``)."""

from __future__ import annotations

from bot.commands import args
from bot.commands.handlers import admin, alerts, info, preferences, topics
from bot.commands.spec import CommandSpec, Registry

ALERT = ("alert",)
ALERT_ZH = ("关键词", "提醒")

REGISTRY = Registry((
    CommandSpec("start", ("start",), ("开始",), info.start, "/start", "开始", menu=True),
    CommandSpec("help", ("help",), ("帮助",), info.show_help, "/help", "帮助", menu=True),
    CommandSpec("topics", ("topics", "fields"), ("领域",), topics.topics, "/topics", "领域", menu=True),
    CommandSpec(
        "subscribe", ("subscribe", "sub"), ("订阅",), topics.subscribe,
        "/subscribe online_education", "订阅 在线教育",
        args=args.topic_words, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "unsubscribe", ("unsubscribe", "unsub"), ("退订", "取消订阅"), topics.unsubscribe,
        "/unsubscribe all", "退订 全部",
        args=args.topic_words, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "alert_add", ALERT, ALERT_ZH, alerts.add_alert,
        '/alert add "machine learning" -exclude jobs', "关键词 添加 人工智能 排除 招聘",
        args=args.alert_add, sub=("add", "+", "new", "添加", "加", "增加", "新增"), usage="err.alert_usage",
        changes_settings=True, menu=True,
    ),
    CommandSpec(
        "alert_del", ALERT, ALERT_ZH, alerts.delete_alert,
        "/alert del 5G", "关键词 删除 人工智能",
        args=args.alert_del, sub=("del", "delete", "remove", "rm", "-", "删除", "删", "移除"), usage="err.alert_usage",
        changes_settings=True,
    ),
    CommandSpec(
        # "/alert" alone (sub "") or "/alert list" lists them too
        "alerts", ("alerts", *ALERT), ALERT_ZH, alerts.list_alerts,
        "/alerts", "关键词",
        sub=("", "list", "ls", "列表", "查看"), usage="err.alert_usage", menu=True,
    ),
    CommandSpec("latest", ("latest",), ("最新",), info.latest, "/latest 10", "最新 10", args=args.latest, menu=True),
    CommandSpec(
        "search", ("search",), ("搜索", "检索"), info.search, "/search 互联网医院", "搜索 互联网医院",
        args=args.search, menu=True,
    ),
    CommandSpec("sources", ("sources",), ("来源",), info.sources, "/sources", "来源", menu=True),
    CommandSpec(
        "mode", ("mode",), ("模式",), preferences.mode, "/mode both", "模式 两者",
        args=args.mode, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "digest", ("digest",), ("摘要",), preferences.digest, "/digest 08:00", "摘要 08:00",
        args=args.digest, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "quiet", ("quiet",), ("免打扰",), preferences.quiet, "/quiet 22:00-07:30", "免打扰 22:00-07:30",
        args=args.quiet, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "tz", ("tz", "timezone"), ("时区",), preferences.time_zone, "/tz Asia/Shanghai", "时区 Asia/Shanghai",
        args=args.tz, changes_settings=True, menu=True,
    ),
    CommandSpec(
        "lang", ("lang", "language"), ("语言",), preferences.language, "/lang zh", "语言 English",
        args=args.lang, changes_settings=True, menu=True,
    ),
    CommandSpec("stop", ("stop",), ("停止",), preferences.stop, "/stop", "停止", changes_settings=True, menu=True),
    CommandSpec("stats", ("stats",), ("统计",), admin.stats, "/stats", "统计", admin=True),
    CommandSpec("health", ("health",), ("健康",), admin.health, "/health", "健康", admin=True),
))

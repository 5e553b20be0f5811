"""Every sentence the bot says, in Chinese and English.

``t(key, lang, **params)`` looks a key up in one catalogue and fills ``{placeholders}``.
A test checks that every key has both languages with the same placeholders. Unknown
languages fall back to English; a missing key is a programming error (KeyError).
"""

from __future__ import annotations

from string import Formatter
from types import MappingProxyType

LANGS = ("zh", "en")

_CATALOGUE: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------ general
    "lang.name": {"zh": "中文", "en": "English"},
    "bot.name": {"zh": "上海在线新经济动态", "en": "shwatch"},
    "list.sep": {"zh": "、", "en": ", "},
    "none": {"zh": "无", "en": "none"},
    # ------------------------------------------------------------ /start
    "start.welcome": {"zh": "👋 欢迎使用 shwatch！", "en": "👋 Welcome to shwatch!"},
    "start.what": {
        "zh": "我关注上海市政府官方网站的新闻和政策发布，一旦有与《上海市促进在线新经济发展行动方案》12 个重点领域或您设置的关键词相关的新内容，就会立即推送给您。",
        "en": "I watch Shanghai's official news and policy sources and send you new items about the 12 fields of the Online New Economy Action Plan, or about your own keywords, as soon as they are published.",
    },
    "start.next": {
        "zh": "下一步：用 /topics 选择领域，或设置关键词提醒，例如 /alert add 人工智能。/help 查看全部命令。",
        "en": "Next step: choose your fields with /topics, or set a keyword alert, e.g. /alert add 人工智能. /help lists every command.",
    },
    "start.lang": {"zh": "当前语言：中文（发送 /lang en 切换为 English）。", "en": "Language: English (send /lang zh for 中文)."},
    "start.following": {
        "zh": "您已关注 {topics} 个领域和 {alerts} 个关键词。",
        "en": "Fields you follow: {topics}; keyword alerts: {alerts}.",
    },
    # ------------------------------------------------------------ /help
    "help.title": {"zh": "命令一览（每条附一个例子）：", "en": "Commands (each with one example):"},
    "help.start": {"zh": "欢迎信息和入门", "en": "welcome and first steps"},
    "help.help": {"zh": "本帮助", "en": "this help"},
    "help.topics": {"zh": "查看 12 个领域及订阅状态", "en": "the 12 fields and which ones you follow"},
    "help.subscribe": {"zh": "订阅领域（编号或名称）", "en": "subscribe to fields (ids or names)"},
    "help.unsubscribe": {"zh": "退订领域，“全部”表示全部领域", "en": "unsubscribe from fields, or all"},
    "help.alert_add": {
        "zh": "添加关键词提醒（短语加引号，“排除”后为排除词）",
        "en": "add a keyword alert (quote a phrase; terms after -exclude are excluded)",
    },
    "help.alert_del": {"zh": "删除关键词提醒", "en": "delete a keyword alert"},
    "help.alerts": {"zh": "列出您的关键词提醒", "en": "list your keyword alerts"},
    "help.latest": {"zh": "最近 n 条匹配内容（默认 5，最多 20）", "en": "the last n matching items (default 5, at most 20)"},
    "help.sources": {"zh": "监测的来源及其状态", "en": "watched sources and their health"},
    "help.search": {"zh": "检索资料库：最新 5 条及总数", "en": "search the archive: the five newest matches and the total"},
    "help.mode": {"zh": "推送方式：即时、摘要或两者", "en": "how alerts arrive: instant, digest or both"},
    "help.digest": {"zh": "每日摘要：开、关、时间 HH:MM，或“现在”立即发送", "en": "daily digest: on, off, a time HH:MM, or now"},
    "help.quiet": {"zh": "免打扰时段（“关”为关闭）", "en": "quiet hours (off to turn off)"},
    "help.tz": {"zh": "设置时区（IANA 名称）", "en": "your time zone (IANA name)"},
    "help.lang": {"zh": "切换语言：中文或 English", "en": "switch language: zh or en"},
    "help.stop": {"zh": "退订全部并删除本聊天的数据", "en": "unsubscribe from everything and delete this chat's data"},
    "help.stats": {"zh": "统计（仅管理员）", "en": "statistics (administrators only)"},
    "help.health": {"zh": "运行状况（仅管理员）", "en": "service health (administrators only)"},
    "help.aliases": {  # {forms}: the other language's forms of the commands above, in the same order
        "zh": "每条命令也有斜杠形式：{forms}。",
        "en": "Chinese short forms work too: {forms}.",
    },
    "help.group": {
        "zh": "在群组中只能使用斜杠命令，且只有群管理员可以更改设置。",
        "en": "In a group, only slash commands reach the bot, and only the group's administrators can change its settings.",
    },
    # ------------------------------------------------------------ setMyCommands descriptions
    "cmd.start": {"zh": "开始使用", "en": "Welcome and first steps"},
    "cmd.help": {"zh": "命令帮助", "en": "Every command with an example"},
    "cmd.topics": {"zh": "选择关注的领域", "en": "Choose the fields you follow"},
    "cmd.subscribe": {"zh": "订阅领域", "en": "Subscribe to fields"},
    "cmd.unsubscribe": {"zh": "退订领域", "en": "Unsubscribe from fields"},
    "cmd.alert": {"zh": "添加或删除关键词提醒", "en": "Add or delete a keyword alert"},
    "cmd.alerts": {"zh": "我的关键词提醒", "en": "Your keyword alerts"},
    "cmd.latest": {"zh": "最新匹配内容", "en": "Latest matching items"},
    "cmd.sources": {"zh": "监测来源及状态", "en": "Sources and their health"},
    "cmd.search": {"zh": "检索资料库", "en": "Search the archive"},
    "cmd.mode": {"zh": "推送方式", "en": "How alerts arrive"},
    "cmd.digest": {"zh": "每日摘要设置", "en": "Daily digest settings"},
    "cmd.quiet": {"zh": "免打扰时段", "en": "Quiet hours"},
    "cmd.tz": {"zh": "时区", "en": "Time zone"},
    "cmd.lang": {"zh": "语言", "en": "Language"},
    "cmd.stop": {"zh": "停止并删除数据", "en": "Stop and delete your data"},
    "cmd.stats": {"zh": "统计（管理员）", "en": "Statistics (admins)"},
    "cmd.health": {"zh": "运行状况（管理员）", "en": "Service health (admins)"},
    # ------------------------------------------------------------ /topics, /subscribe, /unsubscribe
    "topics.title": {"zh": "行动方案的重点领域（✅ 已订阅）：", "en": "The Action Plan's fields (✅ = subscribed):"},
    "topics.count": {"zh": "您关注了 {count}/{total} 个领域。", "en": "You follow {count} of {total} fields."},
    "topics.footer": {
        "zh": "点按钮开关领域，或发送 /subscribe 领域编号。",
        "en": "Tap a field to toggle it, or send /subscribe <id>.",
    },
    "topics.footer_text": {
        "zh": "发送“订阅 领域编号或名称”订阅，例如：订阅 在线教育；“退订 全部”退订全部。",
        "en": "Send /subscribe <id or name> to subscribe, e.g. /subscribe online_education; /unsubscribe all to stop them all.",
    },
    "topics.other": {"zh": "其他订阅：{topics}", "en": "Also subscribed: {topics}"},
    "button.all": {"zh": "✅ 全选", "en": "✅ All"},
    "button.none": {"zh": "▫️ 全不选", "en": "▫️ None"},
    "toast.on": {"zh": "已订阅：{topic}", "en": "Subscribed: {topic}"},
    "toast.off": {"zh": "已退订：{topic}", "en": "Unsubscribed: {topic}"},
    "toast.all": {"zh": "已订阅全部领域", "en": "Subscribed to every field"},
    "toast.none": {"zh": "已退订全部领域", "en": "Unsubscribed from every field"},
    "sub.added": {"zh": "已订阅：{topics}。", "en": "Subscribed: {topics}."},
    "sub.already": {"zh": "早已订阅：{topics}。", "en": "Already subscribed: {topics}."},
    "sub.removed": {"zh": "已退订：{topics}。", "en": "Unsubscribed: {topics}."},
    "sub.not_subscribed": {"zh": "本来就未订阅：{topics}。", "en": "Not subscribed anyway: {topics}."},
    "sub.now": {"zh": "您现在关注 {count} 个领域。", "en": "Fields you follow now: {count}."},
    "sub.none": {
        "zh": "您还没有订阅任何领域。发送 /topics 查看并选择。",
        "en": "You are not subscribed to any field. Send /topics to see them and choose.",
    },
    # ------------------------------------------------------------ alerts
    "alert.added": {"zh": "已添加关键词提醒：“{keyword}”。", "en": "Alert added: “{keyword}”."},
    "alert.updated": {"zh": "已更新关键词提醒：“{keyword}”。", "en": "Alert updated: “{keyword}”."},
    "alert.exists": {
        "zh": "关键词提醒“{keyword}”已存在，无需重复添加。",
        "en": "You already have the alert “{keyword}”; nothing changed.",
    },
    "alert.excludes": {"zh": "排除包含以下词语的内容：{terms}", "en": "Items that mention any of these are skipped: {terms}"},
    "alert.count": {"zh": "您已设置 {count}/{limit} 个关键词提醒。", "en": "You have {count} of {limit} alerts."},
    "alert.deleted": {"zh": "已删除关键词提醒：“{keyword}”。", "en": "Alert deleted: “{keyword}”."},
    "alert.list_title": {"zh": "您的关键词提醒（{count}/{limit}）：", "en": "Your keyword alerts ({count} of {limit}):"},
    "alert.list_excludes": {"zh": "（排除：{terms}）", "en": " (except: {terms})"},
    "alert.list_empty": {
        "zh": "您还没有关键词提醒。添加一个：/alert add 人工智能",
        "en": "You have no keyword alerts. Add one: /alert add 人工智能",
    },
    "alert.fields": {"zh": "领域：", "en": "Fields: "},
    "alert.keywords": {"zh": "关键词：", "en": "Keywords: "},
    "alert.open": {"zh": "阅读原文", "en": "Read the original"},
    "place.title": {"zh": "标题", "en": "title"},
    "place.lead": {"zh": "导语", "en": "lead"},
    "place.body": {"zh": "正文", "en": "body"},
    "alert.no_summary": {"zh": "（无摘要）", "en": "(no summary)"},
    # ------------------------------------------------------------ /latest
    "latest.title": {"zh": "最近 {count} 条匹配内容：", "en": "Latest matching items ({count}):"},
    "search.title": {"zh": "“{q}”共找到 {count} 条，最新的是：", "en": "{count} items found for “{q}”; the newest:"},
    "search.title_one": {"zh": "“{q}”共找到 1 条：", "en": "1 item found for “{q}”:"},
    "search.none": {"zh": "没有找到包含“{q}”的资讯。", "en": "No item contains “{q}”."},
    "search.usage": {
        "zh": "请在命令后写出检索词，例如：搜索 互联网医院",
        "en": "Write the words to look for after the command, e.g. /search 互联网医院",
    },
    "latest.none": {
        "zh": "最近没有与您的领域或关键词匹配的内容。",
        "en": "No recent items match your fields or keywords yet.",
    },
    "latest.nothing_followed": {
        "zh": "您还没有关注任何领域或关键词：用 /topics 选择领域，或 /alert add 添加关键词。",
        "en": "You follow no fields and no keywords yet: choose fields with /topics or add one with /alert add.",
    },
    # ------------------------------------------------------------ /sources
    "sources.title": {"zh": "监测的来源（{count} 个）：", "en": "Watched sources ({count}):"},
    "sources.ok": {"zh": "✅ 正常，最近成功 {when}", "en": "✅ ok, last success {when}"},
    "sources.failing": {
        "zh": "⚠️ 连续失败 {count} 次：{error}",
        "en": "⚠️ failing ({count} in a row): {error}",
    },
    "sources.never": {"zh": "▫️ 尚未检查", "en": "▫️ not checked yet"},
    "sources.summary": {
        "zh": "正常 {ok} 个，异常 {failing} 个，未检查 {never} 个。",
        "en": "{ok} ok, {failing} failing, {never} not checked yet.",
    },
    "error_kind.unreachable": {"zh": "无法访问", "en": "unreachable"},
    "error_kind.http": {"zh": "HTTP 错误", "en": "HTTP error"},
    "error_kind.layout": {"zh": "页面结构变化", "en": "page layout changed"},
    "error_kind.parse": {"zh": "无法解析", "en": "cannot be parsed"},
    "error_kind.article": {"zh": "文章提取失败", "en": "article extraction failed"},
    "error_kind.unknown": {"zh": "未知错误", "en": "unknown error"},
    # ------------------------------------------------------------ /mode
    "mode.instant": {"zh": "即时", "en": "instant"},
    "mode.digest": {"zh": "每日摘要", "en": "daily digest"},
    "mode.both": {"zh": "即时 + 每日摘要", "en": "instant and daily digest"},
    "mode.set_instant": {"zh": "好的：新内容将即时推送。", "en": "Done: new items arrive instantly."},
    "mode.set_digest": {
        "zh": "好的：新内容将汇总在每日摘要中，于 {time}（{tz}）发送。",
        "en": "Done: new items arrive in the daily digest at {time} ({tz}).",
    },
    "mode.set_both": {
        "zh": "好的：新内容将即时推送，并汇总在每日摘要中，于 {time}（{tz}）发送。",
        "en": "Done: new items arrive instantly and in the daily digest at {time} ({tz}).",
    },
    "mode.current": {
        "zh": "当前推送方式：{mode}。更改：/mode instant|digest|both",
        "en": "Current mode: {mode}. Change it: /mode instant|digest|both",
    },
    # ------------------------------------------------------------ /digest, /quiet, /tz, /lang
    "digest.on": {"zh": "每日摘要已开启，每天 {time}（{tz}）发送。", "en": "Daily digest on, every day at {time} ({tz})."},
    "digest.off": {"zh": "每日摘要已关闭。", "en": "Daily digest off."},
    "digest.status_on": {
        "zh": "每日摘要：开启，每天 {time}（{tz}）。更改：/digest off 或 /digest 08:00",
        "en": "Daily digest: on, every day at {time} ({tz}). Change it: /digest off or /digest 08:00",
    },
    "digest.status_off": {
        "zh": "每日摘要：关闭。开启：/digest on 或 /digest 08:00",
        "en": "Daily digest: off. Turn it on: /digest on or /digest 08:00",
    },
    "digest.now": {"zh": "好的，您的摘要正在生成并发送。", "en": "Your digest is on its way."},
    "digest.unavailable": {
        "zh": "摘要服务暂时不可用，请稍后再试。",
        "en": "Digests are not available right now; please try again later.",
    },
    "digest.header": {
        "zh": "📰 每日摘要（{date}）：{count} 条新内容",
        "en": "📰 Daily digest ({date}): {count} new items",
    },
    "digest.header_one": {"zh": "📰 每日摘要（{date}）：1 条新内容", "en": "📰 Daily digest ({date}): 1 new item"},
    "digest.group_count": {"zh": "{name}：{count} 条", "en": "{name}: {count}"},
    "digest.keywords_group": {"zh": "关键词匹配", "en": "Keyword matches"},
    "digest.mentioned_group": {"zh": "另有提及", "en": "Also mentioned"},
    "digest.nothing_new": {"zh": "自上次摘要以来没有新内容。", "en": "Nothing new since your last digest."},
    "digest.nothing_new_period": {
        "zh": "{since} 至 {until}（{tz}）期间没有与你相关的新内容。",
        "en": "Nothing new for you between {since} and {until} ({tz}).",
    },
    "digest.part": {"zh": "（第 {part}/{total} 部分）", "en": "(part {part} of {total})"},
    "quiet.set": {
        "zh": "免打扰时段：{start}-{end}（{tz}）。此时段内的提醒将在结束时一并送达。",
        "en": "Quiet hours: {start}-{end} ({tz}). Alerts in that window arrive together when it ends.",
    },
    "quiet.off": {"zh": "免打扰已关闭。", "en": "Quiet hours off."},
    "quiet.status_off": {
        "zh": "免打扰：关闭。设置：/quiet 22:00-07:30",
        "en": "Quiet hours: off. Set them: /quiet 22:00-07:30",
    },
    "quiet.status_on": {
        "zh": "免打扰：{start}-{end}（{tz}）。关闭：/quiet off",
        "en": "Quiet hours: {start}-{end} ({tz}). Turn off: /quiet off",
    },
    "quiet.held": {
        "zh": "🔕 免打扰期间收到 {count} 条提醒：",
        "en": "🔕 {count} alerts arrived during your quiet hours:",
    },
    "quiet.held_one": {"zh": "🔕 免打扰期间收到 1 条提醒：", "en": "🔕 1 alert arrived during your quiet hours:"},
    "rate.held": {
        "zh": "⏳ 限速延后送达的 {count} 条提醒：",
        "en": "⏳ {count} alerts held back by the sending rate limit:",
    },
    "rate.held_one": {"zh": "⏳ 限速延后送达的 1 条提醒：", "en": "⏳ 1 alert held back by the sending rate limit:"},
    "tz.set": {"zh": "时区已设置为 {tz}。", "en": "Time zone set to {tz}."},
    "tz.current": {
        "zh": "当前时区：{tz}。更改：/tz Asia/Shanghai",
        "en": "Time zone: {tz}. Change it: /tz Europe/London",
    },
    "lang.set": {"zh": "好的，以后用中文回复您。", "en": "Done: I will answer in English."},
    "lang.current": {
        "zh": "当前语言：中文。切换：/lang en",
        "en": "Language: English. Switch: /lang zh",
    },
    # ------------------------------------------------------------ /stop
    "stop.done": {
        "zh": "已停止：您的订阅、{alerts} 个关键词提醒和待发送消息均已删除。发送 /start 可重新开始。",
        "en": "Stopped: your subscriptions, keyword alerts ({alerts}) and pending messages are deleted. Send /start to come back.",
    },
    # ------------------------------------------------------------ admin
    "stats.title": {"zh": "📊 统计", "en": "📊 Statistics"},
    "stats.chats": {
        "zh": "订阅者：{subscribers}（活跃聊天 {active}，共 {chats}）",
        "en": "Subscribers: {subscribers} (active chats {active}, {chats} in all)",
    },
    "stats.alerts": {"zh": "关键词提醒：{count}", "en": "Keyword alerts: {count}"},
    "stats.items": {"zh": "内容：共 {total} 条，最近 24 小时 {day} 条", "en": "Items: {total} in all, {day} in the last 24 h"},
    "stats.deliveries": {
        "zh": "推送：已发送 {sent}，待发送 {pending}，失败 {failed}，已丢弃 {dropped}",
        "en": "Deliveries: {sent} sent, {pending} pending, {failed} failed, {dropped} dropped",
    },
    "stats.failing": {"zh": "异常来源：{sources}", "en": "Failing sources: {sources}"},
    "health.title": {"zh": "🩺 运行状况", "en": "🩺 Health"},
    "health.db": {"zh": "数据库：正常（{backend}）", "en": "Database: ok ({backend})"},
    "health.sources": {
        "zh": "来源：正常 {ok}/{total}，异常 {failing}，未检查 {never}",
        "en": "Sources: {ok} of {total} ok, {failing} failing, {never} not checked",
    },
    "health.last_item": {"zh": "最新内容发现于：{when}", "en": "Newest item found: {when}"},
    "health.outbox": {
        "zh": "待发送：{pending} 条，最早的已等待 {age}",
        "en": "Outbox: {pending} pending, oldest waiting {age}",
    },
    "health.outbox_empty": {"zh": "待发送：0 条", "en": "Outbox: nothing pending"},
    "health.undispatched": {"zh": "待匹配的新内容：{count} 条", "en": "New items waiting to be matched: {count}"},
    "health.never": {"zh": "从未", "en": "never"},
    "health.leader": {"zh": "主实例：{who}（租约至 {until}）", "en": "Leader: {who} (lease until {until})"},
    "health.leader_expired": {
        "zh": "主实例：暂无（{who} 的租约已于 {until} 到期，备用实例将接替）",
        "en": "Leader: none now ({who}'s lease expired at {until}; a standby takes over)",
    },
    "health.leader_none": {"zh": "主实例：暂无（还没有 shwatch run 运行过）", "en": "Leader: none yet (no shwatch run has led)"},
    "age.minutes": {"zh": "{n} 分钟", "en": "{n} min"},
    "notice.source_failing": {
        "zh": "⚠️ 来源 {source} 出现问题（连续 {count} 次）：{error}",
        "en": "⚠️ Source {source} has a problem ({count} times in a row): {error}",
    },
    "notice.source_failing_one": {
        "zh": "⚠️ 来源 {source} 出现问题（1 次）：{error}",
        "en": "⚠️ Source {source} has a problem (failed once): {error}",
    },
    "notice.source_recovered": {"zh": "✅ 来源 {source} 已恢复正常。", "en": "✅ Source {source} works again."},
    "notice.source_still_failing": {
        "zh": "⚠️ 来源 {source} 24 小时后仍有问题：{error}",
        "en": "⚠️ Source {source} still has a problem after 24 h: {error}",
    },
    # ------------------------------------------------------------ refusals and hints
    "refuse.admin": {
        "zh": "抱歉，{command} 仅限机器人管理员使用。",
        "en": "Sorry, {command} is only for the bot's administrators.",
    },
    "refuse.group": {
        "zh": "抱歉，只有群管理员可以更改本群的设置。",
        "en": "Sorry, only the group's administrators can change its settings.",
    },
    "hint.unknown": {
        "zh": "不认识的命令：{command}。发送 /help 查看全部命令。",
        "en": "Unknown command: {command}. Send /help for the list.",
    },
    "hint.text": {
        "zh": "我只理解命令。发送 /help（或“帮助”）查看命令，或用 /topics 选择领域。",
        "en": "I only understand commands. Send /help to see them, or /topics to choose fields.",
    },
    "hint.non_text": {
        "zh": "目前只能识别文字消息。发送“帮助”查看可用命令。",
        "en": "Only text messages are understood here. Send /help to see the commands.",
    },
    # ------------------------------------------------------------ errors (problem + limit)
    "err.keyword_empty": {
        "zh": "关键词为空。例如：/alert add 人工智能",
        "en": "The keyword is empty. Example: /alert add 人工智能",
    },
    "err.keyword_long": {
        "zh": "关键词太长（{length} 个字符）：最多 {limit} 个字符。",
        "en": "The keyword is too long ({length} characters): at most {limit} characters.",
    },
    "err.too_many_alerts": {
        "zh": "关键词提醒已达上限：每个聊天最多 {limit} 个。请先删除一个：/alert del 关键词",
        "en": "Too many alerts: a chat has at most {limit}. Delete one first: /alert del <keyword>",
    },
    "err.exclude_empty": {
        "zh": "-exclude 后面需要排除词，例如：/alert add 5G -exclude 手机",
        "en": "-exclude needs a term after it, e.g. /alert add 5G -exclude phone",
    },
    "err.exclude_long": {
        "zh": "排除词太长（{length} 个字符）：最多 {limit} 个字符。",
        "en": "An exclusion term is too long ({length} characters): at most {limit} characters.",
    },
    "err.exclude_in_keyword": {
        "zh": "排除词“{term}”就在关键词里，这个提醒将永远不会触发。请换一个排除词。",
        "en": "The exclusion “{term}” is part of the keyword itself, so this alert could never fire. Choose another exclusion.",
    },
    "err.too_many_excludes": {
        "zh": "排除词太多（{count} 个）：每个提醒最多 {limit} 个。",
        "en": "Too many exclusion terms ({count}): at most {limit} per alert.",
    },
    "err.quotes": {
        "zh": "引号不成对：{quote} 没有闭合。例如：/alert add \"machine learning\"",
        "en": "Unbalanced quotes: a {quote} is never closed. Example: /alert add \"machine learning\"",
    },
    "err.alert_usage": {
        "zh": "用法：/alert add 关键词 [-exclude 排除词 ...]，/alert del 关键词，/alerts",
        "en": "Usage: /alert add <keyword> [-exclude term ...], /alert del <keyword>, /alerts",
    },
    "err.alert_missing": {
        "zh": "没有关键词提醒“{keyword}”。/alerts 查看您的提醒。",
        "en": "There is no alert “{keyword}”. /alerts lists yours.",
    },
    "err.unknown_topic": {
        "zh": "未知领域：{value}。可用编号：{ids}",
        "en": "Unknown field: {value}. Valid ids: {ids}",
    },
    "err.too_many_topics": {
        "zh": "内容太长：命令后最多 {limit} 个词。例如：/subscribe online_education remote_office",
        "en": "Too long: at most {limit} words after the command. Example: /subscribe online_education remote_office",
    },
    "err.bad_time": {
        "zh": "“{value}”不是有效时间：请用 HH:MM（00:00-23:59），例如 08:00",
        "en": "“{value}” is not a time: use HH:MM (00:00-23:59), e.g. 08:00",
    },
    "err.bad_quiet": {
        "zh": "用法：/quiet HH:MM-HH:MM（例如 /quiet 22:00-07:30），或 /quiet off",
        "en": "Usage: /quiet HH:MM-HH:MM (e.g. /quiet 22:00-07:30), or /quiet off",
    },
    "err.quiet_same": {
        "zh": "免打扰的开始和结束时间不能相同。",
        "en": "Quiet hours cannot start and end at the same time.",
    },
    "err.bad_tz": {
        "zh": "未知时区“{value}”。请用 IANA 名称，例如 Asia/Shanghai 或 Europe/London。",
        "en": "Unknown time zone “{value}”. Use an IANA name such as Asia/Shanghai or Europe/London.",
    },
    "err.bad_mode": {
        "zh": "未知方式“{value}”。可用：/mode instant（即时）、/mode digest（摘要）、/mode both（两者）",
        "en": "Unknown mode “{value}”. Use /mode instant, /mode digest or /mode both.",
    },
    "err.bad_lang": {
        "zh": "未知语言“{value}”。可用：/lang zh 或 /lang en",
        "en": "Unknown language “{value}”. Use /lang zh or /lang en.",
    },
    "err.bad_latest": {
        "zh": "“{value}”不是有效条数：请用 1 到 {limit} 之间的整数，例如 /latest 10",
        "en": "“{value}” is not a valid count: use a whole number from 1 to {limit}, e.g. /latest 10",
    },
    "err.bad_digest": {
        "zh": "用法：/digest on、/digest off、/digest HH:MM 或 /digest now",
        "en": "Usage: /digest on, /digest off, /digest HH:MM or /digest now",
    },
    "err.bad_button": {
        "zh": "这个按钮已失效，请重新发送 /topics。",
        "en": "That button is out of date; send /topics again.",
    },
    "err.internal": {
        "zh": "抱歉，处理时出了问题，请稍后再试。",
        "en": "Sorry, something went wrong on our side; please try again later.",
    },
    # ------------------------------------------------------------ the web app (bot/web)
    "web.nav.dashboard": {"zh": "概览", "en": "Dashboard"},
    "web.nav.items": {"zh": "资讯检索", "en": "Archive"},
    "web.nav.sources": {"zh": "来源状况", "en": "Sources"},
    "web.nav.lang": {"zh": "语言", "en": "Language"},
    "web.search.label": {"zh": "检索词", "en": "Search"},
    "web.search.placeholder": {"zh": "标题、摘要或正文中的词，例如 医院", "en": "Words in titles, summaries or texts, e.g. 医院"},
    "web.search.button": {"zh": "检索", "en": "Search"},
    "web.footer": {
        "zh": "内容来自上海市政府及各部门官方网站，按《上海市促进在线新经济发展行动方案》的 12 个重点领域归类。",
        "en": "Items from the official websites of Shanghai's government, sorted into the 12 fields of the Online New Economy Action Plan.",
    },
    "web.dash.fields": {"zh": "各领域资讯数量", "en": "Items per field"},
    "web.dash.field": {"zh": "领域", "en": "Field"},
    "web.dash.last7": {"zh": "近 7 天", "en": "Last 7 days"},
    "web.dash.last30": {"zh": "近 30 天", "en": "Last 30 days"},
    "web.dash.weekly": {"zh": "近 12 周每周数量（{start} 至 {end}）", "en": "Per week, last 12 weeks ({start} to {end})"},
    "web.dash.week_bar": {"zh": "{week} 起一周：{count} 条", "en": "Week of {week}: {count}"},
    "web.dash.newest": {"zh": "最新资讯", "en": "Newest items"},
    "web.dash.more": {"zh": "查看全部资讯", "en": "All items"},
    "web.dash.health": {"zh": "来源状况：{summary}", "en": "Sources: {summary}"},
    "web.dash.health_link": {"zh": "详情", "en": "details"},
    "web.items.topic_any": {"zh": "全部领域", "en": "All fields"},
    "web.items.source_any": {"zh": "全部来源", "en": "All sources"},
    "web.items.topic": {"zh": "领域", "en": "Field"},
    "web.items.source": {"zh": "来源", "en": "Source"},
    "web.items.since": {"zh": "起始日期", "en": "From"},
    "web.items.until": {"zh": "截止日期", "en": "To"},
    "web.items.count": {"zh": "共 {count} 条结果", "en": "{count} results"},
    "web.items.count_one": {"zh": "共 1 条结果", "en": "1 result"},
    "web.items.count_capped": {
        "zh": "超过 {limit} 条结果，可查看最新的 {limit} 条；缩小检索范围可看到更多。",
        "en": "More than {limit} results; the newest {limit} can be shown: narrow the search to see others.",
    },
    "web.items.none": {"zh": "没有符合条件的资讯。", "en": "No items match."},
    "web.items.past_end": {
        "zh": "第 {page} 页已超出结果范围（共 {pages} 页）。",
        "en": "Page {page} is past the end of the results ({pages} pages).",
    },
    "web.items.past_end_one": {
        "zh": "第 {page} 页已超出结果范围（共 1 页）。",
        "en": "Page {page} is past the end of the results (1 page).",
    },
    "web.items.first_page": {"zh": "回到第 1 页", "en": "Back to page 1"},
    "web.items.prev": {"zh": "上一页", "en": "Previous"},
    "web.items.next": {"zh": "下一页", "en": "Next"},
    "web.items.page": {"zh": "第 {page} 页，共 {pages} 页", "en": "Page {page} of {pages}"},
    "web.items.original": {"zh": "原文", "en": "Original"},
    "web.items.feed": {"zh": "Atom 订阅此检索", "en": "Atom feed of this search"},
    "web.item.published": {"zh": "发布时间", "en": "Published"},
    "web.item.found": {"zh": "发现时间", "en": "Found"},
    "web.item.source": {"zh": "来源", "en": "Source"},
    "web.item.organ": {"zh": "发布机构", "en": "Issued by"},
    "web.item.summary": {"zh": "摘要", "en": "Summary"},
    "web.item.about": {"zh": "所属领域", "en": "About"},
    "web.item.mentioned": {"zh": "提及的领域", "en": "Mentioned"},
    "web.item.terms": {"zh": "匹配词：{terms}", "en": "matched: {terms}"},
    "web.item.no_fields": {"zh": "未归入任何领域", "en": "In no field"},
    "web.item.open": {"zh": "阅读原文", "en": "Read the original"},
    "web.item.feed": {"zh": "Atom 订阅“{field}”", "en": "Atom feed of “{field}”"},
    "web.sources.name": {"zh": "来源", "en": "Source"},
    "web.sources.status": {"zh": "状态", "en": "Status"},
    "web.sources.last_success": {"zh": "最近成功", "en": "Last success"},
    "web.sources.last_error": {"zh": "最近错误", "en": "Last error"},
    "web.sources.streak": {"zh": "连续失败", "en": "Failures in a row"},
    "web.sources.items": {"zh": "资讯数", "en": "Items"},
    "web.sources.per_day": {"zh": "近 30 天每日数量（{start} 至 {end}）", "en": "Items per day, last 30 days ({start} to {end})"},
    "web.sources.day_bar": {"zh": "{day}：{count} 条", "en": "{day}: {count}"},
    "web.status.ok": {"zh": "正常", "en": "ok"},
    "web.status.failing": {"zh": "连续失败", "en": "failing"},
    "web.status.layout": {"zh": "页面结构变化", "en": "page layout changed"},
    "web.status.never": {"zh": "尚未检查", "en": "not checked yet"},
    "web.status.article": {"zh": "文章提取问题", "en": "article problem"},
    "web.status.warning": {"zh": "有警告", "en": "warning"},
    "web.feed.topic": {"zh": "{field}：最新资讯", "en": "{field}: newest items"},
    "web.feed.search": {"zh": "检索“{q}”：最新资讯", "en": "Search “{q}”: newest items"},
    "web.err.q_long": {
        "zh": "检索词太长（{length} 个字符）：最多 {limit} 个字符。",
        "en": "The search text is too long ({length} characters): at most {limit}.",
    },
    "web.err.term_short": {
        "zh": "“{term}”太短：每个检索词至少 {limit} 个字符。",
        "en": "“{term}” is too short: each search word needs at least {limit} characters.",
    },
    "web.err.q_missing": {"zh": "请在 q 中给出检索词，例如 ?q=医院", "en": "Give the search words in q, e.g. ?q=医院"},
    "web.err.topic": {"zh": "没有“{value}”这个领域：请从列表中选择。", "en": "There is no field “{value}”: choose one from the list."},
    "web.err.source": {"zh": "没有“{value}”这个来源：请从列表中选择。", "en": "There is no source “{value}”: choose one from the list."},
    "web.err.date": {
        "zh": "“{value}”不是有效日期：请用 YYYY-MM-DD 格式，例如 2026-06-13。",
        "en": "“{value}” is not a date: use YYYY-MM-DD, e.g. 2026-06-13.",
    },
    "web.err.date_order": {
        "zh": "起始日期 {since} 晚于截止日期 {until}。",
        "en": "The start date {since} is after the end date {until}.",
    },
    "web.err.page": {
        "zh": "“{value}”不是有效页码：请用从 1 开始的整数。",
        "en": "“{value}” is not a page number: use a whole number from 1.",
    },
    "web.err.page_cap": {
        "zh": "最多只能查看前 {limit} 条结果（到第 {pages} 页）：请缩小检索范围。",
        "en": "Only the first {limit} results can be shown (up to page {pages}): narrow the search.",
    },
    "web.err.not_found": {"zh": "没有这个页面。", "en": "There is no such page."},
    "web.err.no_item": {"zh": "没有编号为 {id} 的资讯。", "en": "There is no item {id}."},
    "web.err.title": {"zh": "出错了", "en": "Something is wrong"},
}

CATALOGUE = MappingProxyType(_CATALOGUE)


def lang_from_code(code: str | None) -> str:
    """Telegram ``language_code`` (or any locale tag) -> "zh" for zh*, else "en"."""
    if code and code.strip().lower().replace("_", "-").startswith("zh"):
        return "zh"
    return "en"


def norm_lang(lang: str | None) -> str:
    return lang if lang in LANGS else "en"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def t(key: str, lang: str | None, **params: object) -> str:
    """The text for ``key`` in ``lang`` ("zh" or "en"), placeholders filled from ``params``."""
    template = _CATALOGUE[key][norm_lang(lang)]
    return template.format(**params) if params or "{" in template else template


def count_key(key: str, count: int) -> str:
    """``key``'s singular form ``key + "_one"`` when ``count`` is 1 and the catalogue has one
    ("1 alert", not "1 alerts"), else ``key``."""
    one = f"{key}_one"
    return one if count == 1 and one in _CATALOGUE else key


def t_count(key: str, lang: str | None, count: int, **params: object) -> str:
    """``t`` for a sentence about ``count`` things: the singular form for exactly one."""
    return t(count_key(key, count), lang, count=count, **params)


def join(items, lang: str | None) -> str:
    """Join names with the language's list separator."""
    return t("list.sep", lang).join(str(i) for i in items)

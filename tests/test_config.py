"""The settings loader: defaults, overrides, environment, and one clear error per mistake."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from shwatch_run import SHWATCH

from config.settings import ConfigError, load_settings

TOPIC_IDS = [
    "unmanned_factory", "industrial_internet", "remote_office", "online_finance",
    "online_entertainment", "online_exhibition", "fresh_food_ecommerce", "contactless_delivery",
    "new_mobility", "online_education", "online_rd_design", "online_healthcare",
]


def test_defaults_need_no_file():
    settings = load_settings(env={})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.timezone == "Asia/Shanghai"
    ids = {s.id for s in settings.sources}
    assert {"shgov-yw", "shgov-xxgk", "shio-ywts", "wsjkw-xwfb", "wsjkw-xwfbh", "en-latest"} <= ids
    assert all(s.interval == 600 for s in settings.sources)
    assert [t.id for t in settings.topics if t.kind == "field"] == TOPIC_IDS
    assert settings.service.lease_seconds == 15.0


def test_file_overrides_and_sources_replace_defaults(tmp_path: Path):
    cfg = tmp_path / "my.toml"
    cfg.write_text(
        'database_url = "sqlite+aiosqlite:///x.db"\n'
        '[[sources]]\nid = "local"\nurl = "http://127.0.0.1:9/list.html"\ninterval = 2\n',
        encoding="utf-8",
    )
    settings = load_settings(cfg, env={})
    assert settings.database_url == "sqlite+aiosqlite:///x.db"
    assert [(s.id, s.interval, s.kind, s.lang) for s in settings.sources] == [("local", 2, "html", "zh")]


def test_allow_hosts_are_read_as_host_names(tmp_path: Path):
    cfg = tmp_path / "hosts.toml"
    cfg.write_text(
        '[[sources]]\nid = "moved"\nurl = "https://www.example.gov.cn/list.html"\n'
        'allow_hosts = ["News.Example.COM.", "www.上海.gov.cn", "127.0.0.2", "news.example.com"]\n'
        '[[sources]]\nid = "plain"\nurl = "https://www.example.gov.cn/other.html"\n',
        encoding="utf-8",
    )
    moved, plain = load_settings(cfg, env={}).sources
    # lowercase, no trailing dot, IDNA form (as the fetcher compares them), each once
    assert moved.allow_hosts == ("news.example.com", "www.xn--fhqz97e.gov.cn", "127.0.0.2")
    assert plain.allow_hosts == ()


def test_environment_wins_and_token_is_hidden(tmp_path: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[telegram]\ntoken = "from-file"\n', encoding="utf-8")
    settings = load_settings(cfg, env={"SHWATCH_DATABASE_URL": "sqlite+aiosqlite:///env.db", "TELEGRAM_BOT_TOKEN": "123:envtoken"})
    assert settings.database_url == "sqlite+aiosqlite:///env.db"
    assert settings.telegram.token.reveal() == "123:envtoken"
    assert "envtoken" not in repr(settings)


def test_a_malformed_bot_token_is_refused_without_showing_it(tmp_path: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={"TELEGRAM_BOT_TOKEN": "AAHsecretPastedWithoutTheBotId"})
    assert (info.value.file, info.value.key) == ("(environment)", "TELEGRAM_BOT_TOKEN")
    assert "AAHsecret" not in str(info.value) and "@BotFather" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\ninterval = 0\n", "sources[0].interval", "must be positive"),
        ("[[sources]]\nid = \"x\"\nurl = \"ftp://a/\"\n", "sources[0].url", "not an http(s) URL"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nkind = \"atom\"\n", "sources[0].kind", "must be"),
        ("[[sources]]\nurl = \"http://a/\"\n", "sources[0].id", "is required"),
        ("timezone = \"Mars/Olympus\"\n", "timezone", "unknown time zone"),
        ("colour = 1\n", "colour", "unknown key"),
        ("[telegram]\nadmin_chat_ids = [\"me\"]\n", "telegram.admin_chat_ids", "integer"),
        ("[digest]\ndefault_time = \"25:00\"\n", "digest.default_time", "HH:MM"),
        ("database_url = [\n", "(syntax)", "not valid TOML"),
        ("database_url = \"mysql://u:pw@db/x\"\n", "database_url", "unsupported database 'mysql'"),
        ("database_url = \"var/shwatch.db\"\n", "database_url", "is not a database URL"),
        ("database_url = \"sqlite+aiosqlite:///:memory:\"\n", "database_url", "is an in-memory database"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\n[sources.selectors]\nitem = \"ul[[\"\n",
         "sources[0].selectors.item", "not a valid CSS selector"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\n[sources.selectors]\nitem = \"tr\"\ndate = \"td:nth-of-type(x)\"\n",
         "sources[0].selectors.date", "not a valid CSS selector"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a b/\"\n", "sources[0].url", "not an http(s) URL"),
        ("[[sources]]\nid = \"x\"\nname = \" \"\nurl = \"http://a/\"\n", "sources[0].name", "must not be empty"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nencoding = \"klingon\"\n", "sources[0].encoding", "unknown encoding"),
        ("[fetch]\nuser_agent = \"\"\n", "fetch.user_agent", "non-empty"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nallow_hosts = \"a.gov.cn\"\n", "sources[0].allow_hosts", "must be a list"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nallow_hosts = [\"\"]\n", "sources[0].allow_hosts", "non-empty strings"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nallow_hosts = [\"https://a.gov.cn/\"]\n", "sources[0].allow_hosts",
         "'https://a.gov.cn/' is not a host name; write the host alone"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nallow_hosts = [\"a.gov.cn:8080\"]\n", "sources[0].allow_hosts", "no scheme, port or path"),
        ("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\nallow_hosts = [\"*.gov.cn\"]\n", "sources[0].allow_hosts", "is not a host name"),
        ("[fetch]\ntimeout = \"soon\"\n", "fetch.timeout", "must be an integer or a number"),
        ("[console]\nlang = \"fr\"\n", "console.lang", "must be \"auto\" (each item's language), \"zh\" or \"en\""),
        ("[console]\nstatus_interval = 0\n", "console.status_interval", "must be positive"),
        ("[console]\ncolour = 1\n", "console.colour", "unknown key"),
        ("[service]\nlease_seconds = 0\n", "service.lease_seconds", "must be positive"),
        ("[service]\nlease_seconds = 0.2\n", "service.lease_seconds", "between 1 and 600 seconds"),
        ("[service]\nlease_seconds = \"15s\"\n", "service.lease_seconds", "must be an integer or a number"),
        ("[service]\nlease = 15\n", "service.lease", "unknown"),
        ("[telegram]\ntoken = \"paste-token-here\"\n", "telegram.token", "is not a bot token"),
        ("[telegram]\ntoken = \"123456789:AAsecret with a space\"\n", "telegram.token", "is not a bot token"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.file == str(cfg)
    assert info.value.key == key
    assert problem in info.value.problem


def test_database_url_from_the_environment_is_named_as_such_and_its_password_never_shown():
    with pytest.raises(ConfigError) as info:
        load_settings(env={"SHWATCH_DATABASE_URL": "mysql://admin:hunter2@db/x"})
    assert (info.value.file, info.value.key) == ("(environment)", "SHWATCH_DATABASE_URL")
    assert "hunter2" not in str(info.value)


EVERY_COMMAND = [
    ["poll", "--once"], ["poll", "--once", "--json"], ["poll"], ["sources"], ["sources", "check"],
    ["sources", "check", "x"], ["match", "text"], ["match", "--json", "--file", "-"], ["run"],
    ["digest", "--chat", "1"], ["db", "upgrade"],
]


@pytest.mark.parametrize("how", ["--config", "SHWATCH_CONFIG"])
@pytest.mark.parametrize("command", EVERY_COMMAND, ids=" ".join)
def test_every_command_reports_a_bad_config_in_one_line_with_exit_2(tmp_path: Path, command: list[str], how: str):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[[sources]]\nid = \"x\"\nurl = \"http://a/\"\ninterval = -5\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHWATCH_", "TELEGRAM_", "WECOM_"))}
    args = [str(SHWATCH), *command]
    if how == "--config":
        args[1:1] = ["--config", str(cfg)]
    else:
        env["SHWATCH_CONFIG"] = str(cfg)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, input="")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"shwatch: configuration error: {cfg}: sources[0].interval: must be positive, got -5"
    ]
    assert not (tmp_path / "var").exists()  # nothing was started, not even the database


def test_wecom_robot_repr_hides_its_webhook_key(tmp_path: Path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('[[wecom.robots]]\nname = "team"\nkey = "robotkey-0123456789"\n', encoding="utf-8")
    settings = load_settings(cfg, env={})
    robot = settings.wecom.robots[0]
    assert robot.url.endswith("/cgi-bin/webhook/send?key=robotkey-0123456789")
    assert "robotkey-0123456789" not in repr(settings)


def test_wecom_api_base_url_must_be_http(tmp_path: Path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('[wecom]\napi_base_url = "qyapi.weixin.qq.com"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.key == "wecom.api_base_url"
    assert "not an http(s) URL" in info.value.problem

"""The [wecom] section: robots by key or url, api_base_url, the app's switch, bad values."""

from __future__ import annotations

import os
import subprocess

import pytest
from shwatch_run import SHWATCH

from config.settings import ConfigError, settings_from_mapping

AES = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def wecom(section: dict, env: dict | None = None):
    return settings_from_mapping({"wecom": section}, "shwatch.toml", env or {}).wecom


def test_defaults_point_at_the_public_api_and_serve_nothing():
    w = wecom({})
    assert w.api_base_url == "https://qyapi.weixin.qq.com"
    assert (w.path, w.robots, w.app_enabled) == ("/wecom/callback", (), False)


def test_a_robot_by_key_uses_api_base_url_and_one_by_url_is_kept_as_given():
    w = wecom({
        "api_base_url": "http://127.0.0.1:9999/",
        "robots": [
            {"name": "ops", "key": "k-123", "topics": ["online_education"], "keywords": ["工业互联网"], "digest_time": "09:30"},
            {"name": "news", "url": "https://example.invalid/cgi-bin/webhook/send?key=k-456", "lang": "en"},
        ],
    })
    ops, news = w.robots
    assert ops.url == "http://127.0.0.1:9999/cgi-bin/webhook/send?key=k-123" and ops.key.reveal() == "k-123"
    assert (ops.topics, ops.keywords, ops.digest_time, ops.lang) == (("online_education",), ("工业互联网",), "09:30", "zh")
    assert news.url == "https://example.invalid/cgi-bin/webhook/send?key=k-456" and news.key is None and news.lang == "en"


def test_environment_overrides_the_base_url_and_secrets():
    env = {"WECOM_API_BASE_URL": "http://127.0.0.1:1/", "WECOM_SECRET": "from-env", "WECOM_TOKEN": "tok", "WECOM_ENCODING_AES_KEY": AES}
    w = wecom({"corp_id": "ww1", "agent_id": 1000002, "robots": [{"key": "k"}]}, env)
    assert w.api_base_url == "http://127.0.0.1:1/" and w.robots[0].url.startswith("http://127.0.0.1:1/cgi-bin/webhook/send?key=")
    assert w.app_enabled and w.secret.reveal() == "from-env"


@pytest.mark.parametrize("missing", ["corp_id", "agent_id", "secret", "token", "encoding_aes_key"])
def test_the_app_needs_all_five_settings(missing):
    full = {"corp_id": "ww1", "agent_id": 1000002, "secret": "s", "token": "t", "encoding_aes_key": AES}
    del full[missing]
    assert not wecom(full).app_enabled


@pytest.mark.parametrize(
    "section,key",
    [
        ({"robots": [{"name": "ops"}]}, "robots[0].key"),
        ({"robots": [{"key": "k", "digest_time": "25:00"}]}, "robots[0].digest_time"),
        ({"robots": [{"key": "k", "lang": "fr"}]}, "robots[0].lang"),
        ({"robots": [{"key": "k", "colour": "red"}]}, "colour"),
        ({"encoding_aes_key": "too-short-secret-aes"}, "encoding_aes_key"),
        ({"path": "wecom"}, "path"),
        ({"port": 70000}, "port"),
        ({"msgtype": "news"}, "msgtype"),
        ({"msgtype": 1}, "msgtype"),
        ({"member_per_minute": 0}, "member_per_minute"),
        ({"member_per_hour": -1}, "member_per_hour"),
    ],
)
def test_bad_values_name_the_key_and_never_the_secret(section, key):
    with pytest.raises(ConfigError) as info:
        wecom(section)
    message = str(info.value)
    assert key in message and "shwatch.toml" in message
    assert "too-short-secret-aes" not in message


def test_app_message_type_and_member_limits_default_to_markdown_and_wecoms_limits():
    w = wecom({})
    assert (w.msgtype, w.member_per_minute, w.member_per_hour) == ("markdown", 30, 1000)
    w = wecom({"msgtype": "text", "member_per_minute": 5, "member_per_hour": 50})
    assert (w.msgtype, w.member_per_minute, w.member_per_hour) == ("text", 5, 50)


def test_a_bad_msgtype_is_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "shwatch.toml"
    cfg.write_text('[wecom]\nmsgtype = "html"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHWATCH_", "TELEGRAM_", "WECOM_"))}
    proc = subprocess.run([str(SHWATCH), "--config", str(cfg), "sources"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"shwatch: configuration error: {cfg}: wecom.msgtype: must be \"markdown\" or \"text\", got 'html'"
    ]

"""The [web] settings: defaults, a file's values, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings


def test_web_defaults_serve_this_machine_only():
    web = load_settings(env={}).web
    assert (web.enabled, web.host, web.port, web.base_url) == (True, "127.0.0.1", 8080, None)


def test_web_section_from_a_file(tmp_path: Path):
    cfg = tmp_path / "web.toml"
    cfg.write_text(
        '[web]\nenabled = false\nhost = "0.0.0.0"\nport = 9090\nbase_url = "https://news.example.org/shwatch/"\n',
        encoding="utf-8",
    )
    web = load_settings(cfg, env={}).web
    assert (web.enabled, web.host, web.port) == (False, "0.0.0.0", 9090)
    assert web.base_url == "https://news.example.org/shwatch"  # no trailing slash: paths are appended


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[web]\nport = 70000\n", "web.port", "must be 0-65535"),
        ("[web]\nport = \"8080\"\n", "web.port", "must be an integer"),
        ("[web]\nenabled = \"yes\"\n", "web.enabled", "must be true or false"),
        ("[web]\nbase_url = \"news.example.org\"\n", "web.base_url", "is not an http(s) URL"),
        ("[web]\nhost = \" \"\n", "web.host", "must not be empty"),
        ("[web]\nbind = \"0.0.0.0\"\n", "web.bind", "unknown key"),
    ],
)
def test_bad_web_settings_name_the_key(tmp_path: Path, text: str, key: str, problem: str):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert info.value.key == key
    assert problem in info.value.problem

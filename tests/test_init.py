"""The first hour at the terminal: `shwatch init`, where the config is found, global options
before or after the command, and one clear line for each mistake."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tomllib
from pathlib import Path

from shwatch_run import SHWATCH

from bot.cli.init import STARTER
from config.model import (
    ConsoleSettings,
    DigestSettings,
    FetchSettings,
    ServiceSettings,
    Settings,
    TelegramSettings,
    WebSettings,
    WeComSettings,
)
from config.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHWATCH_")}
    return subprocess.run([str(SHWATCH), *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def test_the_starter_config_names_every_setting_and_loads_to_the_defaults(tmp_path):
    written = tmp_path / "shwatch.toml"
    written.write_text(STARTER, encoding="utf-8")
    loaded, defaults = load_settings(written, env={}), load_settings(None, env={})
    for section in ("fetch", "telegram", "wecom", "digest", "web", "console", "service"):
        assert getattr(loaded, section) == getattr(defaults, section), section
    assert (loaded.database_url, loaded.timezone, loaded.max_age_days) == (defaults.database_url, defaults.timezone, defaults.max_age_days)
    # every key of the settings model appears (set or commented out with what to put there)
    text = STARTER
    models = {"": Settings, "fetch": FetchSettings, "telegram": TelegramSettings, "wecom": WeComSettings,
              "digest": DigestSettings, "web": WebSettings, "console": ConsoleSettings, "service": ServiceSettings}
    skip = {"sources", "topics", "relevance", "config_path", "fetch", "telegram", "wecom", "digest", "web", "console", "service", "robots"}
    for section, model in models.items():
        for f in dataclasses.fields(model):
            if f.name not in skip:
                assert f"{f.name} = " in text, f"[{section}] {f.name} is missing from the starter config"
    assert "topics_file" in text and "[[sources]]" in text and "[[wecom.robots]]" in text
    tomllib.loads(STARTER)  # valid TOML as written


def test_the_example_config_in_the_repository_is_the_starter():
    assert (REPO / "shwatch.example.toml").read_text(encoding="utf-8") == STARTER


def test_init_writes_once_and_says_what_next(tmp_path):
    first = _run("init", cwd=tmp_path)
    assert first.returncode == 0 and "shwatch poll --once" in first.stdout
    assert (tmp_path / "shwatch.toml").read_text(encoding="utf-8") == STARTER
    (tmp_path / "shwatch.toml").write_text("# mine\n", encoding="utf-8")
    again = _run("init", cwd=tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "shwatch.toml").read_text(encoding="utf-8") == "# mine\n"
    assert _run("init", "--force", cwd=tmp_path).returncode == 0


def test_a_shwatch_toml_in_the_working_directory_is_the_config(tmp_path):
    (tmp_path / "shwatch.toml").write_text("max_age_days = -1\n", encoding="utf-8")
    proc = _run("sources", cwd=tmp_path)
    assert proc.returncode == 2 and "shwatch.toml" in proc.stderr and "max_age_days" in proc.stderr


def test_global_options_work_after_the_command_too(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n", encoding="utf-8")
    after = _run("match", "--config", str(bad), "在线教育", cwd=tmp_path)
    assert after.returncode == 2 and "bad.toml" in after.stderr  # the path was not taken as the text
    version = _run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("shwatch ")
    quiet = _run("match", "-q", "在线教育", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_mistakes_at_the_terminal_are_one_clear_line(tmp_path):
    empty = _run("match", "", cwd=tmp_path)
    assert empty.returncode == 2 and "the text is empty" in empty.stderr
    db = _run("db", cwd=tmp_path)
    assert db.returncode == 2 and "shwatch db upgrade" in db.stderr
    typo = tmp_path / "nonexistent" / "dir" / "x.db"
    env_url = f"sqlite+aiosqlite:///{typo}"
    cfg = tmp_path / "typo.toml"
    cfg.write_text(f'database_url = "{env_url}"\n', encoding="utf-8")
    proc = _run("--config", str(cfg), "sources", cwd=tmp_path)
    assert proc.returncode == 1 and f"{typo.parent} does not exist" in proc.stderr
    assert "Error" not in proc.stderr  # said in words, not by an exception's class name
    assert len(proc.stderr.strip().splitlines()) == 1 and not typo.parent.exists()  # nothing created

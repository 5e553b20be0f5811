"""`shwatch match` through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from shwatch_run import SHWATCH


def shwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHWATCH_", "TELEGRAM_", "WECOM_"))}
    return subprocess.run(
        [str(SHWATCH), *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env, encoding="utf-8"
    )


def test_json_for_a_text_argument(tmp_path: Path):
    proc = shwatch("match", "--json", "推进“无接触”配送和互联网医院, 5G 大数据 直播; Robotaxis", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert list(data) == ["topics", "mentions", "matched", "scores"]
    assert data["topics"] == ["contactless_delivery", "new_mobility", "online_healthcare"]
    assert data["mentions"] == []
    assert data["matched"] == {
        "contactless_delivery": ["无接触配送"],
        "new_mobility": ["Robotaxi"],
        "online_healthcare": ["互联网医院"],
    }
    assert set(data["scores"]) == set(data["topics"])
    assert all(0.5 <= v <= 1 for v in data["scores"].values())
    assert "无接触配送" in lines[0]  # ensure_ascii=False


def test_json_separates_topics_from_mentions(tmp_path: Path):
    text = "互联网医院开通在线问诊服务,患者在线复诊。\n医院还与无人配送团队合作。"
    proc = shwatch("match", "--json", text, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["topics"] == ["online_healthcare"]
    assert data["mentions"] == ["contactless_delivery"]
    assert data["matched"] == {"online_healthcare": ["互联网医院", "在线复诊", "在线问诊"], "contactless_delivery": ["无人配送"]}
    assert 1 > data["scores"]["online_healthcare"] > data["scores"]["contactless_delivery"] > 0


def test_json_for_a_file_in_utf8_and_gb18030(tmp_path: Path):
    text = "上海在线新经济：无人工厂、在线教育。"
    for encoding in ("utf-8", "gb18030"):
        path = tmp_path / f"article-{encoding}.txt"
        path.write_bytes(text.encode(encoding))
        proc = shwatch("match", "--json", "--file", str(path), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["topics"] == ["plan", "unmanned_factory", "online_education"]
        assert data["matched"]["online_education"] == ["在线教育"]


def test_no_match_is_an_empty_object(tmp_path: Path):
    proc = shwatch("match", "--json", "人工智能 平台 5G", cwd=tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"topics": [], "mentions": [], "matched": {}, "scores": {}}


def test_human_output_names_topics_and_terms(tmp_path: Path):
    proc = shwatch("match", "telemedicine and e-learning", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for expected in ("online_education", "在线教育", "Online education", "e-learning",
                     "online_healthcare", "在线医疗", "telemedicine"):
        assert expected in proc.stdout


def test_uses_the_configured_topics(tmp_path: Path):
    (tmp_path / "topics.toml").write_text(
        '[[topics]]\nid = "chips"\nname_zh = "芯片"\nname_en = "Chips"\nzh = ["集成电路"]\nen = ["semiconductor"]\n',
        encoding="utf-8",
    )
    (tmp_path / "cfg.toml").write_text('topics_file = "topics.toml"\n', encoding="utf-8")
    proc = shwatch("--config", str(tmp_path / "cfg.toml"), "match", "--json", "集成电路 semiconductors 无人工厂", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["topics"] == ["chips"]
    assert data["matched"] == {"chips": ["semiconductor", "集成电路"]}


@pytest.mark.parametrize("make_path", [lambda d: d / "missing.txt", lambda d: d])
def test_unreadable_file_is_one_line_and_exit_2(tmp_path: Path, make_path):
    path = make_path(tmp_path)
    proc = shwatch("match", "--json", "--file", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(path) in proc.stderr

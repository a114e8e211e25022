"""Settings precedence (explicit value > environment > yijian.yaml > defaults) and `yijian config`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigFileError, Settings, describe


@pytest.fixture
def yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "yijian.yaml"
    path.write_text("search: embedded\nes_index_prefix: from-file\nocr_enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("YIJIAN_CONFIG", str(path))
    for name in ("YIJIAN_SEARCH", "YIJIAN_ES_INDEX_PREFIX", "YIJIAN_OCR_ENABLED", "YIJIAN_ES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_environment_beats_file(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIJIAN_SEARCH", "elasticsearch")
    settings = Settings()
    assert settings.search == "elasticsearch"
    assert settings.es_index_prefix == "from-file"  # the file still counts where the environment is silent
    assert settings.ocr_enabled is False


def test_file_beats_default_and_explicit_beats_environment(
    yaml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().es_index_prefix == "from-file"
    assert Settings().es_url == "http://localhost:9200"  # default
    monkeypatch.setenv("YIJIAN_ES_INDEX_PREFIX", "from-env")
    assert Settings().es_index_prefix == "from-env"
    assert Settings(es_index_prefix="from-flag").es_index_prefix == "from-flag"


def test_describe_names_origins_and_masks_secrets(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIJIAN_SEARCH", "elasticsearch")
    monkeypatch.setenv("YIJIAN_ES_PASSWORD", "correct-horse-battery")
    rows = {r["name"]: r for r in describe(data_dir=Path("/tmp/flagged"))}
    assert rows["data_dir"]["origin"] == "flag"
    assert rows["search"] == {**rows["search"], "value": "elasticsearch", "origin": "environment"}
    assert rows["es_index_prefix"]["origin"] == "file"
    assert rows["es_url"]["origin"] == "default"
    assert rows["es_password"]["value"] != "correct-horse-battery"
    assert "correct-horse" not in json.dumps(rows, ensure_ascii=False)
    assert all(r["description"] for r in rows.values()), "every setting is documented"


def test_bad_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "yijian.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    monkeypatch.setenv("YIJIAN_CONFIG", str(path))
    with pytest.raises(ConfigFileError, match="mapping"):
        Settings()


def test_cli_config_json(yaml_file: Path, tmp_path: Path) -> None:
    env = {"YIJIAN_CONFIG": str(yaml_file), "YIJIAN_SEARCH": "elasticsearch", "YIJIAN_ES_API_KEY": "k" * 20}
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "config", "--json", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["name"]: r for r in data["settings"]}
    assert data["config_file"] == str(yaml_file)
    assert (rows["search"]["value"], rows["search"]["origin"]) == ("elasticsearch", "environment")
    assert rows["data_dir"]["origin"] == "flag"
    assert "k" * 20 not in proc.stdout

from pathlib import Path

import pytest

from mediaserver.config import load_settings
from mediaserver.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_file_loads_and_matches_the_models():
    settings = load_settings(ROOT / "configs" / "fusionhub.yaml")
    assert settings.http.port == 8080
    assert settings.rtsp.port == 8554
    assert settings.auth.mode == "jwt"
    assert settings.redis.url is None
    assert settings.recording.segment == 60 and settings.recording.default.mode == "off"


def test_environment_overrides_the_file(monkeypatch):
    monkeypatch.setenv("FUSIONHUB_HTTP__PORT", "8081")
    monkeypatch.setenv("FUSIONHUB_AUTH__MODE", "none")
    monkeypatch.setenv("FUSIONHUB_DATA_DIR", "/srv/fh")
    settings = load_settings(ROOT / "configs" / "fusionhub.yaml")
    assert settings.http.port == 8081
    assert settings.auth.mode == "none"
    assert str(settings.data_dir) == "/srv/fh"


@pytest.mark.parametrize("text, key", [
    ("http: {prot: 1}\n", "http.prot"),
    ("rtsp: {port: 99999}\n", "rtsp.port"),
    ("sources: [{id: 'bad id'}]\n", "sources.0.id"),
    ("auth: {mode: open}\n", "auth.mode"),
])
def test_wrong_config_names_the_key(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert key in str(err.value)


def test_wrong_environment_value_names_the_key(monkeypatch):
    monkeypatch.setenv("FUSIONHUB_RTSP__PORT", "eighty")
    with pytest.raises(ConfigError, match="rtsp.port"):
        load_settings()

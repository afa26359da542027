"""config.example.toml documents every setting, and loads."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from hub.errors import OperatorMustAct
from hub.settings import Secret, Settings, load_settings

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def _keys(cls: type, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type) or isinstance(f.default_factory, type):
            inner = f.default_factory  # type: ignore[misc]
            if dataclasses.is_dataclass(inner):
                found |= _keys(inner, f"{prefix}{f.name}.")
                continue
        found.add(prefix + f.name)
    return found


def _flatten(table: dict, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            found |= _flatten(value, f"{prefix}{key}.")
        else:
            found.add(prefix + key)
    return found


def test_example_documents_every_key_and_loads() -> None:
    documented = _flatten(tomllib.loads(EXAMPLE.read_text()))
    assert documented == _keys(Settings)
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_environment_overrides_file_and_converts_types() -> None:
    settings = load_settings(EXAMPLE, environ={
        "TAXICONNECT_HTTP_PORT": "9090",
        "TAXICONNECT_REDIS_URL": "redis://user:pw@redis.internal:6379/0",
        "TAXICONNECT_CONSOLE_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "TAXICONNECT_CONSOLE_COOKIE_SECURE": "yes",
    })
    assert settings.http.port == 9090
    assert settings.console.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.console.cookie_secure is True
    assert isinstance(settings.redis.url, Secret)
    assert "pw" not in repr(settings)


def test_unknown_key_and_bad_value_fail_start_up_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[redis]\nurll = 'x'\n")
    with pytest.raises(OperatorMustAct, match="urll"):
        load_settings(bad, environ={})
    with pytest.raises(OperatorMustAct, match="TAXICONNECT_HTTP_PORT"):
        load_settings(None, environ={"TAXICONNECT_HTTP_PORT": "eighty"})

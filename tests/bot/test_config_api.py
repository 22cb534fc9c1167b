"""The ``[api]`` table: validated by the API plugin's model, one line per problem, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.http import ApiSettings
from bot.config import load_config
from core.errors import ConfigError


def load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_the_api_table_enables_the_api_adapter(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[api]\nenabled = true\nport = 9000\nbase_path = "/bot/"\n')
    settings = load_config(path, environ={})
    assert settings.enabled_adapters() == ["api", "console"]
    api = settings.adapter_settings("api")
    assert isinstance(api, ApiSettings)
    assert (api.port, api.base_path, api.listen, api.max_body_bytes) == (
        9000,
        "/bot",
        "127.0.0.1",
        1 << 20,
    )


def test_the_environment_reaches_the_api_table() -> None:
    environ = {"SESSIONBOT_API__ENABLED": "true", "SESSIONBOT_API__PORT": "9100"}
    settings = load_config(None, environ=environ)
    assert "api" in settings.enabled_adapters()
    assert settings.adapter_settings("api").port == 9100  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[api]\nport = 70000\n", "api.port: input should be less than or equal to 65535"),
        ("[api]\nmax_body_bytes = 10\n", "api.max_body_bytes: input should be greater than"),
        ('[api]\nbase_path = "a b"\n', "api.base_path: 'a b' is not a URL path"),
        ('[api]\ncors_origins = ["ftp://x"]\n', "api.cors_origins: 'ftp://x' is not an origin"),
        ("[api]\nlisten_on = 1\n", "api.listen_on: unknown key"),
        (
            "[adapters.api]\nenabled = true\n",
            "adapters.api: the api adapter is configured in [api]",
        ),
    ],
)
def test_bad_api_values_get_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)

"""Settings come from the environment only, and a bad value names the variable to fix."""

from __future__ import annotations

import pytest

from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError
from tests.conftest import TOOL_NAMES
from tests.helpers import text_of


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {},
            {
                "server_url": "https://api.polar.sh",
                "environment": "production",
                "access_token": None,
                "api_version": None,
                "timeout": 30.0,
                "demo": False,
                "snapshot_ttl": 300.0,
                "snapshot_max": 250_000,
                "snapshot_max_mb": 100,
            },
        ),
        (
            {"POLAR_SERVER": "sandbox"},
            {"server_url": "https://sandbox-api.polar.sh", "environment": "sandbox"},
        ),
        ({"POLAR_SERVER": " Sandbox "}, {"environment": "sandbox"}),
        (
            {"POLAR_SERVER": "sandbox", "POLAR_SERVER_URL": "http://127.0.0.1:8123/"},
            {"server_url": "http://127.0.0.1:8123", "environment": "sandbox"},
        ),
        ({"POLAR_ACCESS_TOKEN": " polar_oat_abc "}, {"access_token": "polar_oat_abc"}),
        ({"POLAR_API_VERSION": "2026-10"}, {"api_version": "2026-10"}),
        ({"POLAR_TIMEOUT": "2.5"}, {"timeout": 2.5}),
        ({"POLAR_MCP_DEMO": "1"}, {"demo": True}),
        ({"POLAR_MCP_SNAPSHOT_TTL": "60"}, {"snapshot_ttl": 60.0}),
        ({"POLAR_MCP_SNAPSHOT_TTL": "0"}, {"snapshot_ttl": 0.0}),
        ({"POLAR_MCP_SNAPSHOT_MAX": "1000000"}, {"snapshot_max": 1_000_000}),
        ({"POLAR_MCP_SNAPSHOT_MAX_MB": "400"}, {"snapshot_max_mb": 400}),
    ],
)
def test_reads_each_variable(environ: dict[str, str], expected: dict[str, object]) -> None:
    settings = Settings.from_env(environ)
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"POLAR_SERVER": "staging"}, "POLAR_SERVER"),
        ({"POLAR_SERVER_URL": "api.polar.sh"}, "POLAR_SERVER_URL"),
        ({"POLAR_TIMEOUT": "soon"}, "POLAR_TIMEOUT"),
        ({"POLAR_TIMEOUT": "0"}, "POLAR_TIMEOUT"),
        ({"POLAR_TIMEOUT": "nan"}, "POLAR_TIMEOUT"),
        ({"POLAR_MCP_SNAPSHOT_TTL": "five minutes"}, "POLAR_MCP_SNAPSHOT_TTL"),
        ({"POLAR_MCP_SNAPSHOT_TTL": "-1"}, "POLAR_MCP_SNAPSHOT_TTL"),
        ({"POLAR_MCP_SNAPSHOT_TTL": "inf"}, "POLAR_MCP_SNAPSHOT_TTL"),
        ({"POLAR_MCP_SNAPSHOT_MAX": "lots"}, "POLAR_MCP_SNAPSHOT_MAX"),
        ({"POLAR_MCP_SNAPSHOT_MAX": "2.5"}, "POLAR_MCP_SNAPSHOT_MAX"),
        ({"POLAR_MCP_SNAPSHOT_MAX": "0"}, "POLAR_MCP_SNAPSHOT_MAX"),
        ({"POLAR_MCP_SNAPSHOT_TTL": "86401"}, "POLAR_MCP_SNAPSHOT_TTL"),
        ({"POLAR_MCP_SNAPSHOT_MAX": "10000001"}, "POLAR_MCP_SNAPSHOT_MAX"),
        ({"POLAR_MCP_SNAPSHOT_MAX_MB": "lots"}, "POLAR_MCP_SNAPSHOT_MAX_MB"),
        ({"POLAR_MCP_SNAPSHOT_MAX_MB": "0"}, "POLAR_MCP_SNAPSHOT_MAX_MB"),
        ({"POLAR_MCP_SNAPSHOT_MAX_MB": "10001"}, "POLAR_MCP_SNAPSHOT_MAX_MB"),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(environ)


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLAR_SERVER", "sandbox")
    assert Settings.from_env().environment == "sandbox"


def test_repr_never_shows_the_token() -> None:
    settings = Settings(access_token="polar_oat_secret_value")
    assert "polar_oat_secret_value" not in repr(settings)


@pytest.mark.parametrize(
    ("settings", "label"),
    [
        (Settings(), "Polar production (https://api.polar.sh)"),
        (
            Settings(environment="sandbox", server_url="https://sandbox-api.polar.sh"),
            "Polar sandbox (https://sandbox-api.polar.sh)",
        ),
        (Settings(server_url="http://127.0.0.1:9"), "the Polar API at http://127.0.0.1:9"),
        (Settings(demo=True), "the demo organization"),
    ],
)
def test_environment_label_names_where_requests_go(settings: Settings, label: str) -> None:
    assert settings.environment_label == label


@pytest.mark.anyio
async def test_server_built_from_a_bad_environment_still_lists_and_explains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcp import Client

    from polar_mcp.startup import server_from, start

    monkeypatch.setenv("POLAR_SERVER", "staging")
    async with Client(server_from(start())) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == TOOL_NAMES
        result = await client.call_tool("list_customers", {})
    assert result.is_error and "POLAR_SERVER must be 'production' or 'sandbox'" in text_of(result)


TOKEN = "polar_oat_AbCdEfGh1234567890"
OPAQUE = "Zm9vYmFyYmF6cXV4cXV1eHh5enp5"  # a secret without the polar_ prefix: long, so never shown


@pytest.mark.parametrize(
    ("environ", "variable", "secret"),
    [
        ({"POLAR_SERVER": TOKEN}, "POLAR_SERVER", TOKEN),
        ({"POLAR_SERVER": OPAQUE}, "POLAR_SERVER", OPAQUE),
        ({"POLAR_SERVER_URL": f"https://api.polar.sh/{TOKEN}"}, "POLAR_SERVER_URL", TOKEN),
        ({"POLAR_SERVER_URL": TOKEN}, "POLAR_SERVER_URL", TOKEN),
        ({"POLAR_SERVER_URL": f"https://user:{OPAQUE}@api.polar.sh"}, "POLAR_SERVER_URL", OPAQUE),
        ({"POLAR_SERVER_URL": f"https://api.polar.sh?key={OPAQUE}"}, "POLAR_SERVER_URL", OPAQUE),
        ({"POLAR_SERVER_URL": f"ftp://{OPAQUE}"}, "POLAR_SERVER_URL", OPAQUE),
        ({"POLAR_SERVER_URL": f"https://api.polar.sh\r\nX-Evil: {OPAQUE}"}, "POLAR_SERVER_URL", OPAQUE),
        ({"POLAR_SERVER_URL": f"https://api.polar.sh:{OPAQUE}"}, "POLAR_SERVER_URL", OPAQUE),
        ({"POLAR_TIMEOUT": TOKEN}, "POLAR_TIMEOUT", TOKEN),
        ({"POLAR_TIMEOUT": OPAQUE}, "POLAR_TIMEOUT", OPAQUE),
        ({"POLAR_API_VERSION": TOKEN}, "POLAR_API_VERSION", TOKEN),
        (
            {
                "POLAR_ACCESS_TOKEN": "Zm9vYmFyYmF6cXV4",
                "POLAR_SERVER_URL": "https://Zm9vYmFyYmF6cXV4.example",
            },
            "POLAR_SERVER_URL",
            "Zm9vYmFyYmF6cXV4",
        ),
        ({"POLAR_ACCESS_TOKEN": f"{TOKEN}\r\nX-Injected: 1"}, "POLAR_ACCESS_TOKEN", TOKEN),
        ({"POLAR_ACCESS_TOKEN": f"{TOKEN[:10]} {TOKEN[10:]}"}, "POLAR_ACCESS_TOKEN", TOKEN[10:]),
    ],
)
def test_settings_that_may_hold_a_secret_are_refused_without_echoing_it(
    environ: dict[str, str], variable: str, secret: str
) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        Settings.from_env(environ)
    assert secret not in str(caught.value) and secret.lower() not in str(caught.value).lower()


@pytest.mark.parametrize(
    ("environ", "shown"),
    [({"POLAR_SERVER": "staging"}, "'staging'"), ({"POLAR_TIMEOUT": "30s"}, "'30s'")],
)
def test_short_harmless_values_are_still_quoted(environ: dict[str, str], shown: str) -> None:
    with pytest.raises(ConfigError, match=shown):
        Settings.from_env(environ)


def test_timeout_has_an_upper_bound() -> None:
    with pytest.raises(ConfigError, match="at most 300"):
        Settings.from_env({"POLAR_TIMEOUT": "1e9"})

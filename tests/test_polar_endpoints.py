"""Each Polar operation's path: an identifier is one path segment, whatever it holds."""

from __future__ import annotations

import httpx
import pytest

from polar_mcp.polar.endpoints import customer_state_endpoint


@pytest.mark.parametrize(
    ("external_id", "path"),
    [
        (".", "/v1/customers/external/%2E/state"),
        ("..", "/v1/customers/external/%2E%2E/state"),
        ("a/b c?d#é", "/v1/customers/external/a%2Fb%20c%3Fd%23%C3%A9/state"),
        ("...", "/v1/customers/external/.../state"),
        ("usr_42", "/v1/customers/external/usr_42/state"),
    ],
)
def test_an_external_id_is_one_segment_that_no_dot_segment_rule_removes(external_id: str, path: str) -> None:
    endpoint = customer_state_endpoint(external_id=external_id)
    assert endpoint.path == path
    sent = httpx.Client(base_url="https://api.polar.sh").build_request("GET", endpoint.path)
    assert sent.url.raw_path.decode() == path

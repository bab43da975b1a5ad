"""Every concise row names its customer well enough for get_customer to fetch it, from the text alone."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from polar_mcp.demo.fake import FakePolar
from tests.conftest import make_server
from tests.helpers import text_of
from tests.test_list_customers import parse_row

pytestmark = pytest.mark.anyio


def lookup_from_row(row: dict[str, str]) -> tuple[str, str]:
    """What a model reading the row passes to fetch that customer: the id when the row gives one,
    else the email, else the external ID."""
    for key in ("id", "email", "external_id"):
        if row.get(key):
            return key, row[key]
    raise AssertionError(f"the row names no customer: {row}")


async def fetch(client: Client, key: str, value: str) -> str:
    """The id of the customer that get_customer returns for the row's identifier."""
    result = await client.call_tool("get_customer", {key: value})
    assert not result.is_error, text_of(result)
    customer_id: str = result.structured_content["customer"]["id"]
    return customer_id


@pytest.mark.parametrize("limit", [10, 100])
async def test_every_row_of_a_page_leads_back_to_its_customer(fake: FakePolar, limit: int) -> None:
    fake.customers[0].update(email=None, external_id=None, type="team")
    fake.customers[1].update(email=None, external_id="acct 9", type="team")
    fake.customers[2].update(email=None, external_id="acct  10")  # not shown verbatim: the id joins it
    fake.customers[3].update(external_id=None)
    server = make_server(fake)
    with anyio.fail_after(30):
        async with Client(server) as client:
            page = await client.call_tool("list_customers", {"limit": limit, "sorting": ["created_at"]})
            lines = text_of(page).splitlines()
            rows = [parse_row(line) for line in lines[2:] if not line.startswith("next: ")]
            expected = [c["id"] for c in page.structured_content["customers"]]
            assert len(rows) == len(expected) == limit
            kinds = set()
            for row, customer_id in zip(rows, expected, strict=True):
                key, value = lookup_from_row(row)
                kinds.add(key)
                assert await fetch(client, key, value) == customer_id, row
    assert kinds == {"id", "email", "external_id"}

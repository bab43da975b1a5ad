"""A snapshot is bounded in bytes, not only rows: long rows are left out, all snapshots together fit a
budget (least recently used first), their number is capped, and exports are asked for at a bounded rate."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import anyio
import httpx
import pytest

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.fake_export import EXPORT_HEADER
from polar_mcp.demo.organization import DEMO_ORGANIZATION_ID, sample_customers
from polar_mcp.errors import ExportsThrottled, SnapshotTooLarge
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import MAX_RECORD_CHARS, ExportedCustomer, ExportParser
from polar_mcp.snapshots import store as store_module
from polar_mcp.snapshots.store import EXPORT_WINDOW, MAX_EXPORTS, SnapshotStore

pytestmark = pytest.mark.anyio

ORGS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(MAX_EXPORTS + 2)]
HEADER = ",".join(EXPORT_HEADER) + "\r\n"


def row(customer_id: str, metadata: str = "{}", name: str = "Ada") -> str:
    fields = {
        "ID": customer_id,
        "Created At": "2026-01-02T03:04:05+00:00",
        "Name": name,
        "Metadata": metadata,
    }
    out = io.StringIO()
    csv.writer(out).writerow([fields.get(column, "") for column in EXPORT_HEADER])
    return out.getvalue()


def parse(body: bytes, piece: int = 65_536) -> tuple[list[ExportedCustomer], ExportParser]:
    parser = ExportParser()
    rows: list[ExportedCustomer] = []
    for start in range(0, len(body), piece):
        rows += parser.feed(body[start : start + piece])
    rows += parser.finish()
    return rows, parser


def test_a_row_longer_than_any_record_is_left_out_and_the_rest_is_read() -> None:
    huge = row("c2", name="x" * 1_000_000)
    body = (HEADER + row("c1") + huge + row("c3")).encode()
    rows, parser = parse(body, piece=10_000)
    assert [r.id for r in rows] == ["c1", "c3"]
    assert parser.stats.malformed == 1 and parser.stats.bytes == len(body)
    assert len(huge) > MAX_RECORD_CHARS


def test_metadata_nested_thousands_deep_is_unreadable_not_fatal() -> None:
    deep = "[" * 30_000 + "]" * 30_000  # within a record's length, far beyond any parser's depth
    rows, parser = parse((HEADER + row("c1", metadata=json.dumps({"a": 1})[:-1] + f',"b":{deep}}}')).encode())
    assert [r.id for r in rows] == ["c1"] and rows[0].metadata is None
    assert parser.stats.unreadable_metadata == 1


def fake_with(count: int) -> FakePolar:
    return FakePolar(sample_customers(count, organization_id=DEMO_ORGANIZATION_ID))


def choice(n: int) -> list[str]:
    """The n-th organization choice: a snapshot of its own, though the token sees one organization."""
    return [DEMO_ORGANIZATION_ID, ORGS[n]]


def store_for(fake: FakePolar, clock: list[float] | None = None, **settings: Any) -> SnapshotStore:
    config = Settings(access_token=DEFAULT_TOKEN, **settings)
    polar = PolarClient(config, transport=httpx.MockTransport(fake))
    now = clock if clock is not None else [1_000_000.0]
    return SnapshotStore(config, polar, clock=lambda: now[0])


def exports(fake: FakePolar) -> int:
    return sum(request.url.path == "/v1/customers/export" for request in fake.requests)


async def test_an_export_larger_than_the_whole_budget_is_refused_naming_the_variable() -> None:
    fake = fake_with(8_000)  # about 1.5 MB of CSV
    with anyio.fail_after(30), pytest.raises(SnapshotTooLarge, match="POLAR_MCP_SNAPSHOT_MAX_MB"):
        await store_for(fake, snapshot_max_mb=1).get()


async def test_the_least_recently_used_snapshots_make_room_for_a_new_one() -> None:
    fake = fake_with(2_000)  # about 0.4 MB of CSV for each choice
    store = store_for(fake, snapshot_max_mb=1)
    with anyio.fail_after(30):
        first = await store.get(choice(0))
        await store.get(choice(1))
        await store.get(choice(0))  # used again: now choice 1 is the least recently used
        await store.get(choice(2))
        assert exports(fake) == 3
        assert await store.get(choice(0)) is first  # kept
        await store.get(choice(1))  # was made room for: taken again
    assert exports(fake) == 4


async def test_the_number_of_snapshots_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_SNAPSHOTS", 2)
    fake = fake_with(20)
    store = store_for(fake)
    with anyio.fail_after(30):
        for n in range(3):
            await store.get(choice(n))
        await store.get(choice(2))
        await store.get(choice(1))
        assert exports(fake) == 3
        await store.get(choice(0))
    assert exports(fake) == 4


async def test_exports_beyond_the_rate_bound_are_refused_with_when_to_retry() -> None:
    fake = fake_with(5)
    now = [1_000_000.0]
    store = store_for(fake, clock=now)
    with anyio.fail_after(30):
        for n in range(MAX_EXPORTS):
            await store.get(choice(n))
            now[0] += 1
        with pytest.raises(
            ExportsThrottled, match=f"Retry in {EXPORT_WINDOW - MAX_EXPORTS:.0f} seconds"
        ) as refused:
            await store.get(choice(MAX_EXPORTS))
        assert refused.value.retry_after == pytest.approx(EXPORT_WINDOW - MAX_EXPORTS)
        await store.get(choice(0))  # a kept snapshot costs no export
        now[0] += EXPORT_WINDOW
        await store.get(choice(MAX_EXPORTS))
    assert exports(fake) == MAX_EXPORTS + 1


async def test_export_batches_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polar_mcp.polar.client.EXPORT_BATCH_BYTES", 20_000)
    monkeypatch.setattr("polar_mcp.polar.client.EXPORT_PIECE_BYTES", 4_096)
    fake = fake_with(500)  # far fewer rows than a batch, far more bytes than the bound
    batches: list[int] = []

    async def sink(batch: list[ExportedCustomer]) -> None:
        batches.append(len(batch))

    config = Settings(access_token=DEFAULT_TOKEN)
    body = 0

    def progress(stats: Any) -> None:
        nonlocal body
        body = stats.bytes

    with anyio.fail_after(30):
        await PolarClient(config, transport=httpx.MockTransport(fake)).export_customers(
            sink, progress=progress
        )
    assert sum(batches) == 500 and len(batches) >= body // (20_000 + 4_096) >= 3


async def test_a_customer_listed_twice_in_the_export_is_one_customer() -> None:
    fake = fake_with(10)
    fake.customers.append(dict(fake.customers[0]))
    store = store_for(fake)
    with anyio.fail_after(30):
        snapshot = await store.get()
        answer = await snapshot.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM customers")
    assert snapshot.customers == 10 and answer.rows == [(10, 10)]
    assert snapshot.stats.problems() == "1 repeated row of a customer already listed counted once."

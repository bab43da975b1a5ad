"""The customer export: the fake writes it as Polar does, the parser reads it leniently as it streams,
and the client turns every failure into an actionable error."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import anyio
import httpx
import pytest

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault, Grant
from polar_mcp.demo.fake_export import EXPORT_HEADER
from polar_mcp.errors import (
    AuthError,
    InvalidResponse,
    PolarUnreachable,
    RateLimited,
    ScopeError,
    SnapshotTooLarge,
    UpstreamError,
)
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import COLUMNS, ExportedCustomer, ExportParser, ExportStats, NotCsv
from tests.helpers import ORG, OTHER_ORG, client_for


def get_export(fake: FakePolar, params: Any = None, token: str | None = DEFAULT_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="https://api.polar.sh") as client:
        return client.get("/v1/customers/export", params=params, headers=headers)


# --- the fake's export, as Polar's code writes it ---------------------------------------------------


def test_fake_export_is_excel_csv_with_polars_header_and_headers(fake: FakePolar) -> None:
    response = get_export(fake)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="polar-customers.csv"'
    body = response.content.decode("utf-8")
    assert body.startswith(",".join(EXPORT_HEADER) + "\r\n")
    assert body.endswith("\r\n") and "\r\n" in body
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == list(EXPORT_HEADER)
    assert len(rows) == 1 + len(fake.customers)


def test_fake_export_writes_each_value_as_polar_does(fake: FakePolar) -> None:
    customer = fake.customers[0]
    customer.update(
        created_at="2024-08-27T14:52:02.145620Z",
        tax_id=["FR61954506077", "eu_vat"],
        metadata={"plan": "pro", "seats": 5, "note": 'Müller, "quoted"\nline'},
        name='Zoë "Z" Lefèvre, Jr.',
        billing_address={
            "line1": "1 Rue",
            "line2": None,
            "city": "Lyon",
            "state": None,
            "postal_code": "69001",
            "country": "FR",
        },
    )
    fake.customers[1].update(created_at="2024-08-27T14:52:02.000000Z", metadata={}, tax_id=None)
    rows = {row[0]: row for row in csv.reader(io.StringIO(get_export(fake).text, newline=""))}
    row = dict(zip(EXPORT_HEADER, rows[customer["id"]], strict=True))
    assert row["Created At"] == "2024-08-27T14:52:02.145620+00:00"
    assert row["Tax ID"] == "('FR61954506077', <TaxIDFormat.eu_vat: 'eu_vat'>)"
    assert row["Metadata"] == json.dumps(customer["metadata"])  # default separators, ASCII escapes
    assert row["Name"] == 'Zoë "Z" Lefèvre, Jr.'
    assert (row["Billing Address City"], row["Billing Address Zip"], row["Billing Address Country"]) == (
        "Lyon",
        "69001",
        "FR",
    )
    other = dict(zip(EXPORT_HEADER, rows[fake.customers[1]["id"]], strict=True))
    assert other["Created At"] == "2024-08-27T14:52:02+00:00"  # isoformat() drops a zero fraction
    assert other["Metadata"] == other["Tax ID"] == ""


def test_fake_export_has_no_creation_order(fake: FakePolar) -> None:
    ids = [row[0] for row in csv.reader(io.StringIO(get_export(fake).text, newline=""))][1:]
    by_creation = [c["id"] for c in sorted(fake.customers, key=lambda c: c["created_at"])]
    assert sorted(ids) == sorted(by_creation) and ids != by_creation


def test_fake_export_authenticates_and_checks_scope(customers: list[dict[str, Any]]) -> None:
    fake = FakePolar(customers, tokens={"no-scope": Grant(ORG, frozenset({"products:read"}))})
    assert get_export(fake, token=None).status_code == 401
    assert get_export(fake, token="unknown").json()["error"] == "invalid_token"
    assert get_export(fake, token="no-scope").json()["error"] == "insufficient_scope"


def test_fake_export_accepts_only_repeated_organization_ids(fake: FakePolar) -> None:
    assert get_export(fake, {"organization_id": [ORG, OTHER_ORG]}).status_code == 200
    assert get_export(fake, {"organization_id": OTHER_ORG}).text.count("\r\n") == 1  # header only
    assert get_export(fake, {"limit": "10"}).status_code == 400
    invalid = get_export(fake, {"organization_id": "nope"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["query", "organization_id", 0]


def test_fake_export_replays_injected_faults(fake: FakePolar) -> None:
    fake.fail_next(Fault(status=503, body="<html>down</html>"))
    assert get_export(fake).status_code == 503
    assert get_export(fake).status_code == 200


# --- the parser -----------------------------------------------------------------------------------

HEADER = ",".join(EXPORT_HEADER) + "\r\n"
GOOD = 'c1,usr_1,2024-08-27T14:52:02.145620+00:00,Ada@Example.COM,Ada,,,,,,,GB,"{""plan"": ""pro""}"\r\n'


def parse_all(body: bytes, chunk: int) -> tuple[list[ExportedCustomer], ExportParser]:
    parser = ExportParser()
    rows: list[ExportedCustomer] = []
    for start in range(0, len(body), chunk):
        rows += parser.feed(body[start : start + chunk])
    rows += parser.finish()
    return rows, parser


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 10_000])
def test_parser_gives_the_same_rows_however_the_body_is_cut(fake: FakePolar, chunk: int) -> None:
    fake.customers[0].update(name='Line one\r\nline "two", three', metadata={"note": "a\nb"})
    body = get_export(fake).content
    rows, parser = parse_all(body, chunk)
    assert len(rows) == len(fake.customers) == parser.stats.customers
    assert parser.stats.malformed == 0
    first = next(r for r in rows if r.id == fake.customers[0]["id"])
    assert first.name == 'Line one\r\nline "two", three'
    assert json.loads(first.metadata or "") == {"note": "a b"}  # cleaned as every tool cleans JSON


def test_parser_normalises_each_column() -> None:
    body = (HEADER + GOOD).encode()
    (row,), _ = parse_all(body, 5)
    assert row._asdict() == {
        "id": "c1",
        "external_id": "usr_1",
        "created_at": "2024-08-27T14:52:02Z",
        "email": "Ada@Example.COM",
        "email_domain": "example.com",
        "name": "Ada",
        "tax_id": None,
        "address_line1": None,
        "address_line2": None,
        "city": None,
        "state": None,
        "postal_code": None,
        "country": "GB",
        "metadata": '{"plan":"pro"}',
    }


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2024-08-27T14:52:02.145620+00:00", "2024-08-27T14:52:02Z"),
        ("2024-08-27T14:52:02+00:00", "2024-08-27T14:52:02Z"),
        ("2024-08-27T16:52:02+02:00", "2024-08-27T14:52:02Z"),
        ("2024-08-27T14:52:02Z", "2024-08-27T14:52:02Z"),
        ("2024-08-27 14:52:02", "2024-08-27T14:52:02Z"),
    ],
)
def test_parser_reads_created_at_in_any_iso_spelling_as_utc(created_at: str, expected: str) -> None:
    (row,), _ = parse_all(
        (HEADER + GOOD.replace("2024-08-27T14:52:02.145620+00:00", created_at)).encode(), 64
    )
    assert row.created_at == expected


def test_parser_shortens_polars_tax_id_tuple_and_keeps_anything_else() -> None:
    tuple_text = "\"('DE123456789', <TaxIDFormat.eu_vat: 'eu_vat'>)\""
    body = HEADER + GOOD.replace("Ada,,", f"Ada,{tuple_text},") + GOOD.replace("Ada,,", "Ada,XY-1,")
    rows, _ = parse_all(body.encode(), 64)
    assert [r.tax_id for r in rows] == ["DE123456789 (eu_vat)", "XY-1"]


def test_parser_finds_columns_by_header_name_whatever_their_order() -> None:
    body = "Email,Created At,Future Column,ID\r\nx@y.org,2024-01-01T00:00:00+00:00,?,c9\r\n"
    (row,), _ = parse_all(body.encode(), 3)
    assert (row.id, row.email, row.email_domain, row.country) == ("c9", "x@y.org", "y.org", None)


def test_parser_counts_malformed_rows_and_never_stops() -> None:
    body = (
        HEADER
        + GOOD
        + "c2,too,few\r\n"  # wrong number of fields
        + GOOD.replace("c1,", ",")  # no ID
        + GOOD.replace("2024-08-27T14:52:02.145620+00:00", "yesterday")  # unreadable date
        + GOOD.replace('"{""plan"": ""pro""}"', "{not json")  # kept, without metadata
        + GOOD.replace('"{""plan"": ""pro""}"', '"[1, 2]"')  # metadata must be an object
        + "\r\n"  # a blank line is no row at all
        + GOOD.replace("c1", "c7").rstrip("\r\n")  # no line break at the very end
    )
    rows, parser = parse_all(body.encode(), 16)
    assert [r.id for r in rows] == ["c1", "c1", "c1", "c7"]
    assert [r.metadata for r in rows] == ['{"plan":"pro"}', None, None, '{"plan":"pro"}']
    assert parser.stats.malformed == 3
    assert parser.stats.unreadable_metadata == 2
    assert parser.stats.problems() == (
        "3 malformed rows of the export (row 2, 3, 4) left out; "
        "2 rows with unreadable metadata kept without it."
    )


def test_parser_recovers_from_a_stray_quote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polar_mcp.polar.export.MAX_RECORD_CHARS", 500)
    body = HEADER + 'c0,"unclosed,2024-01-01T00:00:00+00:00,,,,,,,,,,\r\n' + GOOD * 20
    rows, parser = parse_all(body.encode(), 50)
    assert len(rows) == 20 and parser.stats.malformed == 1


def test_parser_survives_broken_utf8_and_a_byte_order_mark() -> None:
    body = b"\xef\xbb\xbf" + HEADER.encode() + GOOD.replace("Ada,", "Ad\xff,").encode("latin-1")
    (row,), _ = parse_all(body, 3)
    assert row.name == "Ad\ufffd"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"items": [], "pagination": {"total_count": 0, "max_page": 0}}',
        b"<!DOCTYPE html><html><body>Sign in</body></html>\n",
        b"Name,Email\r\nAda,ada@example.com\r\n",
    ],
    ids=["empty", "json", "html", "other csv"],
)
def test_parser_refuses_a_body_that_is_not_the_export(body: bytes) -> None:
    with pytest.raises(NotCsv):
        parse_all(body, 16)


def test_parser_refuses_a_body_without_line_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polar_mcp.polar.export.MAX_RECORD_CHARS", 100)
    with pytest.raises(NotCsv, match="no header line"):
        parse_all(b"x" * 1000, 64)


def test_columns_are_the_tables() -> None:
    assert COLUMNS[:3] == ("id", "external_id", "created_at") and COLUMNS[-1] == "metadata"


# --- the client: streaming, the bound, and every failure -------------------------------------------


async def export_all(client: PolarClient, **kwargs: Any) -> list[ExportedCustomer]:
    rows: list[ExportedCustomer] = []

    async def sink(batch: list[ExportedCustomer]) -> None:
        rows.extend(batch)

    with anyio.fail_after(10):
        await client.export_customers(sink, **kwargs)
    return rows


@pytest.mark.anyio
async def test_client_streams_every_customer_in_batches(customers: list[dict[str, Any]]) -> None:
    fake = FakePolar(customers * 20)  # 2,460 rows: more than one batch
    batches: list[int] = []

    async def sink(batch: list[ExportedCustomer]) -> None:
        batches.append(len(batch))

    stats = await client_for(fake).export_customers(sink)
    assert batches == [2000, 460] and stats.customers == len(fake.customers)
    assert fake.requests[0].url.path == "/v1/customers/export"


@pytest.mark.anyio
async def test_client_sends_the_organization_ids(fake: FakePolar) -> None:
    await export_all(client_for(fake), organization_ids=[ORG, OTHER_ORG])
    assert fake.queries == [f"organization_id={ORG}&organization_id={OTHER_ORG}"]


@pytest.mark.anyio
async def test_progress_sees_running_counts_and_can_stop_the_download(fake: FakePolar) -> None:
    seen: list[int] = []

    def stop_beyond_fifty(stats: ExportStats) -> None:
        seen.append(stats.customers)
        if stats.customers > 50:
            raise SnapshotTooLarge("more than 50")

    with pytest.raises(SnapshotTooLarge):
        await export_all(client_for(fake), progress=stop_beyond_fifty)
    assert seen and seen[-1] > 50 and seen == sorted(seen)
    counted: list[int] = []
    assert len(await export_all(client_for(fake), progress=lambda s: counted.append(s.customers))) == len(
        fake.customers
    )
    assert counted[-1] == len(fake.customers)


# Each row: its name, the faults injected, the error the export must raise, and words of its message.
FAILURES: list[tuple[str, list[Fault], type[Exception], str]] = [
    ("401", [Fault(status=401, body={"error": "invalid_token"})], AuthError, "POLAR_ACCESS_TOKEN"),
    ("403", [Fault(status=403, body={"error": "insufficient_scope"})], ScopeError, "customers:read"),
    ("429", [Fault(status=429, body=None, headers={"Retry-After": "60"})], RateLimited, "Retry in 60"),
    ("5xx", [Fault(status=502, body="<html>Bad Gateway</html>")] * 3, UpstreamError, "Polar's side"),
    ("timeout", [Fault(error=httpx.ReadTimeout)] * 3, PolarUnreachable, "POLAR_TIMEOUT"),
    (
        "json body",
        [Fault(status=200, body={"items": []})],
        InvalidResponse,
        "application/json, not the CSV export",
    ),
    (
        "html body",
        [Fault(status=200, body=b"<html>login</html>", headers={"content-type": "text/plain"})],
        InvalidResponse,
        "not the export's header row",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "faults", "error", "words"), FAILURES, ids=[f[0] for f in FAILURES])
async def test_client_maps_every_export_failure(
    fake: FakePolar, name: str, faults: list[Fault], error: type[Exception], words: str
) -> None:
    fake.fail_next(*faults)
    with pytest.raises(error) as caught:
        await export_all(client_for(fake))
    assert words in str(caught.value)
    assert DEFAULT_TOKEN not in str(caught.value)


@pytest.mark.anyio
async def test_client_reports_a_body_that_breaks_off(customers: list[dict[str, Any]]) -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield HEADER.encode() + GOOD.encode()
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken(), headers={"content-type": "text/csv"})

    client = PolarClient(Settings(access_token="t"), transport=httpx.MockTransport(handler))
    with pytest.raises(PolarUnreachable, match="Could not connect"):
        await export_all(client)

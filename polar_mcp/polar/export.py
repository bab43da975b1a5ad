"""Polar's customer export (CSV) read as it streams: whole records cut from the chunks, parsed leniently.

The export is Python's `csv` output (`excel` dialect). A quoted field may hold line breaks, so a record
ends at a line break only where the quotes seen so far are balanced. Columns are found by their header
names, so a column Polar adds or moves changes nothing. A row that cannot be read (wrong number of
fields, no ID, an unreadable date) is counted and left out; unreadable metadata is counted and left
empty. Neither ever stops the export.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Generic, NamedTuple, TypeVar

from polar_mcp.sanitize import clean_value, mentions, redact

__all__ = [
    "COLUMNS",
    "HEADER_FIELDS",
    "ExportParser",
    "ExportStats",
    "ExportedCustomer",
    "NotCsv",
    "TableParser",
    "utc_text",
]

Row = TypeVar("Row")

HEADER_FIELDS = {
    "id": "id",
    "external id": "external_id",
    "created at": "created_at",
    "email": "email",
    "name": "name",
    "tax id": "tax_id",
    "billing address line 1": "address_line1",
    "billing address line 2": "address_line2",
    "billing address city": "city",
    "billing address state": "state",
    "billing address zip": "postal_code",
    "billing address country": "country",
    "metadata": "metadata",
}
"""Polar's header names (compared case-insensitively) and the column each fills."""

MAX_RECORD_CHARS = 65_536
"""The longest record read: Polar's fields are small. A longer one is counted as malformed and skipped
(a stray quote makes one look endless: then only one line is dropped and reading goes on)."""
_UTC_ISO = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:\+00:00|Z)$"
)
_TAX_ID = re.compile(r"^\('(?P<value>[^']*)', <TaxIDFormat\.\w+: '(?P<format>[^']*)'>\)$")


class ExportedCustomer(NamedTuple):
    """One customer of the export, normalised: the columns of the `customers` table, in its order."""

    id: str
    external_id: str | None
    created_at: str
    email: str | None
    email_domain: str | None
    name: str | None
    tax_id: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    metadata: str | None


COLUMNS: tuple[str, ...] = ExportedCustomer._fields
_FROM_CSV = tuple(name for name in COLUMNS if name != "email_domain")


class NotCsv(ValueError):
    """The body is not Polar's customer export: no header row with an ID column."""


@dataclass
class ExportStats:
    """What one export held: customers read, rows left out, and rows whose metadata was unreadable."""

    customers: int = 0
    bytes: int = 0
    """Bytes of the body read so far."""
    malformed: int = 0
    unreadable_metadata: int = 0
    malformed_rows: list[int] = field(default_factory=list)
    """The first few row numbers (1 is the first after the header) of rows left out, to point at them."""
    duplicates: int = 0
    """Rows repeating a customer ID already read, counted once (set by whoever keeps the rows)."""

    def problems(self) -> str | None:
        """One sentence about rows that could not be read fully, or None when every row was fine."""
        parts = []
        if self.malformed:
            where = ", ".join(str(n) for n in self.malformed_rows)
            plural = "s" if self.malformed > 1 else ""
            more = ", ..." if self.malformed > len(self.malformed_rows) else ""
            parts.append(
                f"{self.malformed:,} malformed row{plural} of the export (row {where}{more}) left out"
            )
        if self.duplicates:
            plural = "s" if self.duplicates > 1 else ""
            parts.append(
                f"{self.duplicates:,} repeated row{plural} of a customer already listed counted once"
            )
        if self.unreadable_metadata:
            plural = "s" if self.unreadable_metadata > 1 else ""
            parts.append(f"{self.unreadable_metadata:,} row{plural} with unreadable metadata kept without it")
        if not parts:
            return None
        text = "; ".join(parts) + "."
        return text[0].upper() + text[1:]


class TableParser(Generic[Row]):
    """A streamed CSV export read leniently: feed it the body's chunks in order; each `feed` returns the
    rows completed by that chunk. Subclasses name the header fields they read and build each row."""

    header_fields: ClassVar[dict[str, str]]
    """Polar's header names (compared case-insensitively) and the column each fills."""
    required: ClassVar[tuple[str, ...]]
    """Columns without which the header is not this export's."""
    sources: ClassVar[tuple[str, ...]]
    """The columns read from the CSV, in the order `_values` gives them."""
    header_hint: ClassVar[str]
    """The start of the header row, as an error message shows it."""

    def __init__(self, secret: str | None = None) -> None:
        self.stats = ExportStats()
        self._secret = secret  # redacted from any row that echoes it
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._pending = ""
        self._columns: dict[str, int] | None = None
        self._sources: list[int] = []
        self._width = 0
        self._line = 0
        self._skipping = False  # inside a record too long to keep, until its line ends

    def feed(self, chunk: bytes) -> list[Row]:
        """Parse every record that `chunk` completes; keep the unfinished tail for the next chunk."""
        self.stats.bytes += len(chunk)
        text = self._decoder.decode(chunk)
        if self._skipping:
            end = text.find("\n")
            if end < 0:
                return []
            self._skipping = False
            text = text[end + 1 :]
        self._pending += text
        records = self._take_records()
        while not records and len(self._pending) > MAX_RECORD_CHARS:
            records = self._skip_line()
        return self._parse(records)

    def finish(self) -> list[Row]:
        """Parse what is left at the end of the body (a last record may lack its line break)."""
        self._pending += self._decoder.decode(b"", final=True)
        records = self._take_records()
        # Lines still held back at the end follow a stray quote: drop one line at a time and read on.
        while self._columns is not None and "\n" in self._pending.rstrip("\r\n"):
            records += self._skip_line()
        if self._pending.strip():
            records.append(self._pending)
        self._pending = ""
        customers = self._parse(records)
        if self._columns is None:
            raise NotCsv("the body was empty")
        return customers

    def _take_records(self) -> list[str]:
        text = self._pending
        records: list[str] = []
        start = position = 0
        odd = False
        while (end := text.find("\n", position)) >= 0:
            odd ^= text.count('"', position, end) % 2 == 1
            position = end + 1
            if not odd:
                records.append(text[start:position])
                start = position
        self._pending = text[start:]
        return records

    def _skip_line(self) -> list[str]:
        if self._columns is None:
            raise NotCsv(f"no header line in the first {MAX_RECORD_CHARS:,} characters")
        self._line += 1
        self._count_malformed()
        end = self._pending.find("\n")
        if end < 0:
            self._pending, self._skipping = "", True  # one line longer than any record: drop it whole
            return []
        self._pending = self._pending[end + 1 :]
        return self._take_records()

    def _parse(self, records: list[str]) -> list[Row]:
        customers: list[Row] = []
        if any(len(record) > MAX_RECORD_CHARS for record in records):
            # A whole record longer than any of Polar's is left out, as a malformed row.
            records = self._without_long(records)
        if self._secret and any(mentions(record, self._secret) for record in records):
            records = [redact(record, self._secret) for record in records]
        reader = csv.reader(records)
        while True:
            try:
                for fields in reader:
                    self._line += 1
                    if self._columns is None:
                        self._read_header(fields)
                    elif len(fields) > 1 or (fields and fields[0]):  # not a blank line
                        customer = self._row(fields) if len(fields) == self._width else None
                        if customer is None:
                            self._count_malformed()
                        else:
                            customers.append(customer)
                break
            except csv.Error:
                # The reader has consumed the bad record; it goes on with the next.
                self._line += 1
                self._count_malformed()
        self.stats.customers += len(customers)
        return customers

    def _without_long(self, records: list[str]) -> list[str]:
        kept = []
        for index, record in enumerate(records):
            if len(record) <= MAX_RECORD_CHARS or (index == 0 and self._columns is None):  # the header
                kept.append(record)
            else:
                self._line += 1
                self._count_malformed()
        return kept

    def _read_header(self, fields: list[str]) -> None:
        names = [name.strip().lower() for name in fields]
        columns = {self.header_fields[n]: i for i, n in enumerate(names) if n in self.header_fields}
        if any(name not in columns for name in self.required):
            raise NotCsv(f"its first line is not the export's header row ({self.header_hint}, ...)")
        self._columns = columns
        self._width = len(fields)
        # Where each of the table's columns comes from, -1 for one the export lacks.
        self._sources = [columns.get(name, -1) for name in self.sources]

    def _values(self, fields: list[str]) -> list[str | None]:
        """The cells of `sources`, in order: None where empty or where the export lacks the column."""
        return [fields[i] or None if i >= 0 else None for i in self._sources]

    def _row(self, fields: list[str]) -> Row | None:
        """The row made of one record's fields, or None when it cannot be read."""
        raise NotImplementedError

    def _count_malformed(self) -> None:
        self.stats.malformed += 1
        if len(self.stats.malformed_rows) < 3:
            self.stats.malformed_rows.append(self._line - 1)


class ExportParser(TableParser[ExportedCustomer]):
    """Polar's customer export, read into the rows of the `customers` table."""

    header_fields = HEADER_FIELDS
    required = ("id", "created_at")
    sources = _FROM_CSV
    header_hint = "ID, External ID, Created At"

    def _row(self, fields: list[str]) -> ExportedCustomer | None:
        (customer_id, external_id, created, email, name, tax_id, line1, line2, city, state, postal_code,
         country, metadata) = self._values(fields)  # fmt: skip
        created_at = utc_text(created)
        if customer_id is None or not customer_id.strip() or created_at is None:
            return None
        domain = email.rpartition("@")[2].lower() or None if email and "@" in email else None
        return ExportedCustomer(
            customer_id.strip(),
            external_id,
            created_at,
            email,
            domain,
            name,
            _tax_id(tax_id),
            line1,
            line2,
            city,
            state,
            postal_code,
            country,
            self._metadata(metadata),
        )

    def _metadata(self, text: str | None) -> str | None:
        if text is None:
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # nested thousands deep, as no real metadata is
            value = None
        if not isinstance(value, dict):
            self.stats.unreadable_metadata += 1
            return None
        if not value:
            return None
        if "\\" in text:
            # An escape may stand for a control or invisible character: clean as every tool cleans
            # Polar's JSON. Without one, Polar's ASCII-only JSON cannot hold any.
            value = clean_value(value)
        # Compact, non-ASCII kept: SQLite's json functions read it, and it is cheaper to show.
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            self.stats.unreadable_metadata += 1
            return None


def utc_text(text: str | None) -> str | None:
    """`2024-08-27T14:52:02.145620+00:00` (Python's isoformat) as `2024-08-27T14:52:02Z`; None if unreadable.

    Whole seconds in UTC with a Z: text comparisons such as `created_at >= '2026-10-01'` and SQLite's
    date functions both work on it.
    """
    if text is None:
        return None
    if _UTC_ISO.match(text):  # what Polar writes: no parsing needed
        return text[:19] + "Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tax_id(text: str | None) -> str | None:
    """Polar writes the tax ID as a Python tuple's text; `FR61954506077 (eu_vat)` reads better."""
    if text is None:
        return None
    match = _TAX_ID.match(text)
    return f"{match['value']} ({match['format']})" if match else text

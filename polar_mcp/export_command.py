"""`polar-mcp export`: every customer through Polar's export request, written as CSV or JSON Lines."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TextIO

import httpx

from polar_mcp.config import Settings
from polar_mcp.errors import PolarMCPError
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import COLUMNS, ExportedCustomer
from polar_mcp.sanitize import clean, clean_value

__all__ = ["ExportFormat", "run_export"]

ExportFormat = Literal["csv", "jsonl"]


async def run_export(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    export_format: ExportFormat,
    output: Path | None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Write every customer to `output` (or stdout); 0 on success, 1 with the error on stderr otherwise.

    Columns are those of query_customers' table. A file is written beside its final name and moved
    into place only when complete, so a failed export never leaves a partial file behind. Progress
    goes to stderr only when stderr is a terminal.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    progress = stderr.isatty()
    partial = output.with_name(output.name + ".partial") if output is not None else None
    client = PolarClient(settings, transport=transport)
    try:
        with partial.open("w", encoding="utf-8", newline="") if partial else _borrowed(stdout) as target:
            # Raw values go to files and pipes; a terminal gets them cleaned of control characters.
            write = _writer(target, export_format, clean_text=partial is None and stdout.isatty())
            written = 0

            async def sink(batch: list[ExportedCustomer]) -> None:
                nonlocal written
                for customer in batch:
                    write(customer)
                written += len(batch)
                if progress:
                    print(f"\r{written:,} customers", end="", file=stderr, flush=True)

            stats = await client.export_customers(sink)
        if partial is not None and output is not None:
            os.replace(partial, output)
    except BrokenPipeError:
        # The reader went away (`polar-mcp export | head`): stop quietly, as other tools do.
        _silence(stdout)
        return 1
    except PolarMCPError as exc:
        if progress:
            print(file=stderr)
        print(f"error: {exc}", file=stderr)
        return 1
    finally:
        await client.aclose()
        if partial is not None and partial.exists():
            partial.unlink()
    if progress:
        where = f" to {output}" if output is not None else ""
        print(f"\rExported {stats.customers:,} customers{where}.", file=stderr)
    if problems := stats.problems():
        print(f"warning: {problems}", file=stderr)
    return 0


def _silence(stream: TextIO) -> None:
    # Without a real file descriptor there is nothing that could flush to the closed pipe.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class _borrowed:
    """stdout as a context manager that leaves it open."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __enter__(self) -> TextIO:
        return self.stream

    def __exit__(self, *_: object) -> None:
        return None


def _writer(
    target: TextIO, export_format: ExportFormat, *, clean_text: bool
) -> Callable[[ExportedCustomer], None]:
    def text(value: str | None) -> str | None:
        return clean(value) if clean_text and value is not None else value

    if export_format == "csv":
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(COLUMNS)
        return lambda customer: writer.writerow([text(value) for value in customer])

    def write_json(customer: ExportedCustomer) -> None:
        record: dict[str, Any] = {name: text(value) for name, value in zip(COLUMNS, customer, strict=True)}
        if customer.metadata is not None:
            metadata = json.loads(customer.metadata)
            record["metadata"] = clean_value(metadata) if clean_text else metadata
        target.write(json.dumps(record, ensure_ascii=False) + "\n")

    return write_json

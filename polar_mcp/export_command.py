"""`polar-mcp export`: every customer through Polar's export request, written as CSV or JSON Lines, safely:
formulas neutralised, terminals spared control characters, files replaced whole or not at all."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

import anyio
import anyio.abc
import httpx

from polar_mcp.config import Settings
from polar_mcp.errors import PolarMCPError, ScopeError
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import COLUMNS, ExportedCustomer
from polar_mcp.sanitize import clean, clean_value
from polar_mcp.snapshots.store import Snapshot, SnapshotStore
from polar_mcp.snapshots.tables import TABLE_NAMES, TABLES

__all__ = ["ExportFormat", "run_export"]

ExportFormat = Literal["csv", "jsonl", "sqlite"]
ExportTable = Literal["customers", "subscriptions", "orders", "products"]
JSON_COLUMNS = frozenset({"metadata", "prices"})
"""Columns holding JSON text, written as JSON values in JSON Lines."""


# A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection rule).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
INTERRUPTING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_Done = TypeVar("_Done")


async def run_export(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    export_format: ExportFormat,
    output: Path | None,
    *,
    raw: bool = False,
    table: ExportTable = "customers",
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Write every row of `table` to `output` (or stdout), or with `sqlite` every table, linked, as one
    SQLite file; 0 on success, 1 with one `error:` line otherwise.

    Columns are those of query_customers' table. A file is written to a temporary file of its own
    beside it (created exclusively, readable by its owner only) and moved into place only when
    complete, so a failed or interrupted export never leaves a partial file and never overwrites a good
    one with nothing. Unless `raw`: CSV cells that a spreadsheet would run as a formula are prefixed
    with `'`, and what goes to stdout (a terminal or a pipe to one) is cleaned of control and invisible
    characters. Progress goes to stderr only when stderr is a terminal.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if export_format == "sqlite" or table != "customers":
        return await _from_snapshot(settings, transport, export_format, output, table, raw, stdout, stderr)
    progress = stderr.isatty()
    client = PolarClient(settings, transport=transport)
    temporary: Path | None = None
    try:
        if output is not None:
            temporary = _temporary_beside(output)
        with _open(temporary, stdout) as target:
            write = _writer(
                target, export_format, COLUMNS, clean_text=output is None and not raw, neutralise=not raw
            )
            written = 0

            async def sink(batch: list[ExportedCustomer]) -> None:
                nonlocal written
                for customer in batch:
                    write(customer)
                written += len(batch)
                if progress:
                    print(f"\r{written:,} customers", end="", file=stderr, flush=True)

            stats = await _until_signalled(client.export_customers(sink))
        if stats is None:
            if progress:
                print(file=stderr)
            print("error: interrupted; nothing was written.", file=stderr)
            return 1
        if stats.customers == 0 and stats.malformed:
            kept = f"; {output} was left as it was" if output is not None else ""
            print(f"error: every row of the export ({stats.malformed:,}) was unreadable{kept}.", file=stderr)
            return 1
        if temporary is not None and output is not None:
            os.replace(temporary, output)
            temporary = None
    except BrokenPipeError:
        # The reader went away (`polar-mcp export | head`): stop quietly, as other tools do.
        _silence(stdout)
        return 1
    except PolarMCPError as exc:
        if progress:
            print(file=stderr)
        print(f"error: {exc}", file=stderr)
        return 1
    except OSError as exc:  # disk full, no permission, a missing folder
        print(_cannot_write(output, exc), file=stderr)
        return 1
    finally:
        await client.aclose()
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
    if progress:
        where = f" to {output}" if output is not None else ""
        print(f"\rExported {stats.customers:,} customers{where}.", file=stderr)
    if problems := stats.problems():
        print(f"warning: {problems}", file=stderr)
    return 0


def _cannot_write(output: Path | None, exc: OSError) -> str:
    where = output if output is not None else "standard output"
    return f"error: cannot write {where}: {exc.strerror or type(exc).__name__}."


def _temporary_beside(output: Path) -> Path:
    """A new file of its own in `output`'s folder: created exclusively (a planted symlink is never
    followed), mode 0600, its name unique (two exports to one file never mix)."""
    handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent or ".")
    os.close(handle)
    return Path(name)


def _open(temporary: Path | None, stdout: TextIO) -> contextlib.AbstractContextManager[TextIO]:
    if temporary is None:
        return _borrowed(stdout)
    return temporary.open("w", encoding="utf-8", newline="")


class ExportInterrupted(PolarMCPError):
    """SIGTERM, SIGHUP or SIGINT came before the export was complete."""


async def _until_signalled(export: Coroutine[Any, Any, _Done]) -> _Done | None:
    """Run the export; None when SIGTERM, SIGHUP or SIGINT came first (the caller then cleans up)."""
    result: list[_Done] = []
    try:
        await _race(export, result)
    except BaseExceptionGroup as grouped:
        # The export's own failure is what the caller explains, not a group of one.
        if len(grouped.exceptions) == 1:
            raise grouped.exceptions[0] from None
        raise
    return result[0] if result else None


async def _race(export: Coroutine[Any, Any, _Done], result: list[_Done]) -> None:
    async with anyio.create_task_group() as group:

        async def watch(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            with anyio.open_signal_receiver(*INTERRUPTING) as signals:
                task_status.started()
                async for _ in signals:
                    group.cancel_scope.cancel()
                    return

        await group.start(watch)  # the signals are caught before anything is written
        result.append(await export)
        group.cancel_scope.cancel()


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
    target: TextIO,
    export_format: ExportFormat,
    columns: Sequence[str],
    *,
    clean_text: bool,
    neutralise: bool = True,
) -> Callable[[Sequence[Any]], None]:
    def text(value: Any) -> Any:
        return clean(value) if clean_text and isinstance(value, str) else value

    if export_format == "csv":
        # CRLF, as RFC 4180 and Polar write it: a value holding a lone CR is then quoted too.
        writer = csv.writer(target, lineterminator="\r\n")
        writer.writerow(columns)

        def cell(value: Any) -> Any:
            value = text(value)
            formula = isinstance(value, str) and value.startswith(FORMULA_STARTS)
            return f"'{value}" if neutralise and formula else value

        return lambda row: writer.writerow([cell(value) for value in row])

    def write_json(row: Sequence[Any]) -> None:
        record: dict[str, Any] = {name: text(value) for name, value in zip(columns, row, strict=True)}
        for name in JSON_COLUMNS & set(columns):
            if isinstance(record[name], str):
                value = json.loads(record[name])
                record[name] = clean_value(value) if clean_text else value
        target.write(json.dumps(record, ensure_ascii=False) + "\n")

    return write_json


async def _from_snapshot(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    export_format: ExportFormat,
    output: Path | None,
    table: ExportTable,
    raw: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """A billing table, linked (it needs the customers and products too), or with `sqlite` every table:
    loaded as `query_customers` loads them, then written whole."""
    if export_format == "sqlite" and output is None:
        print("error: --format sqlite writes a file: give it with --output FILE.", file=stderr)
        return 2
    client = PolarClient(settings, transport=transport)
    store = SnapshotStore(settings, client)
    wanted = list(TABLE_NAMES) if export_format == "sqlite" else [table]
    temporary: Path | None = None
    try:
        snapshot = await store.get(tables=())
        for name in wanted:
            try:
                snapshot = await _until_loaded(store, name)
            except ScopeError as exc:
                if export_format != "sqlite":
                    raise
                print(f"warning: {name} left empty: {exc}", file=stderr)
        if output is not None:
            temporary = _temporary_beside(output)
        if export_format == "sqlite":
            assert temporary is not None
            await anyio.to_thread.run_sync(snapshot.database.copy_to, temporary)
        else:
            with _open(temporary, stdout) as target:
                write = _writer(
                    target, export_format, TABLES[table].columns, clean_text=output is None and not raw,
                    neutralise=not raw,
                )  # fmt: skip
                for row in snapshot.database.rows(table):
                    write(row)
        if temporary is not None and output is not None:
            os.replace(temporary, output)
            temporary = None
    except BrokenPipeError:
        _silence(stdout)
        return 1
    except PolarMCPError as exc:
        print(f"error: {exc}", file=stderr)
        return 1
    except OSError as exc:
        print(_cannot_write(output, exc), file=stderr)
        return 1
    finally:
        await client.aclose()
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
    for name in wanted:
        state = snapshot.tables.get(name)
        if state is not None and (problems := state.stats.problems()):
            print(f"warning: {name}: {problems}", file=stderr)
    return 0


async def _until_loaded(store: SnapshotStore, table: str) -> Snapshot:
    loaded = await _until_signalled(store.get(tables=[table]))
    if loaded is None:
        raise ExportInterrupted("interrupted; nothing was written.")
    return loaded

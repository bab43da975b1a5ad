"""`polar-mcp export` and `polar-mcp call query_customers`, as a person or a script runs them."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from polar_mcp.cli import main
from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault
from polar_mcp.export_command import ExportFormat, run_export
from polar_mcp.polar.export import COLUMNS
from tests.test_cli import run


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def use_fake(monkeypatch: pytest.MonkeyPatch, url: str, token: str = DEFAULT_TOKEN) -> None:
    monkeypatch.setenv("POLAR_SERVER_URL", url)
    monkeypatch.setenv("POLAR_ACCESS_TOKEN", token)


def test_export_writes_every_customer_as_csv_over_http(
    fake_over_http: str, fake: FakePolar, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    use_fake(monkeypatch, fake_over_http)
    target = tmp_path / "customers.csv"
    assert main(["export", "--output", str(target)]) == 0
    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(COLUMNS)
    assert sorted(row["id"] for row in rows) == sorted(c["id"] for c in fake.customers)
    by_id = {c["id"]: c for c in fake.customers}
    for row in rows:
        customer = by_id[row["id"]]
        assert row["email"] == (customer["email"] or "")
        assert row["country"] == ((customer["billing_address"] or {}).get("country") or "")
        assert json.loads(row["metadata"] or "{}") == customer["metadata"]
    assert [r.url.path for r in fake.requests] == ["/v1/customers/export"]
    assert capsys.readouterr().err == ""  # no progress when stderr is not a terminal
    assert not (tmp_path / "customers.csv.partial").exists()


def test_export_writes_json_lines_to_stdout(
    fake_over_http: str, fake: FakePolar, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    use_fake(monkeypatch, fake_over_http)
    assert main(["export", "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(fake.customers) and list(records[0]) == list(COLUMNS)
    assert {r["id"]: r["metadata"] or {} for r in records} == {c["id"]: c["metadata"] for c in fake.customers}


def test_export_failure_exits_non_zero_with_the_error_and_leaves_no_file(
    fake_over_http: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    use_fake(monkeypatch, fake_over_http, token="polar_oat_wrong")
    target = tmp_path / "customers.csv"
    assert main(["export", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "rejected the access token (401)" in err
    assert "polar_oat_wrong" not in err
    assert list(tmp_path.iterdir()) == []


def test_export_without_a_token_explains_the_variable(capsys: Any) -> None:
    assert main(["export"]) == 1
    assert "POLAR_ACCESS_TOKEN is not set" in capsys.readouterr().err


def test_export_with_a_bad_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("POLAR_MCP_SNAPSHOT_MAX", "many")
    assert main(["export"]) == 2
    assert "POLAR_MCP_SNAPSHOT_MAX" in capsys.readouterr().err


def export_to(
    fake: FakePolar,
    stdout: io.StringIO,
    stderr: io.StringIO,
    fmt: ExportFormat = "csv",
    raw: bool = False,
) -> int:
    settings = Settings(access_token=DEFAULT_TOKEN)
    transport = httpx.MockTransport(fake)
    return anyio.run(
        lambda: run_export(settings, transport, fmt, None, raw=raw, stdout=stdout, stderr=stderr)
    )


def test_progress_goes_to_stderr_only_on_a_terminal(fake: FakePolar) -> None:
    stdout, stderr = io.StringIO(), Terminal()
    assert export_to(fake, stdout, stderr) == 0
    assert stderr.getvalue().endswith("\rExported 123 customers.\n")
    assert "123 customers" in stderr.getvalue() and "\r" in stderr.getvalue()
    assert stdout.getvalue().count("\n") == 124


@pytest.mark.parametrize("stdout", [io.StringIO, Terminal], ids=["pipe", "terminal"])
def test_stdout_gets_cleaned_text_unless_raw_is_asked_for(fake: FakePolar, stdout: type[io.StringIO]) -> None:
    # A pipe usually ends at a terminal (`polar-mcp export | head`): it is cleaned too.
    fake.customers[0]["name"] = "Eve\x1b[2J\u202eexe"
    raw, cleaned = stdout(), stdout()
    assert export_to(fake, raw, io.StringIO(), "jsonl", raw=True) == 0
    assert export_to(fake, cleaned, io.StringIO(), "jsonl") == 0
    assert "Eve\\u001b[2J\u202eexe" in raw.getvalue()
    assert "Eve[2Jexe" in cleaned.getvalue() and "\u202e" not in cleaned.getvalue()


def test_malformed_rows_are_warned_about_on_stderr(fake: FakePolar) -> None:
    body = "ID,Created At\r\nc1,2024-01-01T00:00:00+00:00\r\nc2,never\r\n"
    fake.fail_next(Fault(status=200, body=body, headers={"content-type": "text/csv"}))
    stdout, stderr = io.StringIO(), io.StringIO()
    assert export_to(fake, stdout, stderr) == 0
    assert stderr.getvalue() == "warning: 1 malformed row of the export (row 2) left out.\n"
    assert stdout.getvalue().splitlines()[1].startswith("c1,")


def test_a_closed_pipe_stops_the_export_quietly(fake: FakePolar) -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    assert export_to(fake, Closed(), io.StringIO()) == 1


def test_call_query_customers_json_prints_the_structured_answer() -> None:
    done = run(
        "call",
        "query_customers",
        '{"sql": "SELECT country, COUNT(*) AS n FROM customers GROUP BY 1"}',
        "--json",
        "--demo",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["columns"] == ["country", "n"] and data["truncated"] is False
    assert sum(row[1] for row in data["rows"]) == data["snapshot"]["customers"] == 320
    assert data["notice"].startswith("DEMO DATA")


def test_call_query_customers_reports_refused_sql() -> None:
    done = run("call", "query_customers", '{"sql": "DELETE FROM customers"}', "--demo")
    assert done.returncode == 1 and "Only a read-only SELECT" in done.stderr and done.stdout == ""


# --- written safely: formulas, files, signals, failures ---------------------------------------------


def export_file(fake: FakePolar | httpx.MockTransport, output: Path, **options: Any) -> tuple[int, str]:
    settings = Settings(access_token=DEFAULT_TOKEN)
    transport = fake if isinstance(fake, httpx.MockTransport) else httpx.MockTransport(fake)
    stderr = io.StringIO()
    code = anyio.run(lambda: run_export(settings, transport, "csv", output, stderr=stderr, **options))
    return code, stderr.getvalue()


@pytest.mark.parametrize("raw", [False, True], ids=["neutralised", "raw"])
def test_csv_cells_a_spreadsheet_would_run_are_neutralised_unless_raw(
    fake: FakePolar, tmp_path: Path, raw: bool
) -> None:
    formulas = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    for customer, name in zip(fake.customers, formulas, strict=False):
        customer["name"] = name
    target = tmp_path / "customers.csv"
    assert export_file(fake, target, raw=raw)[0] == 0
    with target.open(encoding="utf-8", newline="") as file:
        names = {row["id"]: row["name"] for row in csv.DictReader(file)}
    for customer, name in zip(fake.customers, formulas, strict=False):
        assert names[customer["id"]] == (name if raw else "'" + name)


def test_the_file_is_its_owners_only_and_no_temporary_file_is_left(fake: FakePolar, tmp_path: Path) -> None:
    target = tmp_path / "customers.csv"
    planted = tmp_path / "customers.csv.partial"
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    planted.symlink_to(victim)  # where an older release wrote its partial file
    assert export_file(fake, target)[0] == 0
    assert victim.read_text() == "keep me"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "customers.csv.partial", "victim"]


def test_an_export_whose_rows_are_all_unreadable_leaves_a_good_file_alone(
    fake: FakePolar, tmp_path: Path
) -> None:
    target = tmp_path / "customers.csv"
    target.write_text("a good earlier export")
    body = "ID,Created At\r\nc1,never\r\nc2,never\r\n"
    fake.fail_next(Fault(status=200, body=body, headers={"content-type": "text/csv"}))
    code, err = export_file(fake, target)
    assert (
        code == 1
        and err == f"error: every row of the export (2) was unreadable; {target} was left as it was.\n"
    )
    assert target.read_text() == "a good earlier export" and list(tmp_path.iterdir()) == [target]


def test_a_signal_during_the_export_removes_the_temporary_file(tmp_path: Path) -> None:
    async def interrupted(request: httpx.Request) -> httpx.Response:
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    target = tmp_path / "customers.csv"
    code, err = export_file(httpx.MockTransport(interrupted), target)
    assert code == 1 and err == "error: interrupted; nothing was written.\n"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_does_not_exist_is_one_error_line(fake: FakePolar, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "customers.csv"
    code, err = export_file(fake, target)
    assert code == 1 and err == f"error: cannot write {target}: No such file or directory.\n"


def test_a_full_disk_is_one_error_line_and_leaves_nothing(
    fake: FakePolar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("polar_mcp.export_command.os.replace", full)
    target = tmp_path / "customers.csv"
    code, err = export_file(fake, target)
    assert code == 1 and err == f"error: cannot write {target}: No space left on device.\n"
    assert list(tmp_path.iterdir()) == []

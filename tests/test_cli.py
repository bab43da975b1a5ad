"""The `polar-mcp call` one-shot command, as a person or a script runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from polar_mcp import __version__
from polar_mcp.demo.fake import DEFAULT_TOKEN


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "polar_mcp", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_call_in_demo_mode_prints_what_the_model_sees() -> None:
    done = run("call", "list_customers", '{"query": "ada", "limit": 5}', "--demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("DEMO DATA")
    assert lines[1].startswith("Customers 1-")
    assert any(line.startswith("Ada Lovelace\t") for line in lines)
    assert done.stderr == ""


def test_call_json_prints_the_structured_result_for_pipelines() -> None:
    done = run("--demo", "call", "list_customers", '{"limit": 3, "sorting": ["name"]}', "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["customers"]) == 3 and data["next_page"] == 2 and data["notice"].startswith("DEMO")
    names = [c["name"].lower() for c in data["customers"]]
    assert names == sorted(names)


def test_demo_mode_can_be_switched_on_by_environment() -> None:
    done = run("call", "list_customers", '{"limit": 1}', env={"POLAR_MCP_DEMO": "1"})
    assert done.returncode == 0 and done.stdout.startswith("DEMO DATA")


@pytest.mark.parametrize(
    ("arguments", "code", "needle"),
    [
        ('{"limit": 0}', 1, "limit must be an integer from 1 to 100"),
        ("{not json", 2, "arguments must be a JSON object"),
        ("[1, 2]", 2, "arguments must be a JSON object"),
    ],
)
def test_call_exits_non_zero_with_the_error_text(arguments: str, code: int, needle: str) -> None:
    done = run("call", "list_customers", arguments, "--demo")
    assert done.returncode == code
    assert needle in done.stderr and done.stdout == ""


def test_call_without_a_token_explains_the_variable() -> None:
    done = run("call", "list_customers")
    assert done.returncode == 1 and "POLAR_ACCESS_TOKEN" in done.stderr


def test_call_against_a_real_http_polar(fake_over_http: str) -> None:
    env = {"POLAR_SERVER_URL": fake_over_http, "POLAR_ACCESS_TOKEN": DEFAULT_TOKEN}
    done = run("call", "list_customers", '{"limit": 2}', "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_count"] == 123
    assert DEFAULT_TOKEN not in done.stdout + done.stderr


def test_bad_environment_is_reported_by_call() -> None:
    done = run("call", "list_customers", env={"POLAR_SERVER": "staging"})
    assert done.returncode == 2 and "POLAR_SERVER must be" in done.stderr


def test_version() -> None:
    assert run("--version").stdout.strip() == f"polar-mcp {__version__}"


def test_main_in_process_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    from polar_mcp.cli import main

    assert main(["--demo", "call", "list_customers", '{"limit": 2, "response_format": "detailed"}']) == 0
    out = capsys.readouterr().out
    assert out.startswith("DEMO DATA") and '"billing_address"' in out


def test_main_in_process_reports_tool_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from polar_mcp.cli import main

    assert main(["call", "list_customers", '{"page": 0}', "--demo"]) == 1
    assert "page must be an integer from 1 to 100000" in capsys.readouterr().err


HOSTILE_NAME = "Eve\x1b]0;owned\x07\x1b[2J\u202eexe.pdf\x9b31m"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_call_never_prints_escape_or_control_sequences(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    import anyio
    import httpx

    from polar_mcp import cli
    from polar_mcp.config import Settings
    from polar_mcp.demo.fake import FakePolar
    from polar_mcp.demo.organization import sample_customers
    from polar_mcp.polar import client as polar
    from polar_mcp.startup import Startup

    customers = sample_customers(3, seed=1)
    customers[0]["name"] = HOSTILE_NAME
    # Even if text reached the result uncleaned, the terminal boundary must still hold.
    monkeypatch.setattr(polar, "clean_value", lambda value: value)
    settings = Settings(access_token=DEFAULT_TOKEN)
    transport = httpx.MockTransport(FakePolar(customers))
    assert (
        anyio.run(cli._call, Startup(settings, transport), "list_customers", '{"sorting": ["name"]}', as_json)
        == 0
    )
    out = capsys.readouterr().out
    assert "Eve]0;owned[2Jexe.pdf31m" in out
    assert not any(char in out for char in "\x1b\x07\u202e\x9b")


def test_started_in_a_terminal_it_says_it_waits_for_a_client_and_stops_on_ctrl_c() -> None:
    import pty
    import signal
    import threading

    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    terminal, stdin = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "polar_mcp", "--demo"],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    os.close(stdin)
    watchdog = threading.Timer(60, process.kill)  # bounds the blocking reads below
    watchdog.start()
    with process:
        try:
            assert process.stderr is not None and process.stdout is not None
            seen: list[str] = []
            while not seen or seen[-1] != "Press Ctrl+C to stop.\n":
                line = process.stderr.readline()
                assert line, f"no hint on stderr before it closed: {seen}"
                seen.append(line)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
            stdout = process.stdout.read()
        finally:
            watchdog.cancel()
            os.close(terminal)
            process.kill()
    assert "it is now waiting for an MCP client" in "".join(seen)
    assert "polar-mcp call list_customers" in "".join(seen)
    assert code == 130
    assert stdout == ""  # stdout stays the protocol's

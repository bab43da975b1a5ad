"""What a new user meets first: the README's client commands against the real clients, the command
line's handling of a bad log level, a closed pipe and flags in any order, the bundle's demo mode, and
the benchmarks finding their own child processes in a checkout named polar-mcp.

The real tools come from `npm ci` (Claude Code's `claude`, mcpb); CI sets REQUIRE_NODE_TOOLS=1 so that
a missing tool fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters

from polar_mcp.cli import EXIT_BROKEN_PIPE, main
from polar_mcp.logs import LOG_LEVELS, LogLevelError, log_level_from_env

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REMOTE = (ROOT / "docs" / "remote.md").read_text()
SECRET = "polar_oat_Zk3v9QmXw2"  # what a mistaken POLAR_MCP_LOG_LEVEL might hold


def node_tool(name: str) -> str:
    local = ROOT / "node_modules" / ".bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail(f"{name} is not installed: run `npm ci` in the repository")
        pytest.skip(f"{name} is not installed (npm ci)")
    return found


def polar_mcp(
    *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`python -m polar_mcp ARGS` in a child process, with this checkout first on the import path."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "polar_mcp", *args],
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


# Claude Code


def claude_env(home: Path) -> dict[str, str]:
    """A scratch home: no login, no settings but what the test writes, no traffic but what it asks for."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
    }


def claude(home: Path, command: str, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    assert argv[0] == "claude"
    return subprocess.run(
        [node_tool("claude"), *argv[1:]],
        env=claude_env(home),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def user_servers(home: Path) -> dict[str, Any]:
    servers: dict[str, Any] = json.loads((home / ".claude.json").read_text()).get("mcpServers", {})
    return servers


def test_readme_claude_code_line_adds_a_server_claude_code_starts_and_connects_to(tmp_path: Path) -> None:
    match = re.search(r"<!-- claude-code -->\n```sh\n(.*?)\n```", README, re.S)
    assert match, "README.md has no `<!-- claude-code -->` block"
    line = match.group(1)
    placeholder = "/path/to/polar-mcp/.venv/bin/polar-mcp"
    assert placeholder in line
    # The installed command, as the README's path stands for: this checkout's polar-mcp.
    command = tmp_path / "polar-mcp" / ".venv" / "bin" / "polar-mcp"
    command.parent.mkdir(parents=True)
    python, checkout = shlex.quote(sys.executable), shlex.quote(str(ROOT))
    command.write_text(f'#!/bin/sh\nPYTHONPATH={checkout} exec {python} -m polar_mcp "$@"\n')
    command.chmod(0o755)
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()

    added = claude(home, line.replace(placeholder, str(command)), cwd=project)

    assert added.returncode == 0, added.stdout + added.stderr
    assert user_servers(home)["polar"] == {
        "type": "stdio",
        "command": str(command),
        "args": [],
        "env": {"POLAR_ACCESS_TOKEN": "polar_oat_..."},
    }
    # `claude mcp get` starts the server with that environment and reports whether it answered.
    got = claude(home, "claude mcp get polar", cwd=project)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "Connected" in got.stdout, got.stdout
    assert "User config" in got.stdout
    # The README's way to uninstall.
    remove = re.search(r"`(claude mcp remove [^`]+)`", README)
    assert remove
    removed = claude(home, remove.group(1), cwd=project)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "polar" not in user_servers(home)


@pytest.mark.parametrize("document", ["README.md", "docs/remote.md"])
def test_remote_claude_code_line_adds_the_url_with_its_header(tmp_path: Path, document: str) -> None:
    text = (ROOT / document).read_text()
    match = re.search(r"claude mcp add --transport http polar (?:[^\n`\\]|\\\n)*", text)
    assert match, f"{document} has no `claude mcp add --transport http` line"
    line = match.group(0).replace("\\\n", " ")
    line = line.replace("$POLAR_MCP_AUTH_TOKEN", "<token>")  # the shell would expand it
    home = tmp_path / "home"
    home.mkdir()

    added = claude(home, line, cwd=tmp_path)

    assert added.returncode == 0, added.stdout + added.stderr
    # The project's local scope lives in the same file, under the project's path.
    config = json.loads((home / ".claude.json").read_text())
    server = config["projects"][str(tmp_path)]["mcpServers"]["polar"]
    assert server == {
        "type": "http",
        "url": "https://mcp.example.com/mcp",
        "headers": {"Authorization": "Bearer <token>"},
    }


# POLAR_MCP_LOG_LEVEL


@pytest.mark.parametrize(
    ("value", "level"), [("DEBUG", "DEBUG"), (" warning ", "WARNING"), ("", None), (None, None)]
)
def test_log_level_from_env_reads_level_names_in_any_case(value: str | None, level: str | None) -> None:
    assert log_level_from_env(value) == level


@pytest.mark.parametrize("value", [SECRET, "x" * 200, "debug!", "DEBUGGING", "déboguer", "INFO\n\x1b[2J"])
def test_log_level_error_never_quotes_what_could_be_a_secret(value: str) -> None:
    with pytest.raises(LogLevelError) as caught:
        log_level_from_env(value)
    message = str(caught.value)
    assert message == "POLAR_MCP_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"
    assert all(level in message for level in LOG_LEVELS)


def test_log_level_error_quotes_a_mistyped_level_name() -> None:
    with pytest.raises(LogLevelError, match=r"must be one of DEBUG, INFO, WARNING, ERROR \(got 'verbose'\)$"):
        log_level_from_env("verbose")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["call", "list_customers", '{"limit": 1}', "--demo"], id="call"),
        pytest.param(["--demo"], id="server"),
        pytest.param(["export", "--demo"], id="export"),
    ],
)
def test_a_bad_log_level_is_one_line_and_exit_2_without_the_value(args: list[str]) -> None:
    done = polar_mcp(*args, env={"POLAR_MCP_LOG_LEVEL": SECRET}, stdin=subprocess.DEVNULL)

    assert done.returncode == 2
    assert done.stderr == "polar-mcp: error: POLAR_MCP_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR\n"
    assert done.stdout == ""


def test_the_log_level_flag_wins_over_a_bad_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLAR_MCP_LOG_LEVEL", SECRET)
    assert main(["--log-level", "warning", "call", "list_customers", '{"limit": 1}', "--demo"]) == 0
    assert capsys.readouterr().out.startswith("DEMO DATA")


def test_the_http_app_factory_falls_back_to_info_on_a_bad_log_level() -> None:
    # uvicorn polar_mcp.http:app --factory has no command line of its own to refuse with.
    code = "from polar_mcp.http import app; app(); print('built')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT), "POLAR_MCP_LOG_LEVEL": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "built\n"
    assert SECRET not in done.stderr
    assert "Traceback" not in done.stderr


# A closed pipe


def test_call_into_a_closed_pipe_exits_quietly_with_the_sigpipe_code() -> None:
    # `polar-mcp call ... | head -1` once head has gone: every write to stdout fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = polar_mcp("call", "list_customers", '{"limit": 100}', "--demo", stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")
    assert EXIT_BROKEN_PIPE == 128 + 13  # what a shell reports for a command ended by SIGPIPE


def test_call_into_a_reader_that_stops_early_prints_no_traceback() -> None:
    call = "-m polar_mcp call list_customers '{\"limit\": 100}' --demo"
    shell = f"{shlex.quote(sys.executable)} {call} | head -1"
    base = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    done = subprocess.run(
        ["bash", "-c", shell],
        env={**base, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == "DEMO DATA: a made-up sample organization, not your customers.\n"
    assert done.stderr == ""


# Flags in any order


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["call", "list_customers", "--demo"], id="demo-after-tool"),
        pytest.param(["call", "list_customers", '{"limit": 2}', "--demo"], id="demo-after-arguments"),
        pytest.param(["call", "list_customers", "--demo", '{"limit": 2}'], id="demo-before-arguments"),
        pytest.param(["call", "--demo", "list_customers", '{"limit": 2}'], id="demo-before-tool"),
        pytest.param(["--demo", "call", "list_customers", '{"limit": 2}'], id="demo-before-call"),
        pytest.param(
            ["call", "list_customers", "--demo", "--json", '{"limit": 2}'], id="demo-json-arguments"
        ),
    ],
)
def test_demo_is_accepted_anywhere_on_the_call_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 0
    out = capsys.readouterr().out
    if "--json" in args:
        assert len(json.loads(out)["customers"]) == 2
    else:
        assert out.startswith("DEMO DATA: a made-up sample organization")
        assert "Customers 1-" in out


def test_a_stray_extra_argument_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["call", "list_customers", "--demo", "{}", "{}"])
    assert exited.value.code == 2
    assert "unrecognized arguments: {}" in capsys.readouterr().err


def test_bad_json_is_still_reported_as_bad_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "list_customers", "--demo", "{limit: 1}"]) == 2
    assert "arguments must be a JSON object" in capsys.readouterr().err


# The bundle's Demo mode


def bundle_env(user_config: dict[str, Any]) -> dict[str, str] | None:
    """The environment Claude Desktop gives the bundle's server for `user_config`, as mcpb computes it
    (`getMcpConfigForManifest`, the reference implementation hosts use); None when mcpb would not start
    the server at all."""
    node_tool("mcpb")
    script = """
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
import { readFileSync } from "node:fs";
const manifest = JSON.parse(readFileSync("manifest.json", "utf8"));
const config = await getMcpConfigForManifest({
  manifest, extensionPath: "/bundle", systemDirs: {}, pathSeparator: "/",
  userConfig: JSON.parse(process.argv[1]),
});
console.log(JSON.stringify(config ?? null));
"""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("node is not installed")
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(user_config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config = json.loads(done.stdout)
    return None if config is None else dict(config["env"])


def test_bundle_offers_a_demo_mode_setting() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text())
    demo = manifest["user_config"]["demo_mode"]
    assert (demo["type"], demo["title"], demo["default"], demo["required"]) == (
        "boolean",
        "Demo mode",
        False,
        False,
    )
    token = manifest["user_config"]["polar_access_token"]
    assert (token["required"], token["sensitive"], token["default"]) == (False, True, "")


def test_bundle_in_demo_mode_without_a_token_serves_the_demo_organization() -> None:
    env = bundle_env({"demo_mode": True})

    assert env is not None, "mcpb would not start the server without a token"
    assert env == {
        "POLAR_ACCESS_TOKEN": "",
        "POLAR_SERVER": "production",
        "POLAR_SERVER_URL": "",
        "POLAR_MCP_DEMO": "true",
    }
    done = polar_mcp("call", "list_customers", '{"query": "ada", "limit": 5}', env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DEMO DATA")
    assert "Ada Lovelace" in done.stdout


def test_bundle_with_nothing_set_starts_and_says_how_to_get_a_token() -> None:
    env = bundle_env({})

    assert env is not None
    assert env["POLAR_ACCESS_TOKEN"] == "", "an unset token must not reach the server as a ${...} placeholder"
    assert env["POLAR_MCP_DEMO"] == "false"
    done = polar_mcp("call", "list_customers", "{}", env=env)
    assert done.returncode == 1
    assert "POLAR_ACCESS_TOKEN is not set" in done.stderr


def test_bundle_with_a_token_and_demo_off_reads_polar() -> None:
    env = bundle_env({"polar_access_token": "polar_oat_x", "polar_server": "sandbox"})

    assert env is not None
    assert (env["POLAR_ACCESS_TOKEN"], env["POLAR_SERVER"], env["POLAR_MCP_DEMO"]) == (
        "polar_oat_x",
        "sandbox",
        "false",
    )


# The benchmarks' child processes


def bench_servers() -> Any:
    # bench/ is in a checkout, not in the sdist, which carries the tests too.
    return pytest.importorskip("bench.servers")


def test_match_child_takes_the_exact_command_not_every_path_that_contains_it() -> None:
    match_child = bench_servers().match_child
    checkout = "/home/ada/polar-mcp"
    python = f"{checkout}/.venv/bin/python"
    server = StdioServerParameters(command=f"{checkout}/.venv/bin/polar-mcp", args=[])
    floor = StdioServerParameters(command=python, args=["-m", "bench.floor", "/tmp/floor.json"])
    children = {
        101: [python, f"{checkout}/.venv/bin/polar-mcp"],  # the script, run through its #! interpreter
        102: [python, "-m", "bench.floor", "/tmp/floor.json"],
        103: [python, f"{checkout}/bench/fixture.py", "--port", "0"],
        104: [python, "-m", "polar_mcp", "--transport", "streamable-http"],
    }

    assert match_child(children, server) == 101
    assert match_child(children, floor) == 102
    with pytest.raises(RuntimeError, match="found 0"):
        match_child(children, StdioServerParameters(command=python, args=["-m", "polar_mcp"]))
    with pytest.raises(RuntimeError, match="found 2"):
        match_child({**children, 105: children[101]}, server)


def test_find_child_in_a_checkout_named_polar_mcp(tmp_path: Path) -> None:
    find_child = bench_servers().find_child
    bin_dir = tmp_path / "polar-mcp" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "polar-mcp"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.read()\n")
    script.chmod(0o755)
    decoy = bin_dir / "other"
    decoy.write_text("import sys\nsys.stdin.read()\n")
    # Every child's command line contains "polar-mcp"; they wait on stdin until it closes.
    processes = [
        subprocess.Popen([str(script)], stdin=subprocess.PIPE),
        subprocess.Popen([sys.executable, str(decoy), "polar-mcp"], stdin=subprocess.PIPE),
        subprocess.Popen([str(script), "--demo"], stdin=subprocess.PIPE),
    ]
    try:
        assert find_child(StdioServerParameters(command=str(script), args=[])) == processes[0].pid
        assert find_child(StdioServerParameters(command=str(script), args=["--demo"])) == processes[2].pid
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)

"""Command line: run the server (stdio by default) or make one tool call and print what the model sees."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import FrameType

import anyio

from polar_mcp import __version__
from polar_mcp.logs import LOG_LEVELS, LogLevelError, configure_logging, log_level_from_env
from polar_mcp.sanitize import clean_lines, clean_value
from polar_mcp.startup import Startup, server_from, start

__all__ = ["TERMINAL_HINT", "main"]

logger = logging.getLogger("polar_mcp")

EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl+C
EXIT_BROKEN_PIPE = 141  # the shell's code for a command stopped by SIGPIPE (`polar-mcp call ... | head -1`)
TERMINAL_HINT = (
    "polar-mcp is an MCP server: it is now waiting for an MCP client (Claude Desktop, Claude Code, the "
    "MCP Inspector) to talk to it over stdin and stdout, so typing here does nothing useful.\n"
    "To try it by hand, make one call and see what the model would read:\n"
    '  polar-mcp call list_customers \'{"query": "ada", "limit": 5}\' --demo\n'
    "Press Ctrl+C to stop."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polar-mcp",
        description="MCP server for the customers of a Polar organization. The access token is read from "
        "POLAR_ACCESS_TOKEN only.",
    )
    parser.add_argument("--version", action="version", version=f"polar-mcp {__version__}")
    parser.add_argument("--demo", action="store_true", help="serve a built-in sample organization (no token)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="log level (logs go to stderr); default POLAR_MCP_LOG_LEVEL, else INFO",
    )
    parser.add_argument(
        "--transport",
        choices=["stdio", "streamable-http"],
        default="stdio",
        help="stdio (default) for desktop clients, streamable-http to serve over HTTP",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (streamable-http only)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (streamable-http only)")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (streamable-http only)"
    )
    sub = parser.add_subparsers(dest="command")
    call = sub.add_parser("call", help="make one tool call and print the result the model would see")
    call.add_argument("tool", help="tool name, e.g. list_customers")
    call.add_argument("arguments", nargs="?", help="tool arguments as a JSON object (default {})")
    call.add_argument("--json", action="store_true", help="print the structured result as JSON instead")
    call.add_argument("--demo", action="store_true", dest="call_demo", help=argparse.SUPPRESS)
    export = sub.add_parser(
        "export",
        help="write every customer, subscription, order or product as CSV or JSON Lines, or all as SQLite",
    )
    export.add_argument(
        "--format",
        choices=["csv", "jsonl", "sqlite"],
        default="csv",
        help="csv (default), jsonl, or sqlite: every table, linked, as one SQLite file (needs --output)",
    )
    export.add_argument(
        "--table",
        choices=["customers", "subscriptions", "orders", "products"],
        default="customers",
        help="which table to write as csv or jsonl (default customers)",
    )
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")
    export.add_argument(
        "--raw",
        action="store_true",
        help="write values exactly as Polar has them: no ' before spreadsheet formulas, no cleaning of "
        "control characters on stdout",
    )
    export.add_argument("--demo", action="store_true", dest="call_demo", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `polar-mcp` and `python -m polar_mcp`."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`polar-mcp call ... | head -1`): stop quietly, as other tools do.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    # What is still buffered would fail again at exit; without a real file descriptor nothing can.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # `call TOOL --demo '{...}'`: argparse has already settled the optional positional when it meets
    # the flag, so the JSON comes back unrecognized; it is the arguments all the same.
    if args.command == "call" and args.arguments is None and len(extra) == 1 and not extra[0].startswith("-"):
        args.arguments, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _main(argv: Sequence[str] | None) -> int:
    args = _parse(argv)
    # A one-shot command prints its result; the server's routine INFO lines would only get in the way.
    one_shot = args.command in ("call", "export")
    try:
        level = args.log_level or log_level_from_env(os.environ.get("POLAR_MCP_LOG_LEVEL"))
    except LogLevelError as exc:
        print(f"polar-mcp: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(level or ("WARNING" if one_shot else "INFO"))
    started = start(demo=args.demo or getattr(args, "call_demo", False))
    if started.config_error is not None:
        if one_shot:
            print(started.config_error, file=sys.stderr)
            return 2
        # Start anyway: the tool reports the problem on every call, which the user sees in the client.
        logger.error("%s", started.config_error)
    if args.command == "call":
        arguments = "{}" if args.arguments is None else args.arguments
        return anyio.run(_call, started, args.tool, arguments, args.json)
    if args.command == "export":
        from polar_mcp.export_command import run_export

        return anyio.run(
            partial(run_export, raw=args.raw, table=args.table),
            started.settings,
            started.transport,
            args.format,
            args.output,
        )
    server = server_from(started)
    if args.transport == "streamable-http":
        from polar_mcp.http import serve

        return serve(server, started, host=args.host, port=args.port, workers=args.workers)
    _warn_without_token(started)
    if sys.stdin.isatty():
        # The stdin reader is a thread blocked on the terminal; only a hard exit makes Ctrl+C stop at once.
        signal.signal(signal.SIGINT, _exit_on_interrupt)
        # Someone typed `polar-mcp` in a terminal: say why nothing happens, once, where stdout stays clean.
        print(TERMINAL_HINT, file=sys.stderr, flush=True)
    server.run("stdio")
    return 0


def _exit_on_interrupt(signum: int, frame: FrameType | None) -> None:
    os._exit(EXIT_INTERRUPTED)


def _warn_without_token(started: Startup) -> None:
    if started.config_error is None and not started.settings.access_token and not started.settings.demo:
        logger.warning("POLAR_ACCESS_TOKEN is not set: list_customers will answer with setup instructions")


async def _call(started: Startup, tool: str, raw_arguments: str, as_json: bool) -> int:
    from mcp import Client

    try:
        arguments = json.loads(raw_arguments)
    except json.JSONDecodeError as exc:
        print(f"error: arguments must be a JSON object: {exc}", file=sys.stderr)
        return 2
    if not isinstance(arguments, dict):
        print("error: arguments must be a JSON object, e.g. '{\"limit\": 5}'", file=sys.stderr)
        return 2
    server = server_from(started)
    async with Client(server, mode="legacy") as client:
        result = await client.call_tool(tool, arguments)
    # The terminal is a boundary of its own: nothing printed may carry an escape or control sequence.
    text = clean_lines("\n".join(block.text for block in result.content if block.type == "text"))
    if result.is_error:
        print(text, file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(clean_value(result.structured_content), ensure_ascii=False, indent=2))
    else:
        print(text)
    return 0

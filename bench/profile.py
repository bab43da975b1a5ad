"""Optional profiles (`--profile`): where a limit-100 call spends its time, written under bench/results/.

Uses pyinstrument (`pip install pyinstrument`); skipped with a message when it is not installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mcp import Client

from bench.fixture import FakeServer
from bench.servers import OUR_TOOL, RESULTS_DIR
from polar_mcp.config import Settings
from polar_mcp.server import build_server

__all__ = ["profile_call"]

CALLS = 200


async def profile_call(fake: FakeServer, limit: int = 100) -> Path | None:
    """Profile `CALLS` in-process calls (server and client in this process, the fake over HTTP)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("profile skipped: pyinstrument is not installed (pip install pyinstrument)")
        return None
    server = build_server(Settings(access_token=fake.token, server_url=fake.url))
    logging.disable(logging.INFO)  # the SDK logs every request at INFO; keep it out of the profile
    try:
        async with Client(server) as client:
            for _ in range(5):
                await client.call_tool(OUR_TOOL, {"limit": limit})
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for _ in range(CALLS):
                await client.call_tool(OUR_TOOL, {"limit": limit})
            profiler.stop()
    finally:
        logging.disable(logging.NOTSET)
        await server.polar.aclose()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"profile-limit{limit}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=True), encoding="utf-8")
    (RESULTS_DIR / f"profile-limit{limit}.html").write_text(profiler.output_html(), encoding="utf-8")
    return path

"""Streamable HTTP deployment: a stateless ASGI app a team can run behind a proxy, in N workers or replicas.

The MCP endpoint (`/mcp`) uses the SDK's streamable HTTP transport in stateless mode with JSON responses,
so any worker or replica can answer any request and no session affinity is needed. Around it:

- bearer auth: when `POLAR_MCP_AUTH_TOKEN` is set, every request to the endpoint must carry
  `Authorization: Bearer <that value>`, else 401 before anything reaches a tool. Without it, the endpoint
  only answers requests that arrive on a loopback address;
- DNS-rebinding protection: Host and Origin are checked against loopback plus `POLAR_MCP_ALLOWED_HOSTS`
  and `POLAR_MCP_ALLOWED_ORIGINS` (comma-separated);
- `GET /healthz` (liveness: no auth, no Polar call) and `GET /readyz` (checks the Polar token, cached);
- a lifespan that closes the shared Polar client after uvicorn has let in-flight calls finish;
- the limits of `polar_mcp.limits`: POST only on the endpoint (405 otherwise), bounded bodies, a call
  cancelled with its Polar requests when its client disconnects, a deadline on request heads, caps on
  open connections and concurrent requests.

The Polar token is read from the server's environment only; nothing a client sends can replace it.

One process: `polar-mcp --transport streamable-http` (uses `serve`). Several workers:
`polar-mcp --transport streamable-http --workers 4`, or under any ASGI server, e.g.
`uvicorn polar_mcp.http:app --factory --workers 4` (`app` is a factory, so `--factory` is required).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_mcp.config import Settings
from polar_mcp.errors import PolarMCPError
from polar_mcp.limits import McpEndpoint, raise_file_limit, uvicorn_options
from polar_mcp.logs import LOG_LEVELS, configure_logging
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.query import CustomerQuery
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.startup import Startup, server_from, start

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "ALLOWED_ORIGINS_ENV",
    "AUTH_TOKEN_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "HttpConfig",
    "app",
    "create_app",
    "is_loopback",
    "serve",
]

logger = logging.getLogger(__name__)

AUTH_TOKEN_ENV = "POLAR_MCP_AUTH_TOKEN"
ALLOWED_HOSTS_ENV = "POLAR_MCP_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "POLAR_MCP_ALLOWED_ORIGINS"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_PATH = "/mcp"
# uvicorn lets in-flight requests finish for this long after SIGTERM (Kubernetes waits 30 s by default).
GRACEFUL_SHUTDOWN_SECONDS = 25
READY_CACHE_SECONDS = 10.0  # /readyz is unauthenticated: at most one Polar request per window
EXIT_USAGE = 2

# A browser on an attacker's page sends the attacker's host name, never these, so they are always safe.
LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*")
LOOPBACK_ORIGINS = tuple(f"http://{host}" for host in LOOPBACK_HOSTS)


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP deployment's own settings, read from `POLAR_MCP_*` variables by `from_env`."""

    # repr=False keeps the shared secret out of any log line or traceback that prints the config.
    auth_token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpConfig:
        """Read the auth token and the extra allowed hosts and origins (comma-separated lists)."""
        env = os.environ if environ is None else environ
        return cls(
            auth_token=env.get(AUTH_TOKEN_ENV, "").strip() or None,
            allowed_hosts=_split(env.get(ALLOWED_HOSTS_ENV, "")),
            allowed_origins=_split(env.get(ALLOWED_ORIGINS_ENV, "")),
        )

    def transport_security(self) -> TransportSecuritySettings:
        """Host and Origin checks on, allowing loopback plus the configured names."""
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(dict.fromkeys((*LOOPBACK_HOSTS, *self.allowed_hosts))),
            allowed_origins=list(dict.fromkeys((*LOOPBACK_ORIGINS, *self.allowed_origins))),
        )


def _split(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def is_loopback(host: str) -> bool:
    """Whether a bind address or local address only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(
    server: PolarMCPServer | None = None,
    *,
    settings: Settings | None = None,
    auth_token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    allowed_origins: Sequence[str] | None = None,
    path: str = DEFAULT_PATH,
) -> Starlette:
    """Build the ASGI app. Each argument left as `None` comes from the environment.

    `server` defaults to one built from `settings` (or, without settings, from the environment as
    `polar-mcp` does). An empty `auth_token` turns bearer auth off whatever the environment says.
    Build one app per server: the app's lifespan closes `server.polar`.
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    env = HttpConfig.from_env()
    config = HttpConfig(
        auth_token=env.auth_token if auth_token is None else auth_token,
        allowed_hosts=env.allowed_hosts if allowed_hosts is None else tuple(allowed_hosts),
        allowed_origins=env.allowed_origins if allowed_origins is None else tuple(allowed_origins),
    )
    if server is None:
        server = build_server(settings) if settings is not None else _server_from_env()

    server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        transport_security=config.transport_security(),
    )
    # Only the session manager is kept: the routes, auth and lifespan around it are ours.
    session_manager = server.session_manager
    polar = server.polar

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            async with session_manager.run():
                yield
        finally:
            # uvicorn runs this only after in-flight requests have finished (or the grace period ran out).
            await polar.aclose()
            logger.info("closed the Polar client")

    readiness = _Readiness(polar)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route(path, endpoint=_RequireBearer(McpEndpoint(session_manager.handle_request), config.auth_token)),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/readyz", endpoint=readiness.endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _server_from_env() -> PolarMCPServer:
    started = start()
    if started.config_error is not None:
        # As with stdio: start anyway, and every tool call explains which variable to fix.
        logger.error("%s", started.config_error)
    return server_from(started)


class _RequireBearer:
    """ASGI guard for the MCP endpoint: a matching bearer token, or 401 before the request goes further."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                description, error = refusal
                client = scope.get("client") or ("unknown", 0)
                logger.warning("refused an MCP request from %s: %s", client[0], description)
                challenge = 'Bearer realm="polar-mcp"' + (f', error="{error}"' if error else "")
                response = JSONResponse(
                    {"error": "unauthorized", "error_description": description},
                    status_code=401,
                    headers={"WWW-Authenticate": challenge},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[str, str | None] | None:
        """Why the request is refused and the RFC 6750 error code, or None to let it through."""
        if self.token is None:
            # No shared secret: serve only what reached us on loopback (e.g. from a proxy on this machine).
            local = scope.get("server")
            if local is None or local[1] is None or is_loopback(str(local[0])):
                return None  # unknown, a Unix socket, or loopback: all local
            return (
                f"This server has no {AUTH_TOKEN_ENV}, so it only answers on a loopback address. "
                f"Set {AUTH_TOKEN_ENV} on the server and send it as 'Authorization: Bearer <token>'.",
                None,
            )
        scheme, _, presented = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return "Send the server's token as 'Authorization: Bearer <token>'.", None
        if not hmac.compare_digest(presented.strip().encode(), self.token):
            return (
                f"The bearer token does not match the server's {AUTH_TOKEN_ENV}. Send the token you were "
                "given as 'Authorization: Bearer <token>'.",
                "invalid_token",
            )
        return None


class _Readiness:
    """`GET /readyz`: one `limit=1` request proves the Polar token works; the answer is cached briefly."""

    def __init__(self, polar: PolarClient) -> None:
        self.polar = polar
        self._lock = anyio.Lock()
        self._checked_at = -READY_CACHE_SECONDS
        self._answer: tuple[int, dict[str, Any]] = (503, {"status": "unknown"})

    async def endpoint(self, _: Request) -> JSONResponse:
        async with self._lock:
            if time.monotonic() - self._checked_at >= READY_CACHE_SECONDS:
                self._answer = await self._check()
                self._checked_at = time.monotonic()
        status, body = self._answer
        return JSONResponse(body, status_code=status)

    async def _check(self) -> tuple[int, dict[str, Any]]:
        try:
            await self.polar.list_customers(CustomerQuery(limit=1))
        except PolarMCPError as exc:
            # The details name variables and URLs: they go to the operator's log, not to anonymous callers.
            logger.warning("not ready: %s", exc)
            return 503, {"status": "unavailable", "reason": type(exc).__name__}
        return 200, {"status": "ready"}


def app() -> Starlette:
    """Build the app from the environment: `uvicorn polar_mcp.http:app --factory --workers N`."""
    level = os.environ.get("POLAR_MCP_LOG_LEVEL", "").strip().upper()
    configure_logging(level if level in LOG_LEVELS else "INFO")
    # uvicorn's own command line has set up its access log on stdout by now; stdout stays empty here.
    for handler in logging.getLogger("uvicorn.access").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    if HttpConfig.from_env().auth_token is None:
        logger.warning(
            "%s is not set: the MCP endpoint answers only requests that arrive on loopback or a Unix socket",
            AUTH_TOKEN_ENV,
        )
    return create_app()


def serve(
    server: PolarMCPServer,
    started: Startup,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
) -> int:
    """Run uvicorn with one or `workers` processes; refuse (exit code 2) to listen beyond loopback
    without an auth token."""
    import uvicorn

    host = host.strip("[]")  # an IPv6 address may come as in a URL, [::1]
    config = HttpConfig.from_env()
    if config.auth_token is None and not is_loopback(host):
        logger.error(
            "refusing to listen on %s without %s: anyone who can reach this address could read the "
            "organization's customers. Set %s to a long random secret (clients send it as "
            "'Authorization: Bearer <secret>'), or listen on 127.0.0.1 behind a proxy that authenticates.",
            host,
            AUTH_TOKEN_ENV,
            AUTH_TOKEN_ENV,
        )
        return EXIT_USAGE
    if started.config_error is None and not started.settings.access_token and not started.settings.demo:
        logger.warning("POLAR_ACCESS_TOKEN is not set: list_customers will answer with setup instructions")
    if not is_loopback(host) and not config.allowed_hosts:
        logger.warning(
            "%s is not set: requests are accepted only with a loopback Host header. Set it to the host "
            "name clients use, e.g. %s=mcp.example.com",
            ALLOWED_HOSTS_ENV,
            ALLOWED_HOSTS_ENV,
        )
    raise_file_limit()
    if workers > 1:
        return _serve_workers(started.settings, host=host, port=port, workers=workers)
    asgi = create_app(
        server,
        auth_token=config.auth_token,
        allowed_hosts=config.allowed_hosts,
        allowed_origins=config.allowed_origins,
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the normal way to stop it
        uvicorn.run(
            asgi,
            host=host,
            port=port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            **uvicorn_options(),
        )
    return 0


def _serve_workers(settings: Settings, *, host: str, port: int, workers: int) -> int:
    """Run `workers` processes of the `app` factory on one listening socket of our own.

    uvicorn's own `--workers` socket is made without `IPPROTO_TCP`, so asyncio never sets
    TCP_NODELAY on its connections and every small answer waits ~40 ms on Nagle's algorithm;
    connections accepted from this socket inherit the protocol and get TCP_NODELAY.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if settings.demo:
        os.environ["POLAR_MCP_DEMO"] = "1"  # workers build their server from the environment
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", host, port, exc.strerror)
        return EXIT_USAGE
    sock.set_inheritable(True)
    config = uvicorn.Config(
        "polar_mcp.http:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **uvicorn_options(),
    )
    logger.info("serving on http://%s:%d%s with %d workers", host, port, DEFAULT_PATH, workers)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()
    return 0

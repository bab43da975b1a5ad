"""Streamable HTTP deployment: a stateless ASGI app a team can run behind a proxy, in N workers or replicas.

The MCP endpoint (`/mcp`) uses the SDK's streamable HTTP transport in stateless mode with JSON responses,
so any worker or replica can answer any request and no session affinity is needed. Around it:

- bearer auth: when `POLAR_MCP_AUTH_TOKEN` is set, every request to the endpoint must carry
  `Authorization: Bearer <that value>`, else 401 before anything reaches a tool. Without it, the endpoint
  only answers requests that arrive on a loopback address;
- DNS-rebinding protection: Host and Origin are checked against loopback plus `POLAR_MCP_ALLOWED_HOSTS`
  and `POLAR_MCP_ALLOWED_ORIGINS` (comma-separated); a Host whose port is not digits is refused first;
- CORS for browser-based hosts: the same allowed origins get their preflights answered (no bearer token
  needed) and `Access-Control-*` headers on every answer of the endpoint; each origin is named back,
  never `*`, and no credentials mode is offered (the bearer token travels in a header the page sets);
- `GET /healthz` (liveness: no auth, no Polar call, never refused for load) and `GET /readyz` (checks
  the Polar token, cached; at most one check in flight, other probes get the last answer at once);
- the client address that is logged: the peer's, or, from a proxy in `POLAR_MCP_TRUSTED_PROXIES`,
  the address it names in `X-Forwarded-For`;
- a lifespan that closes the shared Polar client after uvicorn has let in-flight calls finish;
- the limits of `polar_mcp.limits`: POST only on the endpoint (405 otherwise), bounded bodies, a call
  cancelled with its Polar requests when its client disconnects, deadlines on request heads, caps on
  open connections and on requests in flight.

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
import re
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
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polar_mcp.config import Settings
from polar_mcp.errors import PolarMCPError
from polar_mcp.limits import (
    TRUSTED_PROXIES_ENV,
    InFlightLimit,
    McpEndpoint,
    Network,
    is_trusted,
    parse_networks,
    raise_file_limit,
    uvicorn_options,
)
from polar_mcp.logs import LOG_LEVELS, configure_logging
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.query import CustomerQuery
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.startup import Startup, server_from, start

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "ALLOWED_ORIGINS_ENV",
    "AUTH_TOKEN_ENV",
    "CORS_ALLOW_HEADERS",
    "CORS_EXPOSE_HEADERS",
    "DEFAULT_HOST",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "TRUSTED_PROXIES_ENV",
    "Cors",
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
READY_CHECK_SECONDS = 5.0  # a readiness check that Polar has not answered by then reports not ready
EXIT_USAGE = 2

# A browser on an attacker's page sends the attacker's host name, never these, so they are always safe.
LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*")
LOOPBACK_ORIGINS = tuple(f"http://{host}" for host in LOOPBACK_HOSTS)
# A name or bracketed IPv6 address, then optionally ':' and digits. The SDK matches `name:*` by prefix,
# so without this `localhost:1@evil.example` would pass as a loopback name with a port.
HOST_SYNTAX = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# An Origin as browsers send it: scheme, host and an optional numeric port, nothing after.
ORIGIN_SYNTAX = re.compile(r"[a-z][a-z0-9+.-]*://" + HOST_SYNTAX.pattern)
# What a browser page may send and read: the request headers MCP clients set (the 2026-07-28 revision's
# Mcp-Method and Mcp-Name among them) and the response headers they read.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "MCP-Protocol-Version",
    "Last-Event-ID",
    "Mcp-Method",
    "Mcp-Name",
)
CORS_EXPOSE_HEADERS = ("Mcp-Session-Id", "MCP-Protocol-Version", "WWW-Authenticate")
# POST is all this stateless server serves; GET and DELETE are allowed so that a client's stream or session
# request reads its 405 instead of failing as a network error.
CORS_METHODS = ("GET", "POST", "DELETE")
CORS_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP deployment's own settings, read from `POLAR_MCP_*` variables by `from_env`."""

    # repr=False keeps the shared secret out of any log line or traceback that prints the config.
    auth_token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpConfig:
        """Read the auth token, the extra allowed hosts and origins and the trusted proxies
        (comma-separated lists). ValueError names a trusted proxy that is not an address or network."""
        env = os.environ if environ is None else environ
        return cls(
            auth_token=env.get(AUTH_TOKEN_ENV, "").strip() or None,
            allowed_hosts=_split(env.get(ALLOWED_HOSTS_ENV, "")),
            allowed_origins=_split(env.get(ALLOWED_ORIGINS_ENV, "")),
            trusted_proxies=parse_networks(env.get(TRUSTED_PROXIES_ENV, "")),
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
    trusted_proxies: Sequence[str] | None = None,
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
        trusted_proxies=(
            env.trusted_proxies if trusted_proxies is None else parse_networks(",".join(trusted_proxies))
        ),
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

    endpoint = _RequireBearer(McpEndpoint(session_manager.handle_request), config.auth_token)
    routes = [
        Route(path, endpoint=_HostSyntax(endpoint)),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/readyz", endpoint=readiness.endpoint, methods=["GET"]),
    ]
    middleware = [
        Middleware(_ForwardedClient, trusted=config.trusted_proxies),
        # Outside the in-flight limit, so a busy server's 503 is readable by the page too.
        Middleware(Cors, path=path, origins=config.transport_security().allowed_origins),
        Middleware(InFlightLimit, exempt=("/healthz",)),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _server_from_env() -> PolarMCPServer:
    started = start()
    if started.config_error is not None:
        # As with stdio: start anyway, and every tool call explains which variable to fix.
        logger.error("%s", started.config_error)
    return server_from(started)


class _ForwardedClient:
    """The client address of a request from a trusted proxy is the right-most address in
    `X-Forwarded-For` that is not itself a trusted proxy (what nginx's `$proxy_add_x_forwarded_for`
    appends). Anything that is not an IP address ends the walk, so no such text reaches a log line."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and self.trusted and client and is_trusted(str(client[0]), self.trusted):
            hops = [
                hop.strip()
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",")
            ]
            current = str(client[0])
            while hops and is_trusted(current, self.trusted):
                hop = hops.pop()
                try:
                    current = str(ipaddress.ip_address(hop))
                except ValueError:
                    break
            if current != client[0]:
                scope["client"] = (current, 0)
        await self.app(scope, receive, send)


class Cors:
    """CORS on the MCP endpoint (`path`) for the allowed `origins` (exact, or `scheme://host:*` for any
    port, as the Origin check has them).

    A preflight (OPTIONS with `Access-Control-Request-Method`) from an allowed origin is answered 204 here,
    before the bearer check, since browsers never send credentials on one; from any other origin, 403
    without CORS headers. Every other answer to an allowed origin carries `Access-Control-Allow-Origin`
    naming that origin, `Vary: Origin`, and the headers a client reads; a request from another origin
    goes on without them, to the Origin check that refuses it."""

    def __init__(self, app: ASGIApp, path: str, origins: Sequence[str]) -> None:
        self.app = app
        self.path = path
        self.origins = tuple(origins)

    def allows(self, origin: str) -> bool:
        if not ORIGIN_SYNTAX.fullmatch(origin):
            return False
        return any(
            origin == allowed or (allowed.endswith(":*") and origin.startswith(allowed[:-2] + ":"))
            for allowed in self.origins
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.allows(origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if not allowed:
                logger.warning("refused a CORS preflight from origin %r", origin[:200])
                await PlainTextResponse("Origin not allowed", status_code=403)(scope, receive, send)
                return
            answer = {
                **_cors_headers(origin),
                "access-control-allow-methods": ", ".join(CORS_METHODS),
                "access-control-allow-headers": ", ".join(CORS_ALLOW_HEADERS),
                "access-control-max-age": str(CORS_MAX_AGE_SECONDS),
            }
            # Chromium asks before a page on a public address may reach a private or loopback one.
            if headers.get("access-control-request-private-network") == "true":
                answer["access-control-allow-private-network"] = "true"
            await _empty(send, 204, answer)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        extra = [(name.encode(), value.encode()) for name, value in _cors_headers(origin).items()]
        extra.append((b"access-control-expose-headers", ", ".join(CORS_EXPOSE_HEADERS).encode()))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if not name.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": [*kept, *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _cors_headers(origin: str) -> dict[str, str]:
    return {"access-control-allow-origin": origin, "vary": "Origin"}


async def _empty(send: Send, status: int, headers: Mapping[str, str]) -> None:
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    await send(
        {"type": "http.response.start", "status": status, "headers": [*raw, (b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


class _HostSyntax:
    """421 for a Host header that is not a name or address with an optional numeric port, before the
    SDK's allow-list, which matches `localhost:*` as a prefix."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if host and not HOST_SYNTAX.fullmatch(host):
                logger.warning("refused an MCP request with a malformed Host header: %r", host[:200])
                await PlainTextResponse("Invalid Host header", status_code=421)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
    """`GET /readyz`: one `limit=1` request proves the Polar token works; the answer is cached briefly.

    At most one check is in flight: the probe that starts it waits for it (at most `check_seconds`),
    every probe meanwhile gets the last answer at once, so probes cannot pile up on a slow Polar."""

    def __init__(self, polar: PolarClient, check_seconds: float = READY_CHECK_SECONDS) -> None:
        self.polar = polar
        self.check_seconds = check_seconds
        self._checking = False
        self._checked_at = -READY_CACHE_SECONDS
        self._answer: tuple[int, dict[str, Any]] = (503, {"status": "unknown"})

    async def endpoint(self, _: Request) -> JSONResponse:
        if not self._checking and time.monotonic() - self._checked_at >= READY_CACHE_SECONDS:
            self._checking = True
            try:
                self._answer = await self._check()
                self._checked_at = time.monotonic()
            finally:
                self._checking = False
        status, body = self._answer
        return JSONResponse(body, status_code=status)

    async def _check(self) -> tuple[int, dict[str, Any]]:
        with anyio.move_on_after(self.check_seconds):
            try:
                await self.polar.list_customers(CustomerQuery(limit=1))
            except PolarMCPError as exc:
                # The details name variables and URLs: for the operator's log, not for anonymous callers.
                logger.warning("not ready: %s", exc)
                return 503, {"status": "unavailable", "reason": type(exc).__name__}
            return 200, {"status": "ready"}
        logger.warning("not ready: Polar did not answer the readiness check within %g s", self.check_seconds)
        return 503, {"status": "unavailable", "reason": "PolarUnreachable"}


def app() -> Starlette:
    """Build the app from the environment: `uvicorn polar_mcp.http:app --factory --workers N`."""
    level = os.environ.get("POLAR_MCP_LOG_LEVEL", "").strip().upper()
    configure_logging(level if level in LOG_LEVELS else "INFO")
    # uvicorn's own command line has set up its access log on stdout by now; stdout stays empty here.
    for handler in logging.getLogger("uvicorn.access").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    try:
        config = HttpConfig.from_env()
    except ValueError as exc:
        logger.error("%s", exc)
        raise SystemExit(EXIT_USAGE) from None
    if config.auth_token is None:
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
    try:
        config = HttpConfig.from_env()
    except ValueError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
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
        trusted_proxies=[str(network) for network in config.trusted_proxies],
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

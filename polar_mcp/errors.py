"""The one exception tree of polar-mcp; every message tells the assistant what to do next.

    PolarMCPError
    ├── ConfigError          the environment is missing or has a bad setting
    ├── SnapshotTooLarge     the export holds more than POLAR_MCP_SNAPSHOT_MAX customers or _MAX_MB bytes
    ├── ExportsThrottled     more exports asked for in a short time than the shared rate budget allows
    ├── QueryError           a query_customers statement was refused, failed or ran out of time
    └── PolarError           anything that went wrong talking to Polar
        ├── AuthError            401: token missing, expired, revoked or from the other environment
        ├── ScopeError           403: token lacks customers:read
        ├── NotFound             404: wrong base URL or unknown Polar-Version
        ├── InvalidRequest       422: Polar rejected a parameter
        ├── RateLimited          429: too many requests, retry later
        ├── UpstreamError        5xx or any other unexpected status
        ├── InvalidResponse      a 2xx whose body is not the expected JSON or CSV
        └── PolarUnreachable     timeout or connection failure

Messages never contain the access token: they are built from settings and status codes, plus
Polar's own 422 details with the token redacted.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "ExportsThrottled",
    "InvalidRequest",
    "InvalidResponse",
    "NotFound",
    "PolarError",
    "PolarMCPError",
    "PolarUnreachable",
    "QueryError",
    "RateLimited",
    "ScopeError",
    "SnapshotTooLarge",
    "UpstreamError",
]


class PolarMCPError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(PolarMCPError):
    """Raised when a `POLAR_*` variable is missing or malformed."""


class SnapshotTooLarge(PolarMCPError):
    """Raised when an export holds more rows or bytes than `POLAR_MCP_SNAPSHOT_MAX(_MB)` allow."""


class ExportsThrottled(PolarMCPError):
    """Raised when a new snapshot would start more exports in a short time than polar-mcp asks Polar for."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueryError(PolarMCPError):
    """Raised when a SQL statement is refused by the safety rules, rejected by SQLite, or runs too long."""


class PolarError(PolarMCPError):
    """Raised for any failed exchange with the Polar API."""

    status_code: int | None = None

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthError(PolarError):
    """Raised on 401: the token is unknown, expired, revoked or belongs to the other environment."""


class ScopeError(PolarError):
    """Raised on 403: the token is valid but lacks the customers:read scope."""


class NotFound(PolarError):
    """Raised on 404: the base URL or the Polar-Version header is wrong."""


class InvalidRequest(PolarError):
    """Raised on 422: Polar rejected one or more query parameters."""


class RateLimited(PolarError):
    """Raised on 429 when the wait Polar asks for does not fit in the retry budget."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after = retry_after


class UpstreamError(PolarError):
    """Raised on 5xx (after retries) or any status Polar does not document for this call."""


class InvalidResponse(PolarError):
    """Raised when a successful response is not the JSON page or CSV export Polar documents."""


class PolarUnreachable(PolarError):
    """Raised when Polar cannot be reached in time (connection error or timeout), after retries."""

# polar-mcp over streamable HTTP (see docs/remote.md).
#
#   docker build -t polar-mcp .
#   docker run --rm -p 127.0.0.1:8000:8000 --read-only --cap-drop ALL \
#     --security-opt no-new-privileges --pids-limit 64 --memory 512m --ulimit nofile=4096 \
#     -e POLAR_ACCESS_TOKEN -e POLAR_MCP_AUTH_TOKEN -e POLAR_MCP_ALLOWED_HOSTS=mcp.example.com polar-mcp
#
# POLAR_MCP_AUTH_TOKEN is required: listening on 0.0.0.0 without it, the server refuses to start (exit 2).
# The server itself bounds request heads and bodies, open connections, concurrent requests, the time
# of each call and its log volume; put a TLS-terminating, rate-limiting proxy in front on the open
# internet (docs/remote.md, "On the open internet").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY polar_mcp ./polar_mcp
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin polar

USER 10001
EXPOSE 8000
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

# Exec form: the server is PID 1 and gets SIGTERM itself, so in-flight calls finish before it exits.
# For several workers in one container use instead:
#   CMD ["polar-mcp", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
CMD ["polar-mcp", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000"]

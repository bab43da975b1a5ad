"""`python -m polar_mcp` runs the same command line as `polar-mcp`."""

from polar_mcp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

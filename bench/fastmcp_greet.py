"""Seed 001's `greet` in FastMCP, for bench/languages.sh only (never in the tests): the same tool
Warden serves as py-sample.greet, over stateless Streamable HTTP with JSON responses, no auth (as
the Warden it is compared with).

    python bench/fastmcp_greet.py PORT
"""

import sys

from fastmcp import FastMCP

mcp = FastMCP("greet")


@mcp.tool
def greet(name: str) -> str:
    """Greets someone by name."""
    name = name.strip()
    if not name:
        raise ValueError("name must not be empty")
    return f"Hello, {name}! You are anonymous."


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), stateless_http=True,
            json_response=True, show_banner=False, log_level="warning")

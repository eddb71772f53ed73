"""The three tools of Auth0's MCP sample server (seed 001), as a Warden plugin in Python.

Build: `make plugins` (componentize-py with warden_sdk on the path); the manifest is plugin.toml.
"""

from datetime import datetime, timezone
from typing import Annotated

from warden_sdk import Context, InvalidArguments, Server, tool  # noqa: F401 (Server: the export)


@tool
def whoami(cx: Context) -> dict:
    """Returns the caller as the host verified it."""
    c = cx.caller
    return {
        "subject": c.subject,
        "issuer": c.issuer,
        "email": c.email,
        "client_id": c.client_id,
        "scopes": list(c.scopes),
        "permissions": list(c.permissions),
    }


@tool
def greet(cx: Context, name: Annotated[str, "Who to greet"]) -> str:
    """Greets someone by name."""
    name = name.strip()
    if not name:
        raise InvalidArguments("name must not be empty")
    return f"Hello, {name}! You are {cx.caller.subject}."


@tool
def get_datetime() -> dict:
    """The current time, UTC, ISO-8601 with millisecond precision."""
    now = datetime.now(timezone.utc)
    return {"utc": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"}

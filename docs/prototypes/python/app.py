"""A Warden plugin written against warden_sdk: decorated, type-hinted functions only."""
import os
from typing import Annotated, Literal, Optional

from warden_sdk import Server, Context, tool, ToolError, InvalidArguments  # noqa: F401 (Server: the export)


@tool
def greet(cx: Context, name: Annotated[str, "Who to greet"]) -> str:
    """Greets someone by name."""
    cx.info(f"greeting {name}")
    return f"Hello, {name}! You are {cx.caller.subject}."


@tool(title="Add numbers")
def add(a: int, b: int = 0, mode: Literal["sum", "diff"] = "sum") -> dict:
    """Adds (or subtracts) two integers; structured result."""
    return {"result": a + b if mode == "sum" else a - b}


@tool
def boom(cx: Context, why: Optional[str] = None) -> str:
    """Raises an ordinary exception: the SDK turns it into plugin-error::failed."""
    raise RuntimeError(why or "kaboom")


@tool
def picky(n: int) -> str:
    """Tool error (is-error) vs invalid arguments."""
    if n < 0:
        raise InvalidArguments("n must be >= 0")
    if n == 0:
        raise ToolError("zero is not interesting")
    return str(n)


@tool
def fetch(cx: Context, path: str = "/hello") -> dict:
    """GETs <WARDEN_HTTP_API><path> over wasi:http (env read at call time, not import time)."""
    base = os.environ.get("WARDEN_HTTP_API", "")
    r = cx.http.get(base.rstrip("/") + path, headers={"x-test": "1"}, timeout_ms=2000)
    r2 = cx.http.post(base.rstrip("/") + "/echo", json={"who": cx.caller.subject, "pad": "x" * 10000})
    return {"status": r.status, "body": r.text, "ctype": r.header("content-type"),
            "post_status": r2.status, "post_echo_len": len(r2.json()["body"])}


@tool
def sql(cx: Context) -> list:
    """Runs a query through the lent database handle."""
    return cx.db.query("select 1 as one where ? = ?", 1, "x")

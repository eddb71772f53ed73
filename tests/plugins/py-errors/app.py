"""TEST FIXTURE: a Python plugin that fails in every way a plugin author's code can, to show each
failure is contained as a clear tool error (never a trap dump) while other calls are served."""

import socket

from warden_sdk import Context, InvalidArguments, Server, ToolError, tool  # noqa: F401 (Server: the export)


@tool
def boom(why: str = "kaboom") -> str:
    """Raises an ordinary exception."""
    raise RuntimeError(why)


@tool
def picky(n: int) -> str:
    """Invalid arguments below 0, a tool error at 0, else the number."""
    if n < 0:
        raise InvalidArguments("n must be >= 0")
    if n == 0:
        raise ToolError("zero is not interesting")
    return str(n)


@tool
def spin() -> str:
    """Never returns."""
    while True:
        pass


@tool
def hog() -> str:
    """Allocates without bound."""
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


@tool
def recurse(depth: int = 0) -> int:
    """Recurses without bound."""
    return recurse(depth + 1) + 1


@tool
def huge() -> str:
    """Returns more than the host's result limit."""
    return "x" * (4 << 20)


@tool
def read_file(path: str = "/etc/passwd") -> str:
    """Tries to read a host file."""
    with open(path) as f:
        return f.read()


@tool
def open_socket(host: str = "127.0.0.1", port: int = 5432) -> str:
    """Tries to open a TCP connection."""
    s = socket.create_connection((host, port), timeout=1)
    s.close()
    return "connected"

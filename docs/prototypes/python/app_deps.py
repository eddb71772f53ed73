"""Third-party pure-Python package (python-dateutil, bundled with -p deps) + lazy-import pitfalls."""
import datetime
from dateutil import parser as dparser
from dateutil.relativedelta import relativedelta

from warden_sdk import Server, Context, tool  # noqa: F401


@tool
def when(text: str, plus_months: int = 0) -> dict:
    """Parses a date with dateutil and adds months."""
    d = dparser.parse(text) + relativedelta(months=plus_months)
    return {"iso": d.isoformat()}


@tool
def pitfalls() -> dict:
    """Stdlib calls that import modules lazily, at call time."""
    out = {}
    probes = {
        "strptime": lambda: datetime.datetime.strptime("2024-01-02", "%Y-%m-%d").isoformat(),
        "idna": lambda: "bücher.example".encode("idna").decode(),
        "json_dumps": lambda: __import__("json").dumps({"a": 1}),
        "zoneinfo": lambda: str(__import__("zoneinfo").ZoneInfo("Europe/Paris")),
    }
    for k, f in probes.items():
        try:
            out[k] = f()
        except BaseException as e:  # noqa: BLE001
            out[k] = "ERROR " + repr(e)
    return out

"""TEST FIXTURE: a read-write database plugin that runs whatever SQL it is given (through the
guard), to show what a plugin can and cannot do to the pool (tests/e2e/database.rs)."""

from warden_sdk import Context, Server, tool  # noqa: F401 (Server: the export)


@tool
def execute(cx: Context, sql: str) -> int:
    """Runs one write statement; returns the rows it changed."""
    return cx.db.execute(sql)


@tool
def query(cx: Context, sql: str) -> dict:
    """Runs one read statement."""
    return cx.db.table(sql)


@tool
def script(cx: Context, sqls: list[str]) -> dict:
    """Runs read statements one after another in one call; reports each one's row count or error."""
    results = []
    for sql in sqls:
        try:
            table = cx.db.table(sql)
            results.append({"rows": len(table["rows"]), "truncated": table.get("truncated", False)})
        except Exception as e:  # noqa: BLE001 (every failure is reported, in order)
            results.append({"error": str(e)})
    return {"results": results}

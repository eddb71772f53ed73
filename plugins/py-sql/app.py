"""Seed 000's read-only database tools (list tables, describe a table, run a query) as a Warden
plugin in Python. Every statement runs as the caller (the host impersonates them) and passes the
host's SQL guard first; the plugin holds no credential."""

from typing import Annotated, List, Optional, Union

from warden_sdk import Context, InvalidArguments, PluginError, Server, tool  # noqa: F401 (Server: the export)

_STANDARD_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'mysql', 'sys', 'performance_schema') "
    "ORDER BY table_schema, table_name"
)
_SQLITE_TABLES = (
    "SELECT 'main' AS table_schema, name AS table_name FROM sqlite_master WHERE type = 'table' ORDER BY name"
)


@tool
def list_tables(cx: Context) -> dict:
    """Lists the tables you can see."""
    try:
        return cx.db.table(_STANDARD_TABLES)
    except PluginError:  # not information_schema: SQLite
        return cx.db.table(_SQLITE_TABLES)


@tool
def describe_table(cx: Context, table: Annotated[str, "The table's name"]) -> dict:
    """Lists a table's columns and their types."""
    try:
        result = cx.db.table(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            table,
        )
    except PluginError:  # not information_schema: SQLite
        result = cx.db.table(
            'SELECT name AS column_name, type AS data_type, "notnull" AS not_null FROM pragma_table_info(?)', table
        )
    if not result["rows"]:
        raise InvalidArguments(f"no table named {table!r} is visible to you")
    return result


@tool
def run_query(
    cx: Context,
    sql: Annotated[str, "One SELECT statement; use ? for parameters"],
    params: Annotated[Optional[List[Union[str, int, float, bool, None]]], "Values for the ? placeholders"] = None,
) -> dict:
    """Runs one read-only SELECT as you, with ? parameters."""
    return cx.db.table(sql, *(params or []))

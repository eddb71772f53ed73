//! Read-only SQL tools, like the vendor server in seed 000, but every statement runs as the
//! caller and passes the host's SQL guard first.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::db::{Table, Value};
use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools, serde_json};

fn list_tables(cx: &Context, _: NoArgs) -> Result<Table, ToolError> {
    let db = cx.db()?;
    // information_schema on PostgreSQL, MySQL, SQL Server...; sqlite_master on SQLite.
    let standard = "SELECT table_schema, table_name FROM information_schema.tables \
                    WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'mysql', 'sys', 'performance_schema') \
                    ORDER BY table_schema, table_name";
    match db.query(standard, &[]) {
        Ok(rows) => Ok(rows.into()),
        Err(_) => Ok(db
            .query("SELECT 'main' AS table_schema, name AS table_name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[])?
            .into()),
    }
}

#[derive(Deserialize, JsonSchema)]
struct DescribeArgs {
    /// The table's name.
    table: String,
}

fn describe_table(cx: &Context, args: DescribeArgs) -> Result<Table, ToolError> {
    let db = cx.db()?;
    let name = vec![Value::Text(args.table.clone())];
    let standard = "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                    WHERE table_name = ? ORDER BY ordinal_position";
    let rows = match db.query(standard, &name) {
        Ok(rows) => rows,
        Err(_) => db.query(
            "SELECT name AS column_name, type AS data_type, \"notnull\" AS not_null FROM pragma_table_info(?)",
            &name,
        )?,
    };
    if rows.rows.is_empty() {
        return Err(ToolError::InvalidArguments(format!(
            "no table named {:?} is visible to you",
            args.table
        )));
    }
    Ok(rows.into())
}

#[derive(Deserialize, JsonSchema)]
struct QueryArgs {
    /// One SELECT statement; use ? for parameters.
    sql: String,
    /// Values for the ? placeholders, in order.
    #[serde(default)]
    params: Vec<serde_json::Value>,
}

fn run_query(cx: &Context, args: QueryArgs) -> Result<Table, ToolError> {
    let params = args
        .params
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Null => Ok(Value::Null),
            serde_json::Value::Bool(b) => Ok(Value::Boolean(b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_f64().map(Value::Float))
                .ok_or_else(|| ToolError::InvalidArguments(format!("{n} is not a usable number"))),
            serde_json::Value::String(s) => Ok(Value::Text(s)),
            other => Err(ToolError::InvalidArguments(format!("parameter {other} must be a scalar"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cx.db()?.query(&args.sql, &params)?.into())
}

export_tools!(
    Tools::new()
        .tool("list_tables", "Lists the tables you can see.", list_tables)
        .tool("describe_table", "Lists a table's columns and their types.", describe_table)
        .tool("run_query", "Runs one read-only SELECT as you, with ? parameters.", run_query)
);

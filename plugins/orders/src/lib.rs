//! `my_orders`: one predeclared, parameterized statement, run as the caller. With impersonation
//! the database's own grants and row-level security apply as well.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::db::{Table, Value};
use warden_sdk::{Context, ToolError, Tools, export_tools};

#[derive(Deserialize, JsonSchema)]
struct MyOrdersArgs {
    /// Most orders to return (1-100, default 20).
    #[serde(default)]
    limit: Option<i64>,
}

fn my_orders(cx: &Context, args: MyOrdersArgs) -> Result<Table, ToolError> {
    let me = cx
        .caller
        .username
        .clone()
        .ok_or_else(|| ToolError::Forbidden("your token carries no user name".into()))?;
    let limit = args.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ToolError::InvalidArguments("limit must be between 1 and 100".into()));
    }
    let rows = cx.db()?.query(
        "SELECT id, item, total, placed_on FROM orders WHERE owner = ? ORDER BY id LIMIT ?",
        &[Value::Text(me), Value::Int(limit)],
    )?;
    Ok(rows.into())
}

export_tools!(Tools::new().tool("my_orders", "Lists your own orders, newest last.", my_orders));

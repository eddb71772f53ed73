//! Database helpers: values, a JSON-friendly table, and error conversion for `?`.
//!
//! ```ignore
//! let rows = cx.db()?.query("SELECT id, total FROM orders WHERE owner = ?", &[Value::Text(me)])?;
//! Ok(Table::from(rows))
//! ```

use schemars::JsonSchema;
use serde::Serialize;

use crate::bindings::warden::plugin::database;
use crate::error::ToolError;

pub use database::{DbError, Rows, Value};

/// A result set as JSON: column names, rows of JSON values, and whether the host cut it short.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; each value is null, a boolean, a number, a string, or (for binary data) an array of bytes.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when the host's row or byte cap cut the result short.
    pub truncated: bool,
}

impl From<Rows> for Table {
    fn from(rows: Rows) -> Self {
        Table {
            columns: rows.columns,
            rows: rows.rows.into_iter().map(|r| r.into_iter().map(to_json).collect()).collect(),
            truncated: rows.truncated,
        }
    }
}

/// One value as JSON.
pub fn to_json(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => b.into(),
        Value::Int(i) => i.into(),
        Value::Float(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into),
        Value::Text(s) => s.into(),
        Value::Bytes(b) => b.into(),
    }
}

impl From<DbError> for ToolError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotPermitted(m) => ToolError::Forbidden(format!("not permitted: {m}")),
            DbError::Denied(m) => ToolError::Forbidden(format!("the database denied this: {m}")),
            DbError::Invalid(m) => ToolError::Failed(format!("invalid statement: {m}")),
            DbError::Timeout => ToolError::Failed("the statement ran past its time limit".into()),
            DbError::Unavailable(m) => ToolError::Failed(format!("the database is unavailable: {m}")),
        }
    }
}

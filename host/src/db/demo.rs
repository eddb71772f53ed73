//! The embedded demo database: a SQLite file created with a small schema and data on first start,
//! so the quick start has something for the `sql` and `orders` plugins to read.

use std::path::Path;

use odbc_api::{ConnectionOptions, Environment};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, customer_id INTEGER NOT NULL \
     REFERENCES customers(id), item TEXT NOT NULL, total REAL NOT NULL, placed_on TEXT NOT NULL)",
];

const DATA: &[&str] = &[
    "INSERT INTO customers (id, name, region) VALUES (1, 'Acme Corp', 'EMEA'), (2, 'Globex', 'AMER'), \
     (3, 'Initech', 'APAC')",
    "INSERT INTO orders (id, owner, customer_id, item, total, placed_on) VALUES \
     (1, 'alice', 1, 'Anvil', 120.0, '2026-01-12'), \
     (2, 'alice', 2, 'Rocket skates', 89.5, '2026-02-03'), \
     (3, 'bob', 3, 'Stapler', 12.25, '2026-02-14'), \
     (4, 'bob', 1, 'Tunnel paint', 45.0, '2026-03-01')",
];

/// Why the embedded SQLite demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data directory cannot be created.
    #[error("cannot create {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error's text.
        reason: String,
    },
    /// The SQLite3 ODBC driver cannot open the file.
    #[error(
        "cannot open the SQLite demo through the SQLite3 ODBC driver ({0}); install it with `apt-get install libsqliteodbc`, or set database.connection_string"
    )]
    Driver(String),
    /// The schema or rows cannot be written.
    #[error("cannot create the demo schema: {0}")]
    Schema(String),
}

/// Creates the demo file under `data_dir` with its schema and rows, unless it already has them.
pub(super) fn ensure(
    env: &'static Environment,
    data_dir: &Path,
    connection_string: &str,
) -> Result<(), DemoError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| DemoError::DataDir { path: data_dir.display().to_string(), reason: e.to_string() })?;
    let conn = env
        .connect_with_connection_string(connection_string, ConnectionOptions::default())
        .map_err(|e| DemoError::Driver(e.to_string()))?;
    let fail = |e: odbc_api::Error| DemoError::Schema(e.to_string());
    for sql in SCHEMA {
        conn.execute(sql, (), None).map_err(fail)?;
    }
    let has_rows = match conn.execute("SELECT COUNT(*) FROM customers", (), None).map_err(fail)? {
        Some(cursor) => {
            let rows = super::rows::fetch(cursor, 1, 1024).map_err(fail)?;
            !matches!(rows.rows.first().and_then(|r| r.first()), Some(super::SqlValue::Int(0)))
        }
        None => false,
    };
    if !has_rows {
        for sql in DATA {
            conn.execute(sql, (), None).map_err(fail)?;
        }
    }
    Ok(())
}

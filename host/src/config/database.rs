//! `[database]`: the ODBC data source plugins reach through their query handle.

use std::path::Path;

use serde::Deserialize;

use super::Secret;
use crate::shared::{ReferenceError, resolve_reference};

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Turn database access off entirely: no pool, and plugins granted access get `unavailable`.
    pub enabled: bool,
    /// ODBC connection string. Unset: the embedded demo, a SQLite file `demo.sqlite` in
    /// `server.data_dir` through the SQLite3 ODBC driver, created with demo data on first start.
    /// May be a reference: `env:NAME` or `file:PATH`.
    pub connection_string: Option<Secret>,
    /// Password appended to the connection string as `PWD`; `env:NAME` or `file:PATH` keeps it out of the file.
    pub password: Option<Secret>,
    /// SQL dialect: how plugin statements are parsed and how impersonation is spoken.
    pub dialect: SqlDialect,
    /// How the caller is impersonated inside each call's transaction.
    pub impersonation: Impersonation,
    /// `custom` impersonation: the statement that starts acting as the user; `?` is bound to the name.
    pub impersonate_statement: Option<String>,
    /// `custom` impersonation: the statement that stops acting as the user (run before the transaction ends).
    pub revert_statement: Option<String>,
    /// `custom` impersonation: a query whose single value is the effective user name.
    pub current_user_query: Option<String>,
    /// How the database user name is derived from the token's user name.
    pub name_case: NameCase,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// How long a call waits for a free connection, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// Longest a single statement may run, in milliseconds (also capped by the plugin's own timeout).
    pub statement_timeout_ms: u64,
    /// Most rows one query returns; more set `truncated`.
    pub max_rows: usize,
    /// Most bytes of values one query returns; more set `truncated`.
    pub max_bytes: usize,
    /// A connection idle longer than this is pinged before it is lent out, in milliseconds.
    pub health_check_idle_ms: u64,
    /// Most statements one plugin call may send (the ceiling of a manifest's
    /// `database.statements_per_call`).
    pub max_statements_per_call: u64,
    /// Most rows one plugin call may read over all its queries (the ceiling of a manifest's
    /// `database.rows_per_call`).
    pub max_rows_per_call: u64,
    /// Pooled connections a plugin's statements may cost within `breaker_window_ms` before its
    /// database access is paused.
    pub breaker_losses: u32,
    /// The window `breaker_losses` is counted over, in milliseconds.
    pub breaker_window_ms: u64,
    /// How long a plugin's database access stays paused once its breaker trips, in milliseconds.
    pub breaker_pause_ms: u64,
}

/// SQL dialect of the data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SqlDialect {
    /// PostgreSQL (psqlODBC).
    Postgresql,
    /// SQLite (SQLite3 ODBC driver).
    Sqlite,
    /// MySQL / MariaDB.
    Mysql,
    /// Microsoft SQL Server.
    Mssql,
    /// Anything else (e.g. Actian/Ingres): ANSI parsing.
    Generic,
}

/// How a call acts as its caller in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impersonation {
    /// Statements run as the pool login (the caller is only audited).
    None,
    /// PostgreSQL `SET LOCAL SESSION AUTHORIZATION` (the pool login must be a superuser).
    SetSessionAuthorization,
    /// PostgreSQL `SET LOCAL ROLE` (the pool login must be a member of each user's role).
    SetRole,
    /// `impersonate_statement` / `revert_statement` / `current_user_query` (SQL Server, Ingres...).
    Custom,
}

/// Case applied to the user name before it is used as a database user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameCase {
    /// As the token says.
    Preserve,
    /// Lower case (PostgreSQL folds unquoted names this way).
    Lower,
    /// Upper case.
    Upper,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            enabled: true,
            connection_string: None,
            password: None,
            dialect: SqlDialect::Sqlite,
            impersonation: Impersonation::None,
            impersonate_statement: None,
            revert_statement: None,
            current_user_query: None,
            name_case: NameCase::Preserve,
            pool_size: 4,
            acquire_timeout_ms: 2_000,
            statement_timeout_ms: 5_000,
            max_rows: 1_000,
            max_bytes: 1024 * 1024,
            health_check_idle_ms: 30_000,
            max_statements_per_call: 100,
            max_rows_per_call: 10_000,
            breaker_losses: 5,
            breaker_window_ms: 60_000,
            breaker_pause_ms: 30_000,
        }
    }
}

impl DatabaseConfig {
    /// True when no connection string is set, so the embedded SQLite demo is served.
    pub fn is_embedded_demo(&self) -> bool {
        self.connection_string.is_none()
    }

    /// The connection string to open, with references resolved and the password appended.
    pub fn resolved_connection_string(&self, data_dir: &Path) -> Result<String, ReferenceError> {
        let mut text = match &self.connection_string {
            Some(s) => resolve_reference("database.connection_string", s.expose())?,
            None => format!("Driver=SQLite3;Database={};", data_dir.join("demo.sqlite").display()),
        };
        if let Some(p) = &self.password {
            let password = resolve_reference("database.password", p.expose())?;
            if !text.trim_end().ends_with(';') && !text.is_empty() {
                text.push(';');
            }
            // ODBC braces a value with special characters; a '}' inside is doubled.
            text.push_str(&format!("PWD={{{}}};", password.replace('}', "}}")));
        }
        Ok(text)
    }
}

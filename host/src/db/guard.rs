//! The SQL guard: every statement a plugin sends is parsed, checked against its grant, and
//! re-serialised from the parsed tree before it reaches the driver.
//!
//! Why re-serialise: the driver (psqlODBC) runs several statements from one string, even with
//! `?` parameters, and the server's lexer (nested comments, dollar quoting, escape strings) need
//! not agree with ours. Sending the text printed from the single statement we checked means the
//! server runs what we checked and nothing that only its own lexer saw.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, Query, SetExpr, Statement, Value, Visit, Visitor};
use sqlparser::dialect::{
    Dialect, GenericDialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::config::SqlDialect;

/// Longest statement text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// What the plugin's manifest grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// One `SELECT` / `WITH ... SELECT` per statement.
    ReadOnly,
    /// Reads plus `INSERT` / `UPDATE` / `DELETE`.
    ReadWrite,
}

/// Which handle method the statement came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `query`: returns rows.
    Query,
    /// `execute`: returns an affected-row count.
    Execute,
}

/// A statement that passed the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The text to send: printed from the parsed statement, comments and extra statements gone.
    pub sql: String,
    /// Number of `?` placeholders, which must match the parameters.
    pub placeholders: usize,
}

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The statement does not parse, or is too long.
    #[error("{0}")]
    Invalid(String),
    /// The statement parses but its kind or a function it calls is not granted.
    #[error("{0}")]
    NotPermitted(String),
}

/// Parses `sql` with the configured dialect and checks it against `grant` and `purpose`.
pub fn check(sql: &str, dialect: SqlDialect, grant: Grant, purpose: Purpose) -> Result<Checked, GuardError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(GuardError::Invalid(format!(
            "the statement is {} bytes; the limit is {MAX_SQL_BYTES}",
            sql.len()
        )));
    }
    let dialect = parser_dialect(dialect);
    let tokens = odbc_tokens(dialect.as_ref(), sql)?;
    let parsed = Parser::new(dialect.as_ref())
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| GuardError::Invalid(format!("the statement does not parse: {e}")))?;
    let statement = match parsed.as_slice() {
        [one] => one,
        [] => return Err(GuardError::Invalid("there is no statement".into())),
        many => {
            return Err(GuardError::NotPermitted(format!(
                "{} statements were sent; send exactly one statement per call",
                many.len()
            )));
        }
    };

    let kind = top_level_kind(statement)?;
    match (purpose, grant, kind) {
        (Purpose::Execute, Grant::ReadOnly, _) => {
            return Err(GuardError::NotPermitted(
                "this plugin's manifest grants read-only database access; execute is not permitted".into(),
            ));
        }
        (Purpose::Execute, Grant::ReadWrite, Kind::Read) => {
            return Err(GuardError::NotPermitted("use query, not execute, for a SELECT".into()));
        }
        (_, Grant::ReadOnly, Kind::Write(what)) => {
            return Err(GuardError::NotPermitted(format!(
                "{what} is a write and this plugin's manifest grants read-only database access"
            )));
        }
        _ => {}
    }

    let mut inspector = Inspector { grant, placeholders: 0 };
    if let ControlFlow::Break(reason) = statement.visit(&mut inspector) {
        return Err(GuardError::NotPermitted(reason));
    }
    Ok(Checked { sql: statement.to_string(), placeholders: inspector.placeholders })
}

/// Tokenises `sql` the way the ODBC driver will read it: every `?` outside literals and
/// comments is a parameter marker. PostgreSQL's own `?` operators (`?`, `?|`, `?&`, `@?`...) cannot
/// pass through ODBC, so a lone `?` becomes a placeholder and the compound ones are refused.
fn odbc_tokens(dialect: &dyn Dialect, sql: &str) -> Result<Vec<TokenWithSpan>, GuardError> {
    let mut tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| GuardError::Invalid(format!("the statement does not parse: {e}")))?;
    for t in &mut tokens {
        match &t.token {
            Token::Question => t.token = Token::Placeholder("?".into()),
            Token::Placeholder(_) => {}
            other if other.to_string().contains('?') => {
                return Err(GuardError::Invalid(format!(
                    "{other} cannot be used: through ODBC every ? is a parameter marker"
                )));
            }
            _ => {}
        }
    }
    Ok(tokens)
}

fn parser_dialect(dialect: SqlDialect) -> Box<dyn Dialect> {
    match dialect {
        SqlDialect::Postgresql => Box::new(PostgreSqlDialect {}),
        SqlDialect::Sqlite => Box::new(SQLiteDialect {}),
        SqlDialect::Mysql => Box::new(MySqlDialect {}),
        SqlDialect::Mssql => Box::new(MsSqlDialect {}),
        SqlDialect::Generic => Box::new(GenericDialect {}),
    }
}

enum Kind {
    Read,
    Write(&'static str),
}

fn top_level_kind(statement: &Statement) -> Result<Kind, GuardError> {
    match statement {
        // `WITH … UPDATE/INSERT/DELETE` parses as a query whose body is the write.
        Statement::Query(query) => Ok(match query.body.as_ref() {
            SetExpr::Insert(_) => Kind::Write("INSERT"),
            SetExpr::Update(_) => Kind::Write("UPDATE"),
            SetExpr::Delete(_) => Kind::Write("DELETE"),
            SetExpr::Merge(_) => Kind::Write("MERGE"),
            _ => Kind::Read,
        }),
        Statement::Insert(_) => Ok(Kind::Write("INSERT")),
        Statement::Update(_) => Ok(Kind::Write("UPDATE")),
        Statement::Delete(_) => Ok(Kind::Write("DELETE")),
        other => Err(GuardError::NotPermitted(format!(
            "{} statements are not permitted; only SELECT (and INSERT/UPDATE/DELETE where granted) may run",
            statement_keyword(other)
        ))),
    }
}

/// The statement's leading keyword(s), for error messages.
fn statement_keyword(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    let first = words.first().copied().unwrap_or("this");
    // Two words where the first alone says little ("SET ROLE", "RESET SESSION", "CREATE TABLE").
    match (first.to_ascii_uppercase().as_str(), words.get(1)) {
        ("SET" | "RESET" | "CREATE" | "ALTER" | "DROP", Some(second)) => {
            format!("{} {}", first.to_ascii_uppercase(), second.to_ascii_uppercase())
        }
        _ => first.to_ascii_uppercase(),
    }
}

/// Walks the tree: nested statements, `SELECT INTO`, row locks under read-only, denied functions,
/// and placeholders.
struct Inspector {
    grant: Grant,
    placeholders: usize,
}

impl Visitor for Inspector {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        match (top_level_kind(statement), self.grant) {
            (Ok(Kind::Read), _) | (Ok(Kind::Write(_)), Grant::ReadWrite) => ControlFlow::Continue(()),
            (Ok(Kind::Write(what)), Grant::ReadOnly) => ControlFlow::Break(format!(
                "a nested {what} is a write and this plugin's manifest grants read-only database access"
            )),
            (Err(e), _) => ControlFlow::Break(e.to_string()),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if let SetExpr::Select(select) = query.body.as_ref()
            && select.into.is_some()
        {
            return ControlFlow::Break("SELECT ... INTO creates a table and is not permitted".into());
        }
        if self.grant == Grant::ReadOnly && !query.locks.is_empty() {
            return ControlFlow::Break(
                "SELECT ... FOR UPDATE/SHARE takes locks and is not permitted with read-only access".into(),
            );
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<String> {
        // Table functions appear as relations: FROM dblink(...), FROM pg_ls_dir(...).
        refuse_denied(relation)
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(function) => refuse_denied(&function.name),
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                self.placeholders += 1;
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

fn refuse_denied(name: &ObjectName) -> ControlFlow<String> {
    let Some(last) = name.0.last() else { return ControlFlow::Continue(()) };
    let Some(ident) = last.as_ident() else { return ControlFlow::Continue(()) };
    let lower = ident.value.to_ascii_lowercase();
    if is_denied_function(&lower) {
        ControlFlow::Break(format!(
            "the function {lower} changes the session or reaches outside the database and is not permitted"
        ))
    } else {
        ControlFlow::Continue(())
    }
}

/// Functions that change the session, outlive the transaction, or reach the server's files,
/// network or processes. Compared in lower case against the last part of the name, so
/// `pg_catalog.SET_CONFIG` is caught too.
fn is_denied_function(lower: &str) -> bool {
    const EXACT: &[&str] = &[
        // PostgreSQL: session settings, server files and processes, SQL run from a string.
        "set_config",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_promote",
        "pg_switch_wal",
        "pg_stat_file",
        "pg_notify",
        "pg_export_snapshot",
        "pg_import_system_collations",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "database_to_xml",
        "database_to_xml_and_xmlschema",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        // MySQL/MariaDB: files and session-level locks.
        "load_file",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "sys_exec",
        "sys_eval",
        // SQL Server: files, other servers, shell.
        "openrowset",
        "opendatasource",
        "openquery",
        "xp_cmdshell",
    ];
    const PREFIXES: &[&str] = &[
        "dblink",
        "pg_read_",
        "pg_ls_",
        "pg_file_",
        "lo_",
        "pg_create_",
        "pg_drop_",
        "pg_replication_",
        "pg_logical_",
        "pg_wal_",
        "xp_",
    ];
    // Session-level advisory locks survive the transaction and would leak to the next caller on
    // this pooled connection; the transaction-level (`_xact_`) ones end with the call.
    let session_advisory = (lower.starts_with("pg_advisory_") || lower.starts_with("pg_try_advisory_"))
        && !lower.contains("_xact_");
    session_advisory || EXACT.contains(&lower) || PREFIXES.iter().any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;

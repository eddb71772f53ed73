//! How each call sets itself up on a connection: impersonation, time limit and read-only mode,
//! spoken in the database's own terms.

use crate::config::{DatabaseConfig, Impersonation, SqlDialect};

use super::SqlValue;

/// The per-call plan derived from `[database]`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Dialect for parsing and for the statements below.
    pub dialect: SqlDialect,
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    /// No impersonation.
    None,
    /// PostgreSQL: the transaction-local setting that switches user (`role` or `session_authorization`).
    Postgres(&'static str),
    /// Operator-given statements.
    Custom { impersonate: String, revert: Option<String>, current_user: String },
}

/// A statement the host itself runs, with its bound parameters.
pub(super) type HostStatement = (String, Vec<SqlValue>);

impl Plan {
    /// The plan for `config`.
    pub fn from_config(config: &DatabaseConfig) -> Plan {
        let mode = match config.impersonation {
            Impersonation::None => Mode::None,
            Impersonation::SetRole => Mode::Postgres("role"),
            Impersonation::SetSessionAuthorization => Mode::Postgres("session_authorization"),
            Impersonation::Custom => Mode::Custom {
                impersonate: config.impersonate_statement.clone().unwrap_or_default(),
                revert: config.revert_statement.clone().filter(|s| !s.trim().is_empty()),
                current_user: config.current_user_query.clone().unwrap_or_default(),
            },
        };
        Plan { dialect: config.dialect, mode }
    }

    /// True if calls act as their caller.
    pub fn impersonates(&self) -> bool {
        !matches!(self.mode, Mode::None)
    }

    /// True if the statement time limit is set per statement through ODBC (`SQL_ATTR_QUERY_TIMEOUT`)
    /// rather than inside the transaction. psqlODBC resets `statement_timeout` to 0 after a
    /// per-statement timeout, so on PostgreSQL the limit is a transaction-local setting instead.
    pub fn uses_odbc_timeout(&self) -> bool {
        self.dialect != SqlDialect::Postgresql
    }

    /// The statements that open a call, in order; the first one impersonates `user`.
    pub fn begin(&self, user: &str, read_only: bool, timeout_ms: u64) -> Vec<HostStatement> {
        match (&self.mode, self.dialect) {
            (_, SqlDialect::Postgresql) => {
                // One round trip: the user switch (when impersonating) comes first in the list,
                // then the time limit and read-only mode, all transaction-local and all bound.
                let mut sql = String::from("SELECT ");
                let mut params = Vec::new();
                if let Mode::Postgres(setting) = &self.mode {
                    sql.push_str(&format!("set_config('{setting}', ?, true), "));
                    params.push(SqlValue::Text(user.to_owned()));
                }
                sql.push_str("set_config('statement_timeout', ?, true)");
                params.push(SqlValue::Text(timeout_ms.to_string()));
                if read_only {
                    sql.push_str(", set_config('transaction_read_only', 'on', true)");
                }
                vec![(sql, params)]
            }
            (Mode::Custom { impersonate, .. }, _) => {
                vec![(impersonate.clone(), vec![SqlValue::Text(user.to_owned())])]
            }
            _ => Vec::new(),
        }
    }

    /// A query whose first value is the effective user, checked before the plugin's statement
    /// runs. `None` when not impersonating.
    pub fn current_user_query(&self) -> Option<&str> {
        match &self.mode {
            Mode::None => None,
            Mode::Postgres(_) => Some("SELECT current_user"),
            Mode::Custom { current_user, .. } => Some(current_user),
        }
    }

    /// A query whose values must all equal the pool login once a call has ended. `None` when not
    /// impersonating.
    pub fn login_query(&self) -> Option<&str> {
        match &self.mode {
            Mode::None => None,
            Mode::Postgres(_) => Some("SELECT session_user, current_user"),
            Mode::Custom { current_user, .. } => Some(current_user),
        }
    }

    /// The statement that stops impersonating before the transaction ends, if the mode needs one.
    pub fn revert(&self) -> Option<&str> {
        match &self.mode {
            Mode::Custom { revert, .. } => revert.as_deref(),
            _ => None,
        }
    }
}

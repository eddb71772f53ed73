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

    /// The statement that resets everything a call could have left on the session (settings,
    /// prepared statements, temporary tables, advisory locks, LISTEN, the session user), run in
    /// autocommit after the transaction ends. `None` where the dialect has no such statement: there
    /// the guard's refusals and the login check are all there is.
    pub fn session_reset(&self) -> Option<&'static str> {
        match self.dialect {
            SqlDialect::Postgresql => Some("DISCARD ALL"),
            _ => None,
        }
    }

    /// A query for the settings the driver set on a new session (name, value), which the session
    /// reset would undo and which are restored after it (psqlODBC sets `DateStyle` and
    /// `extra_float_digits` when it connects). `None` with no session reset.
    pub fn session_baseline_query(&self) -> Option<&'static str> {
        match self.dialect {
            SqlDialect::Postgresql => Some("SELECT name, setting FROM pg_settings WHERE source = 'session'"),
            _ => None,
        }
    }

    /// `set_config` calls restoring `baseline` (from [`Plan::session_baseline_query`]) as select
    /// list items, to ride along with the login check in one round trip; `None` if there is
    /// nothing to restore. Values come from the server's own `pg_settings` and are quoted as
    /// literals (names that are not plain setting names are skipped).
    pub(super) fn restore_items(&self, baseline: &[(String, String)]) -> Option<(String, usize)> {
        if self.dialect != SqlDialect::Postgresql {
            return None;
        }
        let items: Vec<String> = baseline
            .iter()
            .filter(|(name, _)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            })
            .map(|(name, value)| format!("set_config('{name}', '{}', false)", value.replace('\'', "''")))
            .collect();
        (!items.is_empty()).then(|| (items.join(", "), items.len()))
    }

    /// The statement that stops impersonating before the transaction ends, if the mode needs one.
    pub fn revert(&self) -> Option<&str> {
        match &self.mode {
            Mode::Custom { revert, .. } => revert.as_deref(),
            _ => None,
        }
    }
}

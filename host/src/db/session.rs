//! One plugin call's use of the database: a lazily opened transaction that acts as the caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use odbc_api::handles::{SqlResult, slice_to_cow_utf8};

use super::guard::{self, Grant, GuardError, Purpose};
use super::pool::Lease;
use super::rows::{bind, fetch};
use super::{Budget, Database, DbError, Rows, Settings, SqlValue};

/// The database side of one plugin call. Takes a connection on the first statement and keeps it,
/// inside one transaction, until [`CallSession::finish`].
pub struct CallSession {
    db: Arc<Database>,
    /// The plugin's namespace, which its breaker is kept under.
    plugin: String,
    user: Result<String, DbError>,
    grant: Grant,
    budget: Budget,
    /// Statements asked for so far, refused ones included.
    statements: u64,
    /// Rows read so far.
    rows_read: u64,
    deadline: Instant,
    lease: Option<Lease>,
    /// Why opening the transaction failed, if it did: later statements of the call get the same answer.
    open_failed: Option<DbError>,
    /// A statement failed, so the call's writes are not committed.
    statement_failed: bool,
}

/// What a statement produced.
enum Outcome {
    Rows(Rows),
    Count(u64),
    /// `execute` got rows back; whether the cursor closed cleanly.
    ReturnedRows {
        closed: bool,
    },
}

impl CallSession {
    pub(crate) fn new(
        db: Arc<Database>,
        plugin: &str,
        user: Result<String, DbError>,
        grant: Grant,
        budget: Budget,
        deadline: Instant,
    ) -> Self {
        CallSession {
            db,
            plugin: plugin.to_owned(),
            user,
            grant,
            budget,
            statements: 0,
            rows_read: 0,
            deadline,
            lease: None,
            open_failed: None,
            statement_failed: false,
        }
    }

    /// Runs one read statement with bound `params`.
    pub async fn query(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<Rows, DbError> {
        match self.run(sql, params, Purpose::Query).await? {
            Outcome::Rows(rows) => Ok(rows),
            Outcome::Count(_) | Outcome::ReturnedRows { .. } => Ok(Rows::default()),
        }
    }

    /// Runs one write statement with bound `params`; returns the affected row count.
    pub async fn execute(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<u64, DbError> {
        match self.run(sql, params, Purpose::Execute).await? {
            Outcome::Count(n) => Ok(n),
            Outcome::Rows(rows) => Ok(rows.rows.len() as u64),
            Outcome::ReturnedRows { .. } => Ok(0),
        }
    }

    async fn run(&mut self, sql: &str, params: Vec<SqlValue>, purpose: Purpose) -> Result<Outcome, DbError> {
        self.statements += 1;
        if self.statements > self.budget.statements {
            return Err(DbError::NotPermitted(format!(
                "this call has used its {} statements (the manifest's database.statements_per_call, \
                 within the server's database.max_statements_per_call)",
                self.budget.statements
            )));
        }
        let user = self.user.clone()?;
        if let Some(left) = self.db.breakers.paused(&self.plugin) {
            return Err(DbError::Unavailable(format!(
                "this plugin's database access is paused for {} s more: its statements cost too many \
                 connections recently (database.breaker_losses)",
                left.as_secs().max(1)
            )));
        }
        let max_rows = match purpose {
            Purpose::Query => {
                let left = self.budget.rows.saturating_sub(self.rows_read);
                if left == 0 {
                    return Err(DbError::NotPermitted(format!(
                        "this call has read its {} rows (the manifest's database.rows_per_call, within \
                         the server's database.max_rows_per_call)",
                        self.budget.rows
                    )));
                }
                self.db.settings.max_rows.min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            Purpose::Execute => self.db.settings.max_rows,
        };
        let settings = &self.db.settings;
        let checked = guard::check(sql, settings.plan.dialect, self.grant, purpose).map_err(|e| match e {
            GuardError::Invalid(m) => DbError::Invalid(m),
            GuardError::NotPermitted(m) => DbError::NotPermitted(m),
        })?;
        if checked.placeholders != params.len() {
            return Err(DbError::Invalid(format!(
                "the statement has {} placeholder(s) but {} parameter(s) were given",
                checked.placeholders,
                params.len()
            )));
        }
        if let Some(e) = &self.open_failed {
            return Err(e.clone());
        }
        let timeout = self.statement_timeout()?;
        let mut lease = match self.lease.take() {
            Some(lease) => lease,
            None => {
                let mut lease = self.db.pool.acquire().await?;
                let settings = settings.clone();
                let read_only = self.grant == Grant::ReadOnly;
                let user = user.clone();
                let (lease_back, opened) = blocking(move || {
                    let result = contained(&mut lease, "opening the call", |lease| {
                        open(lease, &settings, &user, read_only, timeout)
                    });
                    (lease, result)
                })
                .await?;
                lease = lease_back;
                if let Err(e) = opened {
                    // The connection (if it survived) is ended and checked in finish().
                    self.lease = Some(lease);
                    self.open_failed = Some(e.clone());
                    return Err(e);
                }
                lease
            }
        };

        // This query's row cap: the configured one, cut to what is left of the call's budget.
        let settings = Settings { max_rows, ..settings.clone() };
        let (lease_back, result) = blocking(move || {
            let result = contained(&mut lease, "running a statement", |lease| {
                statement(lease, &settings, &user, &checked.sql, &params, purpose, timeout)
            });
            (lease, result)
        })
        .await?;
        if lease_back.conn.is_none() {
            self.lost_connection();
        }
        self.lease = Some(lease_back);
        match &result {
            Ok(Outcome::Rows(rows)) => self.rows_read += rows.rows.len() as u64,
            Ok(_) => {}
            Err(_) => self.statement_failed = true,
        }
        result
    }

    /// One of this call's statements cost its connection: counted against the plugin's breaker.
    fn lost_connection(&self) {
        if self.db.breakers.record_loss(&self.plugin) {
            tracing::warn!(
                plugin = %self.plugin,
                "a plugin's statements cost too many database connections; its database access is paused"
            );
        }
    }

    /// The time a statement may take now: the configured limit, cut to what is left of the call.
    fn statement_timeout(&self) -> Result<Duration, DbError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DbError::Timeout);
        }
        Ok(self.db.settings.statement_timeout.min(left))
    }

    /// Ends the call's transaction: commits when the call succeeded under a read-write grant and
    /// every statement succeeded, otherwise rolls back; then confirms the connection is the pool
    /// login again before it goes back to the pool, or drops it.
    pub async fn finish(mut self, call_succeeded: bool) {
        let Some(lease) = self.lease.take() else { return };
        let commit = call_succeeded && self.grant == Grant::ReadWrite && !self.statement_failed;
        let settings = self.db.settings.clone();
        let ran_statements = self.statements > 0;
        let ended = blocking(move || {
            let mut lease = lease;
            let kept = contained(&mut lease, "ending the call", |lease| Ok(end(lease, &settings, commit)));
            if kept == Ok(true) {
                lease.release();
                true
            } else {
                lease.discard();
                false
            }
        });
        if let Ok(false) = ended.await
            && ran_statements
        {
            self.lost_connection();
        }
    }
}

impl Drop for CallSession {
    fn drop(&mut self) {
        // A call cancelled before finish(): the lease's own drop rolls back and closes the
        // connection, which blocks, so it is done off the async workers when possible.
        if let Some(lease) = self.lease.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(lease));
                }
                Err(_) => drop(lease),
            }
        }
    }
}

/// Runs `f` on a blocking thread; a panic there becomes `Unavailable` instead of reaching the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "database worker failed");
        DbError::Unavailable("internal database error".into())
    })
}

/// Runs `f`, the driver work of one step of a call, containing a panic from the driver (odbc-api
/// panics on some failures: closing a cursor, dropping a statement, disconnecting) so that it
/// never unwinds through the lease, whose drop talks to the driver again: the connection, whose
/// state is then unknown, is discarded and the step fails.
fn contained<T>(
    lease: &mut Lease,
    step: &str,
    f: impl FnOnce(&mut Lease) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *lease))) {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic_message(panic.as_ref());
            tracing::error!(reason, step, "the database driver panicked; connection dropped");
            lease.discard();
            Err(DbError::Invalid(format!("the database driver failed while {step}: {reason}")))
        }
    }
}

/// Closes `cursor` without odbc-api's drop, which panics when the close fails; false if it did.
fn close_cursor<S: odbc_api::handles::Statement>(cursor: odbc_api::CursorImpl<S>) -> bool {
    let mut statement = cursor.into_stmt();
    matches!(statement.close_cursor(), SqlResult::Success(_) | SqlResult::SuccessWithInfo(_))
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    clean_message(text)
}

/// A failure from the driver, classified.
struct DriverFailure {
    error: DbError,
    /// The connection can no longer be trusted or used.
    broken: bool,
}

fn classify(e: &odbc_api::Error) -> DriverFailure {
    match e {
        odbc_api::Error::Diagnostics { record, .. } => {
            let state = record.state.as_str();
            let message = clean_message(&slice_to_cow_utf8(&record.message));
            let broken = state.starts_with("08") || state == "HY000" && is_link_message(&message);
            let error = match state {
                "42501" => DbError::Denied(message),
                "57014" | "HYT00" | "HYT01" => DbError::Timeout,
                "25006" => DbError::NotPermitted(message),
                s if s.starts_with("08") => DbError::Unavailable(message),
                _ => DbError::Invalid(message),
            };
            DriverFailure { broken, error }
        }
        other => {
            DriverFailure { error: DbError::Unavailable(clean_message(&other.to_string())), broken: true }
        }
    }
}

/// psqlODBC reports a lost server as `HY000` with one of these texts.
fn is_link_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["could not send", "no connection", "server closed", "connection", "terminating"]
        .iter()
        .any(|k| m.contains(k))
}

/// The first line of a driver message, without the driver's own prefixes and trailers.
fn clean_message(message: &str) -> String {
    let first = message.split([';', '\n']).map(str::trim).find(|l| !l.is_empty()).unwrap_or("database error");
    let first = first.strip_prefix("ERROR:").map_or(first, str::trim);
    let mut text = first.to_owned();
    text.truncate(500);
    text
}

/// Opens the call on `lease`: connects or checks the connection, then impersonates `user`, sets
/// the time limit and read-only mode, and confirms `current_user`. A connection found dead before
/// anything of the plugin's ran is replaced once.
fn open(
    lease: &mut Lease,
    settings: &Settings,
    user: &str,
    read_only: bool,
    timeout: Duration,
) -> Result<(), DbError> {
    for attempt in 0..2 {
        let fresh = lease.conn.is_none();
        if fresh {
            connect(lease, settings)?;
        } else if lease.idle_for >= settings.health_check_idle
            && let Some(conn) = &lease.conn
            && conn.execute("SELECT 1", (), None).and_then(|_| conn.rollback()).is_err()
        {
            lease.discard();
            continue;
        }
        match impersonate(lease, settings, user, read_only, timeout) {
            Ok(()) => return Ok(()),
            Err(f) if f.broken && !fresh && attempt == 0 => {
                tracing::info!("database connection was lost while idle; reconnecting");
                lease.discard();
            }
            Err(f) => {
                if f.broken {
                    lease.discard();
                }
                return Err(f.error);
            }
        }
    }
    Err(DbError::Unavailable("the database connection could not be re-established".into()))
}

fn connect(lease: &mut Lease, settings: &Settings) -> Result<(), DbError> {
    let conn = lease.connect().map_err(|e| {
        let failure = classify(&e);
        tracing::warn!(error = %failure.error, "cannot connect to the database");
        match failure.error {
            DbError::Unavailable(m) => DbError::Unavailable(m),
            other => DbError::Unavailable(other.to_string()),
        }
    })?;
    let baseline = match settings.plan.session_baseline_query() {
        Some(query) => {
            read_baseline(conn, query).map_err(|e| DbError::Unavailable(classify(&e).error.to_string()))?
        }
        None => Vec::new(),
    };
    if let Some(query) = settings.plan.login_query() {
        let values =
            read_login(conn, query).map_err(|e| DbError::Unavailable(classify(&e).error.to_string()))?;
        match values.first() {
            Some(login) if values.iter().all(|v| v == login) => lease.login = login.clone(),
            _ => {
                lease.discard();
                return Err(DbError::Unavailable("the pool login's identity could not be read".into()));
            }
        }
    }
    lease.baseline = baseline;
    Ok(())
}

/// The (name, value) rows of `query`, asked in autocommit mode.
fn read_baseline(
    conn: &odbc_api::Connection<'static>,
    query: &str,
) -> Result<Vec<(String, String)>, odbc_api::Error> {
    let rows = in_autocommit(conn, || match conn.execute(query, (), None)? {
        Some(cursor) => fetch(cursor, 256, 256 * 1024),
        None => Ok(Rows::default()),
    })?;
    Ok(rows
        .rows
        .into_iter()
        .filter_map(|row| match (row.first(), row.get(1)) {
            (Some(SqlValue::Text(name)), Some(SqlValue::Text(value))) => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect())
}

fn impersonate(
    lease: &mut Lease,
    settings: &Settings,
    user: &str,
    read_only: bool,
    timeout: Duration,
) -> Result<(), DriverFailure> {
    let Some(conn) = &lease.conn else {
        return Err(DriverFailure { error: DbError::Unavailable("no connection".into()), broken: true });
    };
    let timeout_ms = timeout.as_millis().max(1) as u64;
    for (sql, params) in settings.plan.begin(user, read_only, timeout_ms) {
        if let Err(e) = conn.execute(&sql, &bind(&params)[..], None) {
            let mut failure = classify(&e);
            failure.error = match failure.error {
                DbError::Denied(_) => {
                    DbError::Denied(format!("the pool login may not act as database user {user:?}"))
                }
                DbError::Invalid(m) if !failure.broken => {
                    DbError::NotPermitted(format!("cannot act as database user {user:?}: {m}"))
                }
                other => other,
            };
            let _ = conn.rollback();
            return Err(failure);
        }
    }
    if let Some(acting) = acting_user(conn, settings, user).map_err(|e| classify(&e))? {
        tracing::error!(expected = user, acting, "impersonation did not take effect; connection dropped");
        return Err(DriverFailure {
            error: DbError::Unavailable("impersonation did not take effect".into()),
            broken: true,
        });
    }
    Ok(())
}

fn statement(
    lease: &mut Lease,
    settings: &Settings,
    user: &str,
    sql: &str,
    params: &[SqlValue],
    purpose: Purpose,
    timeout: Duration,
) -> Result<Outcome, DbError> {
    let Some(conn) = &lease.conn else { return Err(DbError::Unavailable("no connection".into())) };
    let run = || -> Result<Outcome, odbc_api::Error> {
        let mut stmt = conn.preallocate()?;
        if settings.plan.uses_odbc_timeout() {
            stmt.set_query_timeout_sec(timeout.as_secs_f64().ceil().max(1.0) as usize)?;
        }
        let bound = bind(params);
        match purpose {
            Purpose::Query => Ok(Outcome::Rows(match stmt.execute(sql, &bound[..])? {
                Some(cursor) => fetch(cursor, settings.max_rows, settings.max_bytes)?,
                None => Rows::default(),
            })),
            Purpose::Execute => {
                if let Some(cursor) = stmt.execute(sql, &bound[..])? {
                    // The database turned the write into something that returns rows (PostgreSQL
                    // rewrites `UPDATE pg_settings …` into a query).
                    return Ok(Outcome::ReturnedRows { closed: close_cursor(cursor) });
                }
                Ok(Outcome::Count(stmt.row_count()?.unwrap_or(0) as u64))
            }
        }
    };
    let outcome = run().map_err(|e| {
        let failure = classify(&e);
        if failure.broken {
            lease.discard();
        }
        failure.error
    })?;
    let outcome = match outcome {
        Outcome::ReturnedRows { closed } => {
            if !closed {
                lease.discard();
            }
            return Err(DbError::Invalid(
                "the statement returns rows (the database turned it into a query): execute runs only \
                 INSERT, UPDATE and DELETE; its effects were rolled back"
                    .into(),
            ));
        }
        other => other,
    };
    // The guard cannot see inside functions the database defines, so the user is confirmed again
    // after every statement: one that switched it (say, a function calling set_config) ends the
    // call, its result unseen, and the connection is dropped.
    if let Some(conn) = &lease.conn {
        let mismatch = acting_user(conn, settings, user).unwrap_or_else(|_| Some("<unreadable>".into()));
        if let Some(acting) = mismatch {
            tracing::error!(
                expected = user,
                acting,
                "a statement changed the acting database user; connection dropped"
            );
            lease.discard();
            return Err(DbError::NotPermitted(
                "the statement changed the session's database user; its result was discarded".into(),
            ));
        }
    }
    Ok(outcome)
}

/// Ends the transaction, resets the session (where the dialect can) and confirms the connection
/// is the pool login again; true if it may go back to the pool (or is already gone).
fn end(lease: &mut Lease, settings: &Settings, commit: bool) -> bool {
    let Some(conn) = &lease.conn else { return true };
    let mut ok = true;
    if let Some(revert) = settings.plan.revert() {
        ok &= conn.execute(revert, (), None).is_ok();
    }
    ok &= if commit && ok { conn.commit().is_ok() } else { conn.rollback().is_ok() };
    // A function the database defines can change the session beyond the transaction (say,
    // set_config(…, false)); the guard cannot see inside it, so the session is reset for every
    // caller (DISCARD ALL, outside a transaction), and a connection that cannot be reset is not
    // reused. The driver's own settings are restored in the same round trip as the login check.
    let mut restore = None;
    if ok && let Some(reset) = settings.plan.session_reset() {
        ok &= conn.set_autocommit(true).is_ok();
        ok &= ok && conn.execute(reset, (), None).is_ok();
        ok &= conn.set_autocommit(false).is_ok();
        restore = settings.plan.restore_items(&lease.baseline);
    }
    if ok {
        let login = settings.plan.login_query();
        let (query, restored) = match (login, &restore) {
            (Some(q), Some((items, n))) => (Some(format!("{q}, {items}")), *n),
            (Some(q), None) => (Some(q.to_owned()), 0),
            (None, Some((items, n))) => (Some(format!("SELECT {items}")), *n),
            (None, None) => (None, 0),
        };
        if let Some(query) = query {
            match read_login(conn, &query) {
                Ok(values) if values.len() < restored => ok = false,
                Ok(values) => {
                    let logins = &values[..values.len() - restored];
                    if login.is_some() && (logins.is_empty() || logins.iter().any(|v| *v != lease.login)) {
                        tracing::error!(
                            values = ?logins,
                            "connection still acts as another user after the call; dropped"
                        );
                        ok = false;
                    }
                }
                Err(_) => ok = false,
            }
        }
    }
    ok
}

/// `None` if the connection acts as `user` (per the plan's `current_user_query`; exact on
/// PostgreSQL, case-insensitive elsewhere), or `Some(who it acts as)`. Always `None` when the plan
/// does not impersonate.
fn acting_user(
    conn: &odbc_api::Connection<'static>,
    settings: &Settings,
    user: &str,
) -> Result<Option<String>, odbc_api::Error> {
    let Some(query) = settings.plan.current_user_query() else { return Ok(None) };
    let acting = scalar_texts(conn, query)?.into_iter().next().unwrap_or_default();
    let matches = if settings.plan.dialect == crate::config::SqlDialect::Postgresql {
        acting == user
    } else {
        acting.eq_ignore_ascii_case(user)
    };
    Ok((!matches).then_some(acting))
}

/// The values of the plan's login query, asked in autocommit mode so the check leaves no
/// transaction open that would need ending.
fn read_login(conn: &odbc_api::Connection<'static>, query: &str) -> Result<Vec<String>, odbc_api::Error> {
    in_autocommit(conn, || scalar_texts(conn, query))
}

/// Runs `f` with `conn` in autocommit mode, then back in manual-commit mode.
fn in_autocommit<T>(
    conn: &odbc_api::Connection<'static>,
    f: impl FnOnce() -> Result<T, odbc_api::Error>,
) -> Result<T, odbc_api::Error> {
    conn.set_autocommit(true)?;
    let result = f();
    conn.set_autocommit(false)?;
    result
}

/// The first row of `query` (no parameters) as text values.
fn scalar_texts(conn: &odbc_api::Connection<'static>, query: &str) -> Result<Vec<String>, odbc_api::Error> {
    let Some(cursor) = conn.execute(query, (), None)? else { return Ok(Vec::new()) };
    let rows = fetch(cursor, 1, 64 * 1024)?;
    Ok(rows
        .rows
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            SqlValue::Text(s) => s,
            SqlValue::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect())
}

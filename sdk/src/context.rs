//! What a tool sees of the call: the verified caller, logging, and (when granted) the database.

use crate::bindings::warden::plugin::{database, log, types};
use crate::tools::ToolError;

/// The verified caller of a tool, as the host established it from the token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token subject (`sub`).
    pub subject: String,
    /// Token issuer (`iss`).
    pub issuer: String,
    /// Resolved user name, if the token carries one.
    pub username: Option<String>,
    /// E-mail address, if the token carries one.
    pub email: Option<String>,
    /// The OAuth client the token was issued to, if known.
    pub client_id: Option<String>,
    /// Granted OAuth scopes.
    pub scopes: Vec<String>,
    /// Auth0 RBAC permissions.
    pub permissions: Vec<String>,
    /// Every verified claim.
    pub claims: serde_json::Value,
}

impl Caller {
    /// True if the caller holds `scope` either as an OAuth scope or as an RBAC permission.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().chain(&self.permissions).any(|s| s == scope)
    }
}

impl From<types::Identity> for Caller {
    fn from(id: types::Identity) -> Self {
        Caller {
            subject: id.subject,
            issuer: id.issuer,
            username: id.username,
            email: id.email,
            client_id: id.client_id,
            scopes: id.scopes,
            permissions: id.permissions,
            claims: serde_json::from_str(&id.claims_json).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Severity of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// Something failed.
    Error,
}

/// The database capability the host lent for this call, if the manifest grants one.
pub type Database = database::QueryHandle;

/// Everything a tool function receives besides its arguments.
pub struct Context<'a> {
    /// Who is calling.
    pub caller: Caller,
    db: Option<&'a Database>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(caller: Caller, db: Option<&'a Database>) -> Self {
        Context { caller, db }
    }

    /// The database handle, or a `Forbidden` error if the manifest grants no database access.
    pub fn db(&self) -> Result<&'a Database, ToolError> {
        self.db.ok_or_else(|| ToolError::Forbidden("this plugin's manifest grants no database access".into()))
    }

    /// Writes a line to the host's log, attributed to this plugin.
    pub fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        log::log(level, message);
    }
}

impl From<types::ToolError> for ToolError {
    fn from(e: types::ToolError) -> Self {
        match e {
            types::ToolError::InvalidArguments(m) => ToolError::InvalidArguments(m),
            types::ToolError::Forbidden(m) => ToolError::Forbidden(m),
            types::ToolError::Failed(m) => ToolError::Failed(m),
        }
    }
}

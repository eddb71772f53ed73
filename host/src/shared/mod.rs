//! The leaf: vocabulary every other room shares, depending on nothing of Warden's.
//!
//! Who a caller is ([`Identity`]), what a manifest may grant ([`DatabaseAccess`]), which token
//! algorithms are acceptable, secret references (`env:`/`file:`), minisign keys, redirect-URI
//! rules, pool counters and owner-only files. Anything two rooms both need, and that needs
//! nothing of theirs, lives here so that dependencies point one way (see the crate docs).

mod identity;
pub mod private_files;
pub mod redirect_uri;
mod secret_ref;
mod trusted_key;

use serde::Deserialize;

pub use identity::{Identity, IdentityData};
pub use secret_ref::{ReferenceError, resolve_reference};
pub use trusted_key::{TrustedKeyError, parse_trusted_key};

/// Signing algorithms a configuration may allow: asymmetric only.
pub const ACCEPTABLE_ALGORITHMS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// Longest database user name (PostgreSQL's identifier limit).
pub const MAX_USERNAME: usize = 63;

/// A user name safe to hand to a database as an identifier: 1-63 bytes of ASCII letters,
/// digits, `_`, `.` or `-`, starting with a letter or `_`.
pub fn is_safe_username(name: &str) -> bool {
    (1..=MAX_USERNAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Database access a manifest grants (and a team ceiling caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DatabaseAccess {
    /// No handle is lent.
    #[default]
    None,
    /// Single read statements only.
    ReadOnly,
    /// Reads plus INSERT/UPDATE/DELETE.
    ReadWrite,
}

/// Counters describing database pool use (read by the metrics at scrape time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Most connections at once.
    pub size: usize,
    /// Connections lent out now.
    pub in_use: usize,
    /// Idle connections now.
    pub idle: usize,
    /// Connections opened since start.
    pub opened: u64,
    /// Connections dropped because their state was in doubt or the server went away.
    pub discarded: u64,
    /// Calls that found no free connection in time.
    pub acquire_timeouts: u64,
}

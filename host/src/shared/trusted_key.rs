//! Minisign public keys as `trusted_keys` entries give them (`minisign-verify` parses them).

use minisign_verify::PublicKey;

use super::secret_ref::{ReferenceError, resolve_reference};

/// Why a `trusted_keys` entry is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TrustedKeyError {
    /// The `env:`/`file:` reference does not resolve.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The text is not a minisign public key.
    #[error("not a minisign public key ({0})")]
    NotAKey(String),
}

/// Parses one `trusted_keys` entry: the base64 key line (`RW...`), or a `file:`/`env:` reference
/// to the text of a `minisign.pub` file (or to the bare key line).
pub fn parse_trusted_key(entry: &str) -> Result<PublicKey, TrustedKeyError> {
    let text = resolve_reference("trusted_keys", entry)?;
    let text = text.trim();
    let key = if text.lines().count() >= 2 { PublicKey::decode(text) } else { PublicKey::from_base64(text) };
    key.map_err(|e| TrustedKeyError::NotAKey(e.to_string()))
}

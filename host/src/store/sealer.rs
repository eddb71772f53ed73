//! Sealing secrets before they reach the state store: AES-256-GCM (aws-lc-rs) with a random nonce
//! per value, under a key separate from the token-signing key. Every sealed value names its key
//! id, so the key can roll over without wiping stored sessions: new values are sealed with the
//! current key, and older keys still open what they sealed. The context (e.g. `namespace:key`) is
//! bound as associated data, so a sealed value moved to another key does not open.
//!
//! Format: `0x01 | kid length (1 byte) | kid | nonce (12) | ciphertext | tag (16)`.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
/// The file under the key directory that names the current key id.
const CURRENT: &str = "current";

/// Why a value could not be sealed or opened, or the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key directory or a key file is unusable.
    #[error("state-store keys under {dir}: {reason}")]
    Keys {
        /// The key directory.
        dir: String,
        /// What is wrong.
        reason: String,
    },
    /// The value was sealed with a key this server does not have.
    #[error("sealed with unknown key id {0:?}")]
    UnknownKey(String),
    /// The value is malformed, was changed, or belongs to another context.
    #[error("the sealed value does not open (tampered, truncated, or moved)")]
    Invalid,
}

struct Key {
    id: String,
    key: RandomizedNonceKey,
}

/// Seals and opens values; holds the current key and the older ones.
pub(crate) struct Sealer {
    current: Key,
    older: Vec<Key>,
}

impl Sealer {
    /// A sealer from raw keys: `current` seals; `older` only open.
    pub(crate) fn new(current: (&str, &[u8]), older: &[(&str, &[u8])]) -> Result<Sealer, SealError> {
        let make = |(id, bytes): (&str, &[u8])| -> Result<Key, SealError> {
            if id.is_empty() || id.len() > 64 || bytes.len() != KEY_LEN {
                return Err(SealError::Keys {
                    dir: "-".into(),
                    reason: format!("key {id:?} is not a 32-byte key"),
                });
            }
            let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Keys {
                dir: "-".into(),
                reason: "aws-lc-rs refused the key".into(),
            })?;
            Ok(Key { id: id.to_owned(), key })
        };
        Ok(Sealer {
            current: make(current)?,
            older: older.iter().copied().map(make).collect::<Result<_, _>>()?,
        })
    }

    /// Loads every `<kid>.key` under `dir` (the one named in `dir/current` seals), creating a first
    /// key if there is none. Files are written owner-only.
    pub(crate) fn load_or_create(dir: &Path) -> Result<Sealer, SealError> {
        let fail = |reason: String| SealError::Keys { dir: dir.display().to_string(), reason };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        if !dir.join(CURRENT).exists() {
            Self::rotate(dir)?;
        }
        let current = std::fs::read_to_string(dir.join(CURRENT)).map_err(|e| fail(e.to_string()))?;
        let current = current.trim().to_owned();
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| fail(e.to_string()))? {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".key"))
            else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            keys.push((id.to_owned(), bytes));
        }
        let Some(position) = keys.iter().position(|(id, _)| *id == current) else {
            return Err(fail(format!("the current key {current:?} has no {current}.key file")));
        };
        let (id, bytes) = keys.swap_remove(position);
        let older: Vec<(&str, &[u8])> = keys.iter().map(|(i, b)| (i.as_str(), b.as_slice())).collect();
        Self::new((&id, &bytes), &older).map_err(|e| fail(e.to_string()))
    }

    /// Creates a new key under `dir` and makes it the current one (older keys stay to open what
    /// they sealed). Returns the new key id.
    pub(crate) fn rotate(dir: &Path) -> Result<String, SealError> {
        let fail = |reason: String| SealError::Keys { dir: dir.display().to_string(), reason };
        let rng = SystemRandom::new();
        let mut bytes = [0u8; KEY_LEN];
        let mut id = [0u8; 6];
        rng.fill(&mut bytes).and_then(|()| rng.fill(&mut id)).map_err(|_| fail("no randomness".into()))?;
        let id = hex::encode(id);
        crate::shared::private_files::write_new(&dir.join(format!("{id}.key")), &bytes)
            .map_err(|e| fail(e.to_string()))?;
        let tmp = dir.join(format!(".{CURRENT}.tmp"));
        std::fs::write(&tmp, &id)
            .and_then(|()| std::fs::rename(&tmp, dir.join(CURRENT)))
            .map_err(|e| fail(e.to_string()))?;
        Ok(id)
    }

    /// The id of the key new values are sealed with.
    #[cfg(test)]
    pub(crate) fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` for `context` (e.g. `"refresh:<family>"`).
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let id = self.current.id.as_bytes();
        let mut header = vec![VERSION, u8::try_from(id.len()).map_err(|_| SealError::Invalid)?];
        header.extend_from_slice(id);
        let mut body = plaintext.to_vec();
        let nonce = self
            .current
            .key
            .seal_in_place_append_tag(Aad::from(aad(&header, context)), &mut body)
            .map_err(|_| SealError::Invalid)?;
        let mut out = header;
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed for `context` by this sealer's current or an older key.
    pub(crate) fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Invalid)?;
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Invalid)?;
        if version != VERSION {
            return Err(SealError::Invalid);
        }
        let (id, rest) = rest.split_at_checked(usize::from(id_len)).ok_or(SealError::Invalid)?;
        let (nonce, body) = rest.split_at_checked(NONCE_LEN).ok_or(SealError::Invalid)?;
        let id = std::str::from_utf8(id).map_err(|_| SealError::Invalid)?;
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let header = &sealed[..2 + usize::from(id_len)];
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Invalid)?;
        let mut body = body.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(aad(header, context)), &mut body)
            .map_err(|_| SealError::Invalid)?;
        Ok(plain.to_vec())
    }
}

/// Associated data: the header (version and key id) and the context, length-prefixed.
fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + context.len() + 8);
    out.extend_from_slice(header);
    out.extend_from_slice(&(context.len() as u64).to_be_bytes());
    out.extend_from_slice(context);
    out
}

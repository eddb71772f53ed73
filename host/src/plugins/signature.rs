//! Minisign signatures over a plugin's two files (`minisign-verify` does the cryptography).
//!
//! A plugin `<stem>` is signed when `<stem>.wasm.minisig` verifies `<stem>.wasm` and
//! `<stem>.toml.minisig` verifies `<stem>.toml`, both under one of the directory's trusted keys;
//! `minisign -Sm <stem>.wasm <stem>.toml` writes exactly these. Only prehashed (BLAKE2b)
//! signatures, minisign's default since 0.8, are accepted. Signing the manifest as well as the
//! component matters: the manifest is what grants scopes, limits and database access.

use minisign_verify::{PublicKey, Signature};

use crate::shared::parse_trusted_key;

/// Largest `.minisig` file read.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;

/// Why a plugin's signatures are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The directory requires signatures and the plugin has none.
    #[error(
        "unsigned: this directory requires signatures; sign with `minisign -Sm {stem}.wasm {stem}.toml` \
         and install {stem}.wasm.minisig and {stem}.toml.minisig with the plugin"
    )]
    Unsigned {
        /// The plugin's file stem.
        stem: String,
    },
    /// One of the two files is signed and the other is not.
    #[error("{file}.minisig is missing: both the component and the manifest must be signed")]
    HalfSigned {
        /// The unsigned file.
        file: String,
    },
    /// The `.minisig` file is not a minisign signature.
    #[error("{file}.minisig is not a minisign signature ({reason})")]
    Malformed {
        /// The signed file.
        file: String,
        /// What minisign-verify said.
        reason: String,
    },
    /// The directory trusts no key, so no signature can verify.
    #[error("{file} is signed, but no trusted_keys are configured for this directory")]
    NoTrustedKeys {
        /// The signed file.
        file: String,
    },
    /// No trusted key verifies the signature.
    #[error(
        "{file}.minisig does not verify {file} under any trusted key (the file was changed after signing, \
         or it was signed with an untrusted key)"
    )]
    DoesNotVerify {
        /// The signed file.
        file: String,
    },
}

/// The keys a plugin directory trusts, and whether a signature is required there.
#[derive(Default)]
pub struct TrustPolicy {
    /// Refuse plugins without valid signatures.
    pub required: bool,
    /// The trusted public keys.
    pub keys: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Builds the policy from config entries (already validated; a bad entry is skipped with an
    /// error in the log rather than trusted).
    pub fn from_config(required: bool, entries: &[String]) -> TrustPolicy {
        let keys = entries
            .iter()
            .filter_map(|e| match parse_trusted_key(e) {
                Ok(k) => Some(k),
                Err(reason) => {
                    tracing::error!(reason = %reason, "a trusted key is unusable and is ignored");
                    None
                }
            })
            .collect();
        TrustPolicy { required, keys }
    }

    /// Checks the signatures of a plugin's two files. `signatures` holds the text of
    /// `<stem>.wasm.minisig` and `<stem>.toml.minisig` where present. Returns the signing key's
    /// trusted comment of the component signature on success, `None` when unsigned and allowed.
    pub fn check(
        &self,
        stem: &str,
        wasm: &[u8],
        manifest: &[u8],
        signatures: [Option<&str>; 2],
    ) -> Result<Option<String>, SignatureError> {
        let [wasm_sig, manifest_sig] = signatures;
        if wasm_sig.is_none() && manifest_sig.is_none() {
            if self.required {
                return Err(SignatureError::Unsigned { stem: stem.to_owned() });
            }
            return Ok(None);
        }
        let wasm_comment = self.verify_one(&format!("{stem}.wasm"), wasm, wasm_sig)?;
        self.verify_one(&format!("{stem}.toml"), manifest, manifest_sig)?;
        Ok(Some(wasm_comment))
    }

    fn verify_one(
        &self,
        file: &str,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<String, SignatureError> {
        let file = file.to_owned();
        let Some(text) = signature else {
            return Err(SignatureError::HalfSigned { file });
        };
        let signature = match Signature::decode(text) {
            Ok(s) => s,
            Err(e) => return Err(SignatureError::Malformed { file, reason: e.to_string() }),
        };
        if self.keys.is_empty() {
            return Err(SignatureError::NoTrustedKeys { file });
        }
        for key in &self.keys {
            if key.verify(bytes, &signature, false).is_ok() {
                return Ok(signature.trusted_comment().to_owned());
            }
        }
        Err(SignatureError::DoesNotVerify { file })
    }
}

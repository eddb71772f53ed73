//! Minisign signatures over a plugin's two files (`minisign-verify` does the cryptography).
//!
//! A plugin `<stem>` is signed when `<stem>.wasm.minisig` verifies `<stem>.wasm` and
//! `<stem>.toml.minisig` verifies `<stem>.toml`, both under one of the directory's trusted keys;
//! `minisign -Sm <stem>.wasm <stem>.toml` writes exactly these. Only prehashed (BLAKE2b)
//! signatures, minisign's default since 0.8, are accepted. Signing the manifest as well as the
//! component matters: the manifest is what grants scopes, limits and database access.

use minisign_verify::{PublicKey, Signature};

use crate::config::resolve_reference;

/// Largest `.minisig` file read.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;

/// Parses one `trusted_keys` entry: the base64 key line (`RW...`), or a `file:`/`env:` reference
/// to the text of a `minisign.pub` file (or to the bare key line).
pub fn parse_trusted_key(entry: &str) -> Result<PublicKey, String> {
    let text = resolve_reference("trusted_keys", entry)?;
    let text = text.trim();
    let key = if text.lines().count() >= 2 { PublicKey::decode(text) } else { PublicKey::from_base64(text) };
    key.map_err(|e| format!("not a minisign public key ({e})"))
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
    ) -> Result<Option<String>, String> {
        let [wasm_sig, manifest_sig] = signatures;
        if wasm_sig.is_none() && manifest_sig.is_none() {
            if self.required {
                return Err(format!(
                    "unsigned: this directory requires signatures; sign with `minisign -Sm {stem}.wasm {stem}.toml` \
                     and install {stem}.wasm.minisig and {stem}.toml.minisig with the plugin"
                ));
            }
            return Ok(None);
        }
        let wasm_comment = self.verify_one(&format!("{stem}.wasm"), wasm, wasm_sig)?;
        self.verify_one(&format!("{stem}.toml"), manifest, manifest_sig)?;
        Ok(Some(wasm_comment))
    }

    fn verify_one(&self, file: &str, bytes: &[u8], signature: Option<&str>) -> Result<String, String> {
        let Some(text) = signature else {
            return Err(format!(
                "{file}.minisig is missing: both the component and the manifest must be signed"
            ));
        };
        let signature = Signature::decode(text)
            .map_err(|e| format!("{file}.minisig is not a minisign signature ({e})"))?;
        if self.keys.is_empty() {
            return Err(format!("{file} is signed, but no trusted_keys are configured for this directory"));
        }
        for key in &self.keys {
            if key.verify(bytes, &signature, false).is_ok() {
                return Ok(signature.trusted_comment().to_owned());
            }
        }
        Err(format!(
            "{file}.minisig does not verify {file} under any trusted key (the file was changed after signing, \
             or it was signed with an untrusted key)"
        ))
    }
}

//! Sealed `requestState` for 2026-07-28 input-required results: what a plugin asks to keep
//! between rounds goes to the client encrypted and authenticated (AES-256-GCM), bound to the
//! caller, the request (method, name, digest of the arguments), the plugin build and an
//! expiry, and is accepted once. A tampered, expired, replayed or transplanted state is
//! refused before any plugin instance runs.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::shared::Identity;
use crate::store::Sealer;

/// How long a handed-out state stays valid.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);
/// Used states remembered at most (each for its remaining lifetime).
const MAX_REMEMBERED: usize = 100_000;
/// Associated data for every sealed state, so no other sealed value opens as one.
const CONTEXT: &[u8] = b"warden:request-state:v1";

/// Why an echoed `requestState` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    /// It does not open: forged, changed, or from another server key.
    #[error("requestState integrity check failed")]
    Tampered,
    /// It was handed out for another caller, request or plugin build.
    #[error("requestState belongs to another request")]
    Mismatch,
    /// It is older than its lifetime.
    #[error("requestState has expired; start the request again without it")]
    Expired,
    /// It was already used once.
    #[error("requestState was already used; start the request again without it")]
    Replayed,
    /// Too many states are in use at once to remember another; the client may retry shortly.
    #[error("too many input-required requests are in progress; retry the request later")]
    Busy,
}

/// The states used so far and not yet expired, oldest first (every state lives [`STATE_TTL`],
/// so expiry order is use order).
#[derive(Default)]
struct Used {
    ids: HashSet<String>,
    by_expiry: VecDeque<(u64, String)>,
}

/// What a state is bound to.
pub(crate) struct Binding<'a> {
    /// `tools/call`, `prompts/get` or `resources/read`.
    pub method: &'a str,
    /// Served tool or prompt name, or the resource URI.
    pub name: &'a str,
    /// The request's arguments (JSON), if it has any.
    pub arguments: Option<&'a serde_json::Value>,
    /// The caller.
    pub caller: &'a Identity,
    /// SHA-256 of the plugin build that asked.
    pub plugin_sha256: &'a str,
}

impl Binding<'_> {
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.method,
            self.name,
            &self.caller.data().issuer,
            &self.caller.data().subject,
            self.plugin_sha256,
        ] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
        // serde_json's maps are ordered, so equal arguments give equal text.
        h.update(self.arguments.map(ToString::to_string).unwrap_or_default().as_bytes());
        hex::encode(h.finalize())
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// Digest of the binding.
    b: String,
    /// The plugin's own state.
    s: Option<String>,
    /// Expiry, seconds since the epoch.
    e: u64,
    /// Random id (replay detection; also makes every round's state differ).
    n: String,
}

/// Seals and opens request states; remembers used ones.
pub(crate) struct RequestStates {
    sealer: Sealer,
    used: Mutex<Used>,
    rng: SystemRandom,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl RequestStates {
    /// States sealed under `key` (`server.request_state_key`, the same on every replica), or
    /// under a fresh random key: then they do not survive a restart or move to another replica
    /// (a retry there gets "integrity check failed" and the client starts over).
    pub(crate) fn new(key: Option<[u8; 32]>) -> Result<RequestStates, String> {
        let rng = SystemRandom::new();
        let key = match key {
            Some(k) => k,
            None => {
                let mut k = [0u8; 32];
                rng.fill(&mut k).map_err(|_| "the system random source failed".to_owned())?;
                k
            }
        };
        let sealer = Sealer::new(("rs1", &key), &[]).map_err(|e| e.to_string())?;
        Ok(RequestStates { sealer, used: Mutex::new(Used::default()), rng })
    }

    /// A sealed state for the next round of the request `binding` describes.
    pub(crate) fn seal(&self, binding: &Binding<'_>, plugin_state: Option<String>) -> Result<String, String> {
        let mut nonce = [0u8; 16];
        self.rng.fill(&mut nonce).map_err(|_| "the system random source failed".to_owned())?;
        let sealed = Sealed {
            b: binding.digest(),
            s: plugin_state,
            e: now_secs() + STATE_TTL.as_secs(),
            n: hex::encode(nonce),
        };
        let plain = serde_json::to_vec(&sealed).map_err(|e| e.to_string())?;
        let bytes = self.sealer.seal(CONTEXT, &plain).map_err(|e| e.to_string())?;
        Ok(B64.encode(bytes))
    }

    /// Opens an echoed state for `binding`, and marks it used. Returns the plugin's state.
    pub(crate) fn open(&self, text: &str, binding: &Binding<'_>) -> Result<Option<String>, StateError> {
        let bytes = B64.decode(text).map_err(|_| StateError::Tampered)?;
        let plain = self.sealer.open(CONTEXT, &bytes).map_err(|_| StateError::Tampered)?;
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| StateError::Tampered)?;
        if sealed.b != binding.digest() {
            return Err(StateError::Mismatch);
        }
        let now = now_secs();
        if sealed.e < now {
            return Err(StateError::Expired);
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while used.by_expiry.front().is_some_and(|(expiry, _)| *expiry < now) {
            if let Some((_, id)) = used.by_expiry.pop_front() {
                used.ids.remove(&id);
            }
        }
        if used.ids.contains(&sealed.n) {
            return Err(StateError::Replayed);
        }
        if used.ids.len() >= MAX_REMEMBERED {
            return Err(StateError::Busy);
        }
        used.ids.insert(sealed.n.clone());
        used.by_expiry.push_back((sealed.e, sealed.n));
        Ok(sealed.s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::IdentityData;

    fn caller(sub: &str) -> Identity {
        Identity::new(IdentityData {
            subject: sub.into(),
            issuer: "https://idp".into(),
            username: None,
            email: None,
            client_id: None,
            scopes: Vec::new(),
            permissions: Vec::new(),
            claims: serde_json::Value::Null,
        })
    }

    #[test]
    fn a_state_opens_once_for_its_own_request_only() {
        let states = RequestStates::new(None).unwrap();
        let (alice, bob) = (caller("alice"), caller("bob"));
        let args = serde_json::json!({"a": 1});
        let binding = |c| Binding {
            method: "tools/call",
            name: "t",
            arguments: Some(&args),
            caller: c,
            plugin_sha256: "p",
        };
        let sealed = states.seal(&binding(&alice), Some("round-1".into())).unwrap();
        assert!(!sealed.contains("round-1"), "the plugin state is encrypted");
        assert_ne!(
            sealed,
            states.seal(&binding(&alice), Some("round-1".into())).unwrap(),
            "every seal differs"
        );

        assert_eq!(states.open(&sealed, &binding(&bob)), Err(StateError::Mismatch));
        let other_tool = Binding { name: "u", ..binding(&alice) };
        assert_eq!(states.open(&sealed, &other_tool), Err(StateError::Mismatch));
        let mut tampered = sealed.clone();
        tampered.push_str("-TAMPERED");
        assert_eq!(states.open(&tampered, &binding(&alice)), Err(StateError::Tampered));
        assert_eq!(states.open(&sealed, &binding(&alice)), Ok(Some("round-1".into())));
        assert_eq!(states.open(&sealed, &binding(&alice)), Err(StateError::Replayed));
        let foreign = RequestStates::new(None).unwrap().seal(&binding(&alice), None).unwrap();
        assert_eq!(states.open(&foreign, &binding(&alice)), Err(StateError::Tampered));
        // Two replicas with the same configured key accept each other's states.
        let (a, b) = (RequestStates::new(Some([7; 32])).unwrap(), RequestStates::new(Some([7; 32])).unwrap());
        let sealed = a.seal(&binding(&alice), Some("s".into())).unwrap();
        assert_eq!(b.open(&sealed, &binding(&alice)), Ok(Some("s".into())));
    }
}

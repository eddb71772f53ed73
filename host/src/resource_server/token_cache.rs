//! A bounded cache of verified tokens, keyed by a hash of the token (never the token itself).
//! An entry never outlives the token's `exp`, nor the configured TTL.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::shared::Identity;

/// Verified tokens by SHA-256 of the token text.
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
    capacity: usize,
    ttl: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0 disables it), each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TokenCache { entries: Mutex::new(HashMap::new()), capacity, ttl }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The identity of a previously verified, still-valid token.
    pub fn get(&self, token: &str) -> Option<Identity> {
        if self.capacity == 0 {
            return None;
        }
        let key = Self::key(token);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(&key) {
            Some((identity, until)) if *until > Instant::now() => Some(identity.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token until `expires_in` (its remaining lifetime) or the TTL.
    pub fn insert(&self, token: &str, identity: Identity, expires_in: Duration) {
        if self.capacity == 0 || expires_in.is_zero() {
            return;
        }
        let until = Instant::now() + expires_in.min(self.ttl);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= self.capacity {
                // Still full of live tokens: start over rather than grow without bound.
                entries.clear();
            }
        }
        entries.insert(Self::key(token), (identity, until));
    }

    /// Tokens currently cached.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let cache = TokenCache::new(2, Duration::from_secs(60));
        let who = Identity::anonymous();
        cache.insert("t1", who.clone(), Duration::from_millis(30));
        assert!(cache.get("t1").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("t1").is_none(), "never past exp");
        for t in ["a", "b", "c", "d"] {
            cache.insert(t, who.clone(), Duration::from_secs(10));
        }
        assert!(cache.len() <= 2);
        assert!(cache.get("d").is_some());
        let off = TokenCache::new(0, Duration::from_secs(60));
        off.insert("x", who, Duration::from_secs(10));
        assert!(off.get("x").is_none());
    }
}

//! PKCE (RFC 7636), S256 only, for both legs of the proxy: checking a client's `code_verifier`
//! against the `code_challenge` it sent to `/authorize`, and making Warden's own independent
//! verifier and challenge for the upstream IdP.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why a PKCE value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PkceError {
    /// Only `S256` is supported (`plain` is refused, as OAuth 2.1 requires of new servers).
    #[error("code_challenge_method must be S256")]
    Method,
    /// A challenge is not 43 base64url characters (a SHA-256).
    #[error("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")]
    Challenge,
    /// A verifier is not 43-128 unreserved characters (RFC 7636 §4.1).
    #[error("code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~")]
    Verifier,
    /// The verifier does not hash to the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// Checks the `code_challenge` and `code_challenge_method` of an authorization request.
pub(crate) fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), PkceError> {
    if method != Some("S256") {
        return Err(PkceError::Method);
    }
    let ok = challenge.len() == 43 && URL_SAFE_NO_PAD.decode(challenge).is_ok_and(|d| d.len() == 32);
    if ok { Ok(()) } else { Err(PkceError::Challenge) }
}

/// The S256 challenge of `verifier`.
pub(crate) fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a token request's `code_verifier` against the stored `challenge`, in constant time.
pub(crate) fn verify(verifier: &str, challenge: &str) -> Result<(), PkceError> {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err(PkceError::Verifier);
    }
    aws_lc_rs::constant_time::verify_slices_are_equal(challenge_of(verifier).as_bytes(), challenge.as_bytes())
        .map_err(|_| PkceError::Mismatch)
}

/// A fresh verifier (43 characters from 32 random bytes) and its S256 challenge, for the upstream
/// leg.
pub(crate) fn new_pair() -> Result<(String, String), PkceError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| PkceError::Verifier)?;
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = challenge_of(&verifier);
    Ok((verifier, challenge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_of(verifier), challenge);
        assert_eq!(check_challenge(challenge, Some("S256")), Ok(()));
        assert_eq!(verify(verifier, challenge), Ok(()));
    }

    #[test]
    fn plain_short_and_mismatched_values_are_refused() {
        let (verifier, challenge) = new_pair().unwrap();
        assert_eq!(verify(&verifier, &challenge), Ok(()));
        assert_eq!(check_challenge(&challenge, Some("plain")), Err(PkceError::Method));
        assert_eq!(check_challenge(&challenge, None), Err(PkceError::Method));
        assert_eq!(check_challenge("too-short", Some("S256")), Err(PkceError::Challenge));
        assert_eq!(verify("short", &challenge), Err(PkceError::Verifier));
        assert_eq!(verify(&format!("{verifier} "), &challenge), Err(PkceError::Verifier));
        let (other, _) = new_pair().unwrap();
        assert_ne!(other, verifier, "fresh verifiers differ");
        assert_eq!(verify(&other, &challenge), Err(PkceError::Mismatch));
        // The verifier itself, sent as the challenge (a "plain" downgrade), does not verify.
        assert_eq!(verify(&verifier, &verifier), Err(PkceError::Mismatch));
    }
}

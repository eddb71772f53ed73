//! The authorization-server side of the OIDC proxy (issue 4), built up piece by piece. So far:
//! the rules for the redirect URIs a client may register and present ([`redirect`]) and dynamic
//! client registration kept in the state store ([`clients`]), and PKCE S256 for both legs
//! ([`pkce`]). Not yet served over HTTP.

pub mod clients;
pub mod pkce;
pub mod redirect;

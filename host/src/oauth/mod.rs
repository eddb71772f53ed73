//! The authorization-server side of the OIDC proxy (issue 4), built up piece by piece. So far:
//! the rules for the redirect URIs a client may register and present ([`redirect`]).

pub mod redirect;

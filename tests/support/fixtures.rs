//! Server configuration used by several tests, one table per file in `tests/fixtures/`. Each is
//! merged into the harness's base config by [`Warden::start`](crate::Warden::start); combine one
//! with more tables by appending them (`format!("{LOCAL_AUTH}[limits]\n...")`).

/// `tests/fixtures/local-auth.toml`: `[auth] mode = "local"` (Warden mints and checks its own
/// tokens; see [`Warden::local_token`](crate::Warden::local_token)).
pub const LOCAL_AUTH: &str = include_str!("../fixtures/local-auth.toml");

/// `tests/fixtures/unlimited.toml`: the per-caller and per-plugin call limits off, for tests that
/// load the server from one caller on purpose (the limits have their own tests in
/// `tests/e2e/limits.rs`).
pub const UNLIMITED: &str = include_str!("../fixtures/unlimited.toml");

/// `tests/fixtures/two-tools-per-page.toml`: `[plugins] page_size = 2`, so the sample plugin's
/// three tools are listed on two pages.
pub const TWO_TOOLS_PER_PAGE: &str = include_str!("../fixtures/two-tools-per-page.toml");

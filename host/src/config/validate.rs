//! Checks that a parsed configuration makes sense, reporting every problem at once.

use std::fmt;
use std::path::PathBuf;

use super::{AuthMode, Config};

/// One thing wrong with the configuration: which field, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the field, e.g. `server.bind`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}. Fix: {}", self.field, self.problem, self.fix)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("invalid configuration in {origin}: {reason}")]
    Parse {
        /// The file, or "embedded defaults".
        origin: String,
        /// The parser's message (it names the key and line).
        reason: String,
    },
    /// A `WARDEN__*` environment override does not name a valid setting.
    #[error("environment variable {name}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The values parse but do not make sense together.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl Config {
    /// Returns every problem found, or `Ok` if there are none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, problem: String, fix: &str| {
            problems.push(Problem { field: field.into(), problem, fix: fix.into() });
        };

        if self.auth.mode == AuthMode::None && !self.server.bind.ip().is_loopback() {
            bad(
                "auth.mode",
                format!(
                    "\"none\" (no authentication) is only allowed on a loopback bind, but server.bind is {}",
                    self.server.bind
                ),
                "bind to 127.0.0.1 or [::1] for local development, or configure real authentication",
            );
        }
        if let Some(url) = &self.server.public_url {
            match url.split_once("://") {
                Some(("http" | "https", rest)) if !rest.is_empty() && !rest.contains(['?', '#']) => {}
                _ => bad(
                    "server.public_url",
                    format!("{url:?} is not an http(s) base URL"),
                    "use the URL clients reach Warden at, e.g. \"https://mcp.example.com\"",
                ),
            }
        }
        if self.server.max_body_bytes < 1024 {
            bad(
                "server.max_body_bytes",
                format!("{} bytes is too small for any MCP request", self.server.max_body_bytes),
                "use at least 1024 (the default is 1048576)",
            );
        }
        for origin in &self.server.allowed_origins {
            if origin != "null" && !origin.contains("://") {
                bad(
                    "server.allowed_origins",
                    format!("{origin:?} has no scheme"),
                    "write origins as scheme://host[:port], e.g. \"https://app.example.com\"",
                );
            }
        }
        if self.plugins.poll_interval_ms < 50 {
            bad(
                "plugins.poll_interval_ms",
                format!("{} ms would busy-poll the plugin directory", self.plugins.poll_interval_ms),
                "use 50 or more (the default is 500)",
            );
        }
        if self.plugins.page_size == 0 {
            bad("plugins.page_size", "must be at least 1".into(), "use e.g. 100");
        }
        let rt = &self.runtime;
        if rt.max_instances == 0 || rt.max_instances > 10_000 {
            bad(
                "runtime.max_instances",
                format!("{} is outside 1..=10000", rt.max_instances),
                "use a value such as 64",
            );
        }
        if rt.max_memory_mb == 0 || rt.max_memory_mb > 4096 {
            bad(
                "runtime.max_memory_mb",
                format!("{} MiB is outside 1..=4096", rt.max_memory_mb),
                "use a value such as 512",
            );
        }
        if rt.default_memory_mb == 0 || rt.default_memory_mb > rt.max_memory_mb {
            bad(
                "runtime.default_memory_mb",
                format!(
                    "{} MiB must be between 1 and runtime.max_memory_mb ({})",
                    rt.default_memory_mb, rt.max_memory_mb
                ),
                "lower it or raise runtime.max_memory_mb",
            );
        }
        if rt.default_timeout_ms == 0 || rt.default_timeout_ms > rt.max_timeout_ms {
            bad(
                "runtime.default_timeout_ms",
                format!(
                    "{} ms must be between 1 and runtime.max_timeout_ms ({})",
                    rt.default_timeout_ms, rt.max_timeout_ms
                ),
                "lower it or raise runtime.max_timeout_ms",
            );
        }
        if rt.max_output_kb == 0 {
            bad("runtime.max_output_kb", "must be at least 1".into(), "use e.g. 1024");
        }

        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems)) }
    }
}

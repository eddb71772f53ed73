//! The plugin manifest (`<name>.toml` next to `<name>.wasm`): what the plugin may do.
//!
//! ```toml
//! [plugin]
//! name = "sales"            # optional; defaults to the file stem; tools are served as sales.<tool>
//!                           # (as <team>.sales.<tool> in a team's directory)
//! description = "..."
//! wasm_sha256 = "..."       # optional; pins the component, so a signed manifest cannot be paired
//!                           # with another build
//!
//! [limits]
//! memory_mb = 64            # capped by runtime.max_memory_mb
//! timeout_ms = 2000         # capped by runtime.max_timeout_ms
//! fuel = 100000000          # optional; needs runtime.fuel_metering = true
//! max_output_kb = 256       # capped by runtime.max_output_kb
//!
//! [database]
//! access = "read-only"      # none | read-only | read-write
//!
//! [tools.top_customers]
//! scopes = ["sales:read"]   # every listed scope is required
//! ```
//! Deny by default: a tool the component offers but the manifest does not list is not served.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{RuntimeConfig, TeamConfig};
use crate::shared::DatabaseAccess;

/// A parsed, validated manifest with limits resolved against the server's ceilings.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Plugin name: `plugin.name`, or the file stem when that is not set.
    pub name: String,
    /// The team whose directory the plugin came from (`None`: the shared directory).
    pub team: Option<String>,
    /// SHA-256 (hex) the component must have, when the manifest pins it.
    pub wasm_sha256: Option<String>,
    /// What the plugin is for.
    pub description: Option<String>,
    /// Resolved limits.
    pub limits: Limits,
    /// Database access granted.
    pub database: DatabaseAccess,
    /// Tools the manifest allows, by local name.
    pub tools: BTreeMap<String, ToolGrant>,
}

/// Resolved sandbox limits for every call of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock cap per call, in milliseconds.
    pub timeout_ms: u64,
    /// Instruction budget per call, if metered.
    pub fuel: Option<u64>,
    /// Largest result, in bytes.
    pub max_output_bytes: usize,
}

/// What one tool requires of its caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolGrant {
    /// Scopes the caller must hold, all of them.
    pub scopes: Vec<String>,
}

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not valid TOML, or unknown/mistyped keys.
    #[error("invalid manifest: {0}")]
    Parse(String),
    /// A value breaks a rule; the message says which field and why.
    #[error("manifest field {field}: {problem}")]
    Field {
        /// Dotted field path.
        field: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    plugin: RawPlugin,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    tools: BTreeMap<String, ToolGrant>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: Option<String>,
    description: Option<String>,
    wasm_sha256: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    fuel: Option<u64>,
    max_output_kb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    #[serde(default)]
    access: DatabaseAccess,
}

/// Longest plugin name; with a 64-character tool name and the dot this keeps tool names within
/// the 128 characters MCP allows.
pub const MAX_PLUGIN_NAME: usize = 32;
/// Longest local tool name.
pub const MAX_TOOL_NAME: usize = 64;

/// True if `name` is a valid plugin name: `[a-z0-9_-]`, starting with a letter, at most 32 long.
pub fn is_valid_plugin_name(name: &str) -> bool {
    (1..=MAX_PLUGIN_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// True if `name` is a valid local tool name: `[A-Za-z0-9_-]`, 1 to 64 characters. With the plugin
/// namespace and a dot, the served name stays within MCP's tool-name character set.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a manifest may ask for: the server's `[runtime]` ceilings, narrowed by its team's.
#[derive(Debug, Clone)]
pub struct Ceilings {
    /// The team (`None`: the shared directory).
    pub team: Option<String>,
    /// Every required scope must start with this.
    pub scope_prefix: Option<String>,
    /// Memory when the manifest does not say, and the most it may ask for, in MiB.
    pub memory_mb: (u64, u64),
    /// Wall time when the manifest does not say, and the most it may ask for, in milliseconds.
    pub timeout_ms: (u64, u64),
    /// The largest result, in KiB.
    pub max_output_kb: u64,
    /// Whether `limits.fuel` may be set.
    pub fuel_metering: bool,
    /// The most database access.
    pub database: DatabaseAccess,
    /// The setting that imposes the memory, time and database ceilings, for error messages.
    source: String,
}

impl Ceilings {
    /// The shared directory's ceilings: the server's `[runtime]` settings.
    pub fn server(rt: &RuntimeConfig) -> Ceilings {
        Ceilings {
            team: None,
            scope_prefix: None,
            memory_mb: (rt.default_memory_mb, rt.max_memory_mb),
            timeout_ms: (rt.default_timeout_ms, rt.max_timeout_ms),
            max_output_kb: rt.max_output_kb,
            fuel_metering: rt.fuel_metering,
            database: DatabaseAccess::ReadWrite,
            source: "the server's runtime settings".into(),
        }
    }

    /// A team's ceilings: its own, within the server's.
    pub fn team(rt: &RuntimeConfig, team: &TeamConfig) -> Ceilings {
        let memory_max = team.max_memory_mb.unwrap_or(rt.max_memory_mb).min(rt.max_memory_mb);
        let timeout_max = team.max_timeout_ms.unwrap_or(rt.max_timeout_ms).min(rt.max_timeout_ms);
        Ceilings {
            team: Some(team.name.clone()),
            scope_prefix: Some(team.scope_prefix.clone()),
            memory_mb: (rt.default_memory_mb.min(memory_max), memory_max),
            timeout_ms: (rt.default_timeout_ms.min(timeout_max), timeout_max),
            max_output_kb: rt.max_output_kb,
            fuel_metering: rt.fuel_metering,
            database: team.database,
            source: format!("team {:?}'s ceiling", team.name),
        }
    }
}

impl Manifest {
    /// The tool namespace: `<team>.<plugin>`, or `<plugin>` in the shared directory.
    pub fn namespace(&self) -> String {
        match &self.team {
            Some(team) => format!("{team}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Parses the manifest of the plugin whose file stem is `stem` against the server's
    /// `runtime` ceilings (the shared directory).
    pub fn parse(stem: &str, text: &str, runtime: &RuntimeConfig) -> Result<Manifest, ManifestError> {
        Self::parse_within(stem, text, &Ceilings::server(runtime))
    }

    /// Parses the manifest of the plugin whose file stem is `stem`, refusing anything beyond
    /// `ceilings` with the reason.
    pub fn parse_within(stem: &str, text: &str, ceilings: &Ceilings) -> Result<Manifest, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string().trim().to_owned()))?;
        let field = |field: &str, problem: String| ManifestError::Field { field: field.into(), problem };

        let name = raw.plugin.name.clone().unwrap_or_else(|| stem.to_owned());
        if !is_valid_plugin_name(&name) {
            let origin = if raw.plugin.name.is_some() {
                ""
            } else {
                " (taken from the file name; set plugin.name to choose another)"
            };
            return Err(field(
                "plugin.name",
                format!(
                    "{name:?}{origin} is not a valid plugin name: use 1-{MAX_PLUGIN_NAME} characters \
                     of a-z, 0-9, '_' or '-', starting with a letter"
                ),
            ));
        }
        for tool in raw.tools.keys() {
            if !is_valid_tool_name(tool) {
                return Err(field(
                    &format!("tools.{tool}"),
                    format!(
                        "{tool:?} is not a valid tool name: use 1-{MAX_TOOL_NAME} characters of A-Z, a-z, 0-9, '_' or '-'"
                    ),
                ));
            }
        }
        if raw.tools.is_empty() {
            return Err(field(
                "tools",
                "lists no tools, so nothing would be served; add a [tools.<name>] table per tool".into(),
            ));
        }

        let c = ceilings;
        let (memory_name, timeout_name) = match &c.team {
            Some(_) => (format!("{}: max_memory_mb", c.source), format!("{}: max_timeout_ms", c.source)),
            None => ("runtime.max_memory_mb".to_owned(), "runtime.max_timeout_ms".to_owned()),
        };
        let memory_mb =
            bounded("limits.memory_mb", raw.limits.memory_mb, c.memory_mb.0, c.memory_mb.1, &memory_name)?;
        let timeout_ms = bounded(
            "limits.timeout_ms",
            raw.limits.timeout_ms,
            c.timeout_ms.0,
            c.timeout_ms.1,
            &timeout_name,
        )?;
        let max_output_kb = bounded(
            "limits.max_output_kb",
            raw.limits.max_output_kb,
            c.max_output_kb,
            c.max_output_kb,
            "runtime.max_output_kb",
        )?;
        if raw.database.access > c.database {
            return Err(field(
                "database.access",
                format!(
                    "{} is beyond {} ({}); ask the platform team to raise it, or request less",
                    access_name(raw.database.access),
                    c.source,
                    access_name(c.database)
                ),
            ));
        }
        if let Some(prefix) = &c.scope_prefix {
            for (tool, grant) in &raw.tools {
                if let Some(scope) = grant.scopes.iter().find(|s| !s.starts_with(prefix.as_str())) {
                    return Err(field(
                        &format!("tools.{tool}.scopes"),
                        format!(
                            "{scope:?} is outside {}: this team's manifests may only require scopes starting with {prefix:?}",
                            c.source.replace("'s ceiling", "'s scope prefix")
                        ),
                    ));
                }
            }
        }
        if let Some(pin) = &raw.plugin.wasm_sha256
            && (pin.len() != 64 || !pin.chars().all(|ch| ch.is_ascii_hexdigit()))
        {
            return Err(field("plugin.wasm_sha256", format!("{pin:?} is not a hex SHA-256 (64 characters)")));
        }
        if raw.limits.fuel.is_some() && !c.fuel_metering {
            return Err(field(
                "limits.fuel",
                "is set, but this server does not meter fuel; set runtime.fuel_metering = true in server.toml or remove the limit".into(),
            ));
        }
        if raw.limits.fuel == Some(0) {
            return Err(field("limits.fuel", "must be more than 0".into()));
        }

        Ok(Manifest {
            name,
            team: c.team.clone(),
            wasm_sha256: raw.plugin.wasm_sha256.map(|p| p.to_ascii_lowercase()),
            description: raw.plugin.description,
            limits: Limits {
                memory_bytes: usize::try_from(memory_mb * 1024 * 1024).unwrap_or(usize::MAX),
                timeout_ms,
                fuel: raw.limits.fuel,
                max_output_bytes: usize::try_from(max_output_kb * 1024).unwrap_or(usize::MAX),
            },
            database: raw.database.access,
            tools: raw.tools,
        })
    }
}

fn access_name(access: DatabaseAccess) -> &'static str {
    match access {
        DatabaseAccess::None => "no database access",
        DatabaseAccess::ReadOnly => "read-only database access",
        DatabaseAccess::ReadWrite => "read-write database access",
    }
}

fn bounded(
    field: &str,
    value: Option<u64>,
    default: u64,
    ceiling: u64,
    ceiling_name: &str,
) -> Result<u64, ManifestError> {
    let v = value.unwrap_or(default);
    if v == 0 || v > ceiling {
        return Err(ManifestError::Field {
            field: field.into(),
            problem: format!("{v} is outside 1..={ceiling} ({ceiling_name})"),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> RuntimeConfig {
        RuntimeConfig::default()
    }

    #[test]
    fn minimal_manifest_gets_server_defaults() {
        let m = Manifest::parse("sample", "[tools.greet]\nscopes = [\"tool:greet\"]\n", &rt()).unwrap();
        assert_eq!(m.limits.timeout_ms, rt().default_timeout_ms);
        assert_eq!(m.limits.memory_bytes as u64, rt().default_memory_mb * 1024 * 1024);
        assert_eq!(m.tools["greet"].scopes, vec!["tool:greet".to_string()]);
        assert_eq!(m.database, DatabaseAccess::None);
    }

    #[test]
    fn limits_above_the_server_ceiling_are_refused_naming_the_field() {
        let err = Manifest::parse("p", "[limits]\nmemory_mb = 100000\n[tools.t]\n", &rt()).unwrap_err();
        assert!(err.to_string().contains("limits.memory_mb"), "{err}");
        assert!(err.to_string().contains("runtime.max_memory_mb"), "{err}");
    }

    #[test]
    fn name_defaults_to_the_file_stem_and_is_checked() {
        assert_eq!(Manifest::parse("p", "[tools.t]\n", &rt()).unwrap().name, "p");
        assert_eq!(Manifest::parse("p-v2", "[plugin]\nname = \"p\"\n[tools.t]\n", &rt()).unwrap().name, "p");
        let err = Manifest::parse("Bad", "[tools.t]\n", &rt()).unwrap_err();
        assert!(err.to_string().contains("plugin.name"), "{err}");
        assert!(err.to_string().contains("file name"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_tool_names_are_refused() {
        assert!(Manifest::parse("p", "[limits]\nmemroy_mb = 1\n[tools.t]\n", &rt()).is_err());
        let err = Manifest::parse("p", "[tools.\"a.b\"]\n", &rt()).unwrap_err();
        assert!(err.to_string().contains("tools.a.b"), "{err}");
    }

    #[test]
    fn fuel_needs_metering() {
        let err = Manifest::parse("p", "[limits]\nfuel = 10\n[tools.t]\n", &rt()).unwrap_err();
        assert!(err.to_string().contains("fuel_metering"), "{err}");
        let metered = RuntimeConfig { fuel_metering: true, ..rt() };
        assert_eq!(
            Manifest::parse("p", "[limits]\nfuel = 10\n[tools.t]\n", &metered).unwrap().limits.fuel,
            Some(10)
        );
    }

    fn team() -> TeamConfig {
        toml::from_str(
            "name = \"sales\"\nplugins_dir = \"t\"\nscope_prefix = \"sales:\"\nmember_claim = \"org\"\n\
             members = [\"s\"]\nmax_memory_mb = 32\nmax_timeout_ms = 1000\ndatabase = \"read-only\"\n",
        )
        .unwrap()
    }

    #[test]
    fn team_manifests_are_held_to_the_team_ceilings() {
        let c = Ceilings::team(&rt(), &team());
        let ok = Manifest::parse_within("p", "[tools.t]\nscopes = [\"sales:read\"]\n", &c).unwrap();
        assert_eq!(ok.namespace(), "sales.p");
        assert_eq!(ok.limits.memory_bytes, 32 * 1024 * 1024, "the default is lowered to the team ceiling");
        let cases = [
            ("[tools.t]\nscopes = [\"admin:all\"]\n", "tools.t.scopes", "sales:"),
            ("[limits]\nmemory_mb = 64\n[tools.t]\n", "limits.memory_mb", "team \"sales\""),
            ("[limits]\ntimeout_ms = 5000\n[tools.t]\n", "limits.timeout_ms", "max_timeout_ms"),
            ("[database]\naccess = \"read-write\"\n[tools.t]\n", "database.access", "read-only"),
        ];
        for (text, field, reason) in cases {
            let err = Manifest::parse_within("p", text, &c).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(reason), "{text}: {err}");
        }
        // The same manifests are fine in the shared directory.
        assert!(Manifest::parse("p", "[tools.t]\nscopes = [\"admin:all\"]\n", &rt()).is_ok());
    }

    #[test]
    fn plugin_names_are_checked() {
        assert!(is_valid_plugin_name("sales-2"));
        assert!(!is_valid_plugin_name("Sales"));
        assert!(!is_valid_plugin_name("9lives"));
        assert!(!is_valid_plugin_name(&"a".repeat(33)));
        assert!(is_valid_tool_name("top_Customers-2"));
        assert!(!is_valid_tool_name("a.b"));
    }
}

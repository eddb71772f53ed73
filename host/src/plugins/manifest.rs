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
//! statements_per_call = 20  # optional; capped by database.max_statements_per_call
//! rows_per_call = 5000      # optional; over all queries; capped by database.max_rows_per_call
//!
//! [tools.top_customers]
//! scopes = ["sales:read"]   # every listed scope is required
//!
//! [resources."sales://regions"]            # contract 0.2: a fixed-URI resource
//! scopes = ["sales:read"]
//!
//! [resource_templates."sales://orders/{id}"] # contract 0.2: a URI template
//! scopes = ["sales:read"]
//!
//! [prompts.summarize]      # contract 0.2: served as sales.summarize
//! scopes = []
//!
//! [http]                    # outbound HTTP (wasi:http), within http.* and the team's ceiling
//! max_requests = 4          # per call
//! max_response_kb = 512     # per call, over all requests
//! timeout_ms = 3000         # per request, within limits.timeout_ms
//!
//! [http.destinations.crm]   # the plugin sees WARDEN_HTTP_CRM = the URL
//! url = "https://crm.example.com/api/"   # origin and path prefix
//! methods = ["GET", "POST"] # default ["GET"]
//! credential = "exchange"   # none | caller | exchange | secret
//! audience = "https://crm.example.com"   # exchange: audience and/or resource, scopes
//! # secret = "crm-key"      # secret: a name from http.secrets / teams[].http_secrets
//! # header = "X-Api-Key"   # where the credential goes (default Authorization)
//! ```
//! Deny by default: a tool, resource, template or prompt the component offers but the manifest
//! does not list is not served.
//!
//! `plugin.bare_names = true` serves tool and prompt names without the `<plugin>.` prefix (a
//! fixture whose names are fixed by someone else, like the MCP conformance suite). Only the
//! operator's shared directory may do that; names still may not collide with another plugin's.

use std::collections::BTreeMap;

use serde::Deserialize;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{DatabaseConfig, HttpConfig, RuntimeConfig, TeamConfig, check_destination_url};
use crate::db::Budget;
use crate::outbound::policy::{Credential, Destination, HttpGrant, HttpLimits, path_within};
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
    /// What one call may spend on the database.
    pub database_budget: Budget,
    /// Tools the manifest allows, by local name.
    pub tools: BTreeMap<String, ToolGrant>,
    /// Fixed-URI resources the manifest allows, by URI (contract 0.2).
    pub resources: BTreeMap<String, ToolGrant>,
    /// Resource templates the manifest allows, by URI template (contract 0.2).
    pub resource_templates: BTreeMap<String, ToolGrant>,
    /// Prompts the manifest allows, by local name (contract 0.2).
    pub prompts: BTreeMap<String, ToolGrant>,
    /// Serve tool and prompt names without the `<plugin>.` prefix.
    pub bare_names: bool,
    /// Outbound HTTP granted (`None`: none; every request is refused).
    pub http: Option<Arc<HttpGrant>>,
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

/// What one tool, resource, template or prompt requires of its caller.
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
    #[serde(default)]
    resources: BTreeMap<String, ToolGrant>,
    #[serde(default)]
    resource_templates: BTreeMap<String, ToolGrant>,
    #[serde(default)]
    prompts: BTreeMap<String, ToolGrant>,
    #[serde(default)]
    http: RawHttp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    destinations: BTreeMap<String, RawDestination>,
    max_requests: Option<u64>,
    max_response_kb: Option<u64>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    url: String,
    methods: Option<Vec<String>>,
    #[serde(default)]
    credential: RawCredential,
    audience: Option<String>,
    resource: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    secret: Option<String>,
    header: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawCredential {
    #[default]
    None,
    Caller,
    Exchange,
    Secret,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: Option<String>,
    description: Option<String>,
    wasm_sha256: Option<String>,
    #[serde(default)]
    bare_names: bool,
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
    statements_per_call: Option<u64>,
    rows_per_call: Option<u64>,
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
    /// Every resource URI and template must start with this.
    pub resource_prefix: Option<String>,
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
    /// The most one call may spend on the database (`[database]`'s per-call ceilings).
    pub database_budget: Budget,
    /// Outbound HTTP ceilings.
    pub http: HttpCeilings,
    /// The setting that imposes the memory, time and database ceilings, for error messages.
    source: String,
}

/// What a manifest's `[http]` may ask for.
#[derive(Debug, Clone)]
pub struct HttpCeilings {
    /// Destinations (origin and path prefix) manifests may declare within (`None`: any, the
    /// shared directory's).
    pub destinations: Option<Vec<url::Url>>,
    /// Secrets manifests may name.
    pub secrets: BTreeSet<String>,
    /// `http.max_requests_per_call`.
    pub max_requests: u64,
    /// `http.max_response_kb`.
    pub max_response_kb: u64,
    /// `http.max_request_ms`.
    pub max_request_ms: u64,
}

impl HttpCeilings {
    /// The ceilings `http` sets, for the shared directory (`team` `None`) or a team.
    pub fn new(http: &HttpConfig, team: Option<&TeamConfig>) -> HttpCeilings {
        let (destinations, secrets) = match team {
            None => (None, http.secrets.keys().cloned().collect()),
            Some(t) => (
                Some(t.http_destinations.iter().filter_map(|d| check_destination_url(d).ok()).collect()),
                t.http_secrets.keys().cloned().collect(),
            ),
        };
        HttpCeilings {
            destinations,
            secrets,
            max_requests: u64::from(http.max_requests_per_call),
            max_response_kb: http.max_response_kb,
            max_request_ms: http.max_request_ms,
        }
    }
}

impl Ceilings {
    /// The shared directory's ceilings: the server's `[runtime]` settings.
    pub fn server(rt: &RuntimeConfig) -> Ceilings {
        Ceilings {
            team: None,
            scope_prefix: None,
            resource_prefix: None,
            memory_mb: (rt.default_memory_mb, rt.max_memory_mb),
            timeout_ms: (rt.default_timeout_ms, rt.max_timeout_ms),
            max_output_kb: rt.max_output_kb,
            fuel_metering: rt.fuel_metering,
            database: DatabaseAccess::ReadWrite,
            database_budget: Budget::default(),
            http: HttpCeilings::new(&HttpConfig::default(), None),
            source: "the server's runtime settings".into(),
        }
    }

    /// These ceilings with outbound HTTP as `http` (and the team's part of it) allows.
    pub fn with_http(mut self, http: &HttpConfig, team: Option<&TeamConfig>) -> Ceilings {
        self.http = HttpCeilings::new(http, team);
        self
    }

    /// These ceilings with the per-call database budget `database` allows.
    pub fn with_database(mut self, database: &DatabaseConfig) -> Ceilings {
        self.database_budget = Budget::ceiling(database);
        self
    }

    /// A team's ceilings: its own, within the server's.
    pub fn team(rt: &RuntimeConfig, team: &TeamConfig) -> Ceilings {
        let memory_max = team.max_memory_mb.unwrap_or(rt.max_memory_mb).min(rt.max_memory_mb);
        let timeout_max = team.max_timeout_ms.unwrap_or(rt.max_timeout_ms).min(rt.max_timeout_ms);
        Ceilings {
            team: Some(team.name.clone()),
            scope_prefix: Some(team.scope_prefix.clone()),
            resource_prefix: Some(team.resource_prefix()),
            memory_mb: (rt.default_memory_mb.min(memory_max), memory_max),
            timeout_ms: (rt.default_timeout_ms.min(timeout_max), timeout_max),
            max_output_kb: rt.max_output_kb,
            fuel_metering: rt.fuel_metering,
            database: team.database,
            database_budget: Budget::default(),
            http: HttpCeilings::new(&HttpConfig::default(), Some(team)),
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
        for prompt in raw.prompts.keys() {
            if !is_valid_tool_name(prompt) {
                return Err(field(
                    &format!("prompts.{prompt}"),
                    format!(
                        "{prompt:?} is not a valid prompt name: use 1-{MAX_TOOL_NAME} characters of A-Z, a-z, 0-9, '_' or '-'"
                    ),
                ));
            }
        }
        for uri in raw.resources.keys() {
            if let Err(problem) = check_uri(uri) {
                return Err(field(&format!("resources.\"{uri}\""), problem));
            }
        }
        for template in raw.resource_templates.keys() {
            if let Err(problem) = crate::plugins::uri_template::UriTemplate::parse(template) {
                return Err(field(&format!("resource_templates.\"{template}\""), problem.to_string()));
            }
        }
        if raw.tools.is_empty()
            && raw.resources.is_empty()
            && raw.resource_templates.is_empty()
            && raw.prompts.is_empty()
        {
            return Err(field(
                "tools",
                "lists no tools (and no resources or prompts), so nothing would be served; add a \
                 [tools.<name>] table per tool"
                    .into(),
            ));
        }
        if let Some(prefix) = &ceilings.resource_prefix {
            let listed = (raw.resources.keys().map(|k| ("resources", k)))
                .chain(raw.resource_templates.keys().map(|k| ("resource_templates", k)));
            for (table, uri) in listed {
                if !uri.starts_with(prefix.as_str()) {
                    return Err(field(
                        &format!("{table}.\"{uri}\""),
                        format!(
                            "is outside {}: this team's resources must start with {prefix:?}",
                            ceilings.source.replace("'s ceiling", "'s resource prefix")
                        ),
                    ));
                }
            }
        }
        if raw.plugin.bare_names && ceilings.team.is_some() {
            return Err(field(
                "plugin.bare_names",
                format!(
                    "is only allowed in the server's shared plugin directory, not in {}; remove it \
                     (tools are served as <team>.<plugin>.<tool>)",
                    ceilings.source.replace("'s ceiling", "'s directory")
                ),
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
        let ceiling = c.database_budget;
        let database_budget = Budget {
            statements: bounded(
                "database.statements_per_call",
                raw.database.statements_per_call,
                ceiling.statements,
                ceiling.statements,
                "database.max_statements_per_call in server.toml",
            )?,
            rows: bounded(
                "database.rows_per_call",
                raw.database.rows_per_call,
                ceiling.rows,
                ceiling.rows,
                "database.max_rows_per_call in server.toml",
            )?,
        };
        if let Some(prefix) = &c.scope_prefix {
            let grants = (raw.tools.iter().map(|(k, g)| (format!("tools.{k}"), g)))
                .chain(raw.resources.iter().map(|(k, g)| (format!("resources.\"{k}\""), g)))
                .chain(raw.resource_templates.iter().map(|(k, g)| (format!("resource_templates.\"{k}\""), g)))
                .chain(raw.prompts.iter().map(|(k, g)| (format!("prompts.{k}"), g)));
            for (at, grant) in grants {
                if let Some(scope) = grant.scopes.iter().find(|s| !s.starts_with(prefix.as_str())) {
                    return Err(field(
                        &format!("{at}.scopes"),
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

        let http = parse_http(&raw.http, c, timeout_ms)?;

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
            database_budget,
            tools: raw.tools,
            resources: raw.resources,
            resource_templates: raw.resource_templates,
            prompts: raw.prompts,
            bare_names: raw.plugin.bare_names,
            http,
        })
    }

    /// The name a tool or prompt called `local` is served as: `<namespace>.<local>`, or `local`
    /// with `plugin.bare_names`.
    pub fn served_name(&self, local: &str) -> String {
        if self.bare_names { local.to_owned() } else { format!("{}.{local}", self.namespace()) }
    }
}

/// Longest resource URI or template a manifest may list.
pub const MAX_URI: usize = 2048;

/// Checks that `uri` is an absolute URI (`scheme:rest`) of at most [`MAX_URI`] bytes.
fn check_uri(uri: &str) -> Result<(), String> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok || uri.len() > MAX_URI || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{uri:?} is not an absolute URI such as \"docs://handbook\" (a scheme, ':', no spaces, at most {MAX_URI} bytes)"
        ));
    }
    Ok(())
}

fn access_name(access: DatabaseAccess) -> &'static str {
    match access {
        DatabaseAccess::None => "no database access",
        DatabaseAccess::ReadOnly => "read-only database access",
        DatabaseAccess::ReadWrite => "read-write database access",
    }
}

/// Headers a credential may not go in: they frame the message or route it.
const RESERVED_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive", "trailer"];

fn parse_http(raw: &RawHttp, c: &Ceilings, timeout_ms: u64) -> Result<Option<Arc<HttpGrant>>, ManifestError> {
    let field = |field: String, problem: String| ManifestError::Field { field, problem };
    if raw.destinations.is_empty() {
        if raw.max_requests.is_some() || raw.max_response_kb.is_some() || raw.timeout_ms.is_some() {
            return Err(field(
                "http".into(),
                "sets limits but declares no [http.destinations.<name>]".into(),
            ));
        }
        return Ok(None);
    }
    let h = &c.http;
    let max_requests = bounded(
        "http.max_requests",
        raw.max_requests,
        h.max_requests,
        h.max_requests,
        "http.max_requests_per_call",
    )?;
    let max_response_kb = bounded(
        "http.max_response_kb",
        raw.max_response_kb,
        h.max_response_kb,
        h.max_response_kb,
        "http.max_response_kb",
    )?;
    let request_ms = h.max_request_ms.min(timeout_ms);
    let request_ms = bounded(
        "http.timeout_ms",
        raw.timeout_ms,
        request_ms,
        request_ms,
        "http.max_request_ms and limits.timeout_ms",
    )?;
    let mut destinations = Vec::new();
    for (name, d) in &raw.destinations {
        let at = |f: &str| format!("http.destinations.{name}.{f}");
        if !is_valid_plugin_name(name) {
            return Err(field(
                format!("http.destinations.{name}"),
                format!(
                    "{name:?} is not a valid destination name: use 1-{MAX_PLUGIN_NAME} characters of a-z, 0-9, '_' or '-', starting with a letter"
                ),
            ));
        }
        let url = check_destination_url(&d.url).map_err(|p| field(at("url"), p))?;
        if let Some(allowed) = &h.destinations
            && !allowed.iter().any(|a| a.origin() == url.origin() && path_within(url.path(), a.path()))
        {
            let list: Vec<&str> = allowed.iter().map(url::Url::as_str).collect();
            return Err(field(
                at("url"),
                format!(
                    "{} is outside {} (http_destinations: {}); ask the platform team to add it",
                    d.url,
                    c.source,
                    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
                ),
            ));
        }
        let mut methods = Vec::new();
        for m in d.methods.clone().unwrap_or_else(|| vec!["GET".into()]) {
            let method = http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| field(at("methods"), format!("{m:?} is not an HTTP method")))?;
            if method == http::Method::CONNECT || method == http::Method::TRACE {
                return Err(field(at("methods"), format!("{method} is not allowed")));
            }
            methods.push(method);
        }
        if methods.is_empty() {
            return Err(field(at("methods"), "is empty, so no request could be sent".into()));
        }
        let credential = match d.credential {
            RawCredential::None => Credential::None,
            RawCredential::Caller => Credential::Caller,
            RawCredential::Exchange => {
                if d.audience.is_none() && d.resource.is_none() {
                    return Err(field(
                        at("audience"),
                        "credential \"exchange\" needs the audience (or resource) the token is for".into(),
                    ));
                }
                Credential::Exchange {
                    audience: d.audience.clone(),
                    resource: d.resource.clone(),
                    scopes: d.scopes.clone(),
                }
            }
            RawCredential::Secret => {
                let Some(secret) = &d.secret else {
                    return Err(field(
                        at("secret"),
                        "credential \"secret\" needs the name of the secret".into(),
                    ));
                };
                if !h.secrets.contains(secret) {
                    let table = if c.team.is_some() {
                        format!("{}'s http_secrets", c.source.replace("'s ceiling", ""))
                    } else {
                        "http.secrets".into()
                    };
                    return Err(field(
                        at("secret"),
                        format!("{secret:?} is not in {table}; ask the platform team to configure it"),
                    ));
                }
                Credential::Secret { name: secret.clone() }
            }
        };
        let extra = [
            ("audience", d.audience.is_some()),
            ("resource", d.resource.is_some()),
            ("scopes", !d.scopes.is_empty()),
        ];
        if !matches!(credential, Credential::Exchange { .. })
            && let Some((f, _)) = extra.iter().find(|(_, set)| *set)
        {
            return Err(field(at(f), "is only used with credential = \"exchange\"".into()));
        }
        if d.secret.is_some() && !matches!(credential, Credential::Secret { .. }) {
            return Err(field(at("secret"), "is only used with credential = \"secret\"".into()));
        }
        let header = match &d.header {
            None => http::header::AUTHORIZATION,
            Some(h) => {
                let name = http::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| field(at("header"), format!("{h:?} is not a header name")))?;
                if RESERVED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("proxy-") {
                    return Err(field(
                        at("header"),
                        format!("{h:?} frames or routes the request; use another header"),
                    ));
                }
                name
            }
        };
        if credential == Credential::None && d.header.is_some() {
            return Err(field(
                at("header"),
                "names where a credential goes, but credential is \"none\"".into(),
            ));
        }
        let dest = Destination::from_url(name, &url, methods, credential, header)
            .ok_or_else(|| field(at("url"), format!("{} has no usable host and port", d.url)))?;
        destinations.push(dest);
    }
    Ok(Some(Arc::new(HttpGrant {
        destinations,
        limits: HttpLimits {
            requests_per_call: u32::try_from(max_requests).unwrap_or(u32::MAX),
            response_bytes: max_response_kb.saturating_mul(1024),
            request_timeout: Duration::from_millis(request_ms),
        },
    })))
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
mod properties;

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
    fn the_database_budget_defaults_to_the_servers_ceiling_and_may_only_narrow_it() {
        let db = DatabaseConfig { max_statements_per_call: 50, max_rows_per_call: 500, ..Default::default() };
        let c = Ceilings::server(&rt()).with_database(&db);
        let m = Manifest::parse_within("p", "[database]\naccess = \"read-only\"\n[tools.t]\n", &c).unwrap();
        assert_eq!(m.database_budget, Budget { statements: 50, rows: 500 });
        let text =
            "[database]\naccess = \"read-only\"\nstatements_per_call = 3\nrows_per_call = 10\n[tools.t]\n";
        let m = Manifest::parse_within("p", text, &c).unwrap();
        assert_eq!(m.database_budget, Budget { statements: 3, rows: 10 });
        for (text, field) in [
            ("[database]\nstatements_per_call = 51\n[tools.t]\n", "database.statements_per_call"),
            ("[database]\nrows_per_call = 501\n[tools.t]\n", "database.rows_per_call"),
            ("[database]\nrows_per_call = 0\n[tools.t]\n", "database.rows_per_call"),
        ] {
            let err = Manifest::parse_within("p", text, &c).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("in server.toml"), "{err}");
        }
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
    fn resources_templates_and_prompts_are_checked_and_count_as_something_to_serve() {
        let text = "[resources.\"docs://a\"]\n[resource_templates.\"docs://p/{id}\"]\n[prompts.summarize]\n";
        let m = Manifest::parse("p", text, &rt()).unwrap();
        assert!(m.tools.is_empty());
        assert_eq!(m.resources.len() + m.resource_templates.len() + m.prompts.len(), 3);
        assert_eq!(m.served_name("summarize"), "p.summarize");
        let cases = [
            ("[resources.\"no scheme\"]\n", "resources.\"no scheme\""),
            ("[resource_templates.\"docs://{unclosed\"]\n", "resource_templates"),
            ("[prompts.\"a.b\"]\n", "prompts.a.b"),
            ("[plugin]\n", "lists no tools"),
        ];
        for (text, needle) in cases {
            let err = Manifest::parse("p", text, &rt()).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn team_resources_must_start_with_the_team_prefix() {
        let c = Ceilings::team(&rt(), &team());
        assert!(Manifest::parse_within("p", "[resources.\"sales://regions\"]\n", &c).is_ok());
        let err = Manifest::parse_within("p", "[resource_templates.\"crm://a/{id}\"]\n", &c)
            .unwrap_err()
            .to_string();
        assert!(err.contains("resource_templates.\"crm://a/{id}\"") && err.contains("\"sales://\""), "{err}");
        // The shared directory is the operator's: any URI.
        assert!(Manifest::parse("p", "[resources.\"crm://a\"]\n", &rt()).is_ok());
    }

    #[test]
    fn bare_names_are_for_the_shared_directory_only() {
        let text = "[plugin]\nbare_names = true\n[tools.t]\n";
        let m = Manifest::parse("p", text, &rt()).unwrap();
        assert_eq!(m.served_name("t"), "t");
        let err = Manifest::parse_within("p", text, &Ceilings::team(&rt(), &team())).unwrap_err().to_string();
        assert!(err.contains("plugin.bare_names") && err.contains("team \"sales\""), "{err}");
    }

    #[test]
    fn team_prefixes_apply_to_resources_and_prompts_too() {
        let c = Ceilings::team(&rt(), &team());
        let err =
            Manifest::parse_within("p", "[prompts.x]\nscopes = [\"admin\"]\n", &c).unwrap_err().to_string();
        assert!(err.contains("prompts.x.scopes"), "{err}");
        let err = Manifest::parse_within("p", "[resources.\"sales://b\"]\nscopes = [\"admin\"]\n", &c)
            .unwrap_err()
            .to_string();
        assert!(err.contains("resources.\"sales://b\".scopes"), "{err}");
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

    fn http_team() -> TeamConfig {
        toml::from_str(
            "name = \"sales\"\nplugins_dir = \"t\"\nscope_prefix = \"sales:\"\nmember_claim = \"org\"\n\
             members = [\"s\"]\nhttp_destinations = [\"https://crm.example.com/api/\"]\n\
             [http_secrets]\ncrm-key = \"env:CRM_KEY\"\n",
        )
        .unwrap()
    }

    #[test]
    fn http_destinations_become_a_grant_with_resolved_limits() {
        let text = "[tools.t]\n[http]\nmax_requests = 2\n[http.destinations.crm]\nurl = \"https://CRM.example.com/api/v2\"\n\
                    methods = [\"get\", \"POST\"]\ncredential = \"exchange\"\naudience = \"https://crm\"\nscopes = [\"r\"]\n";
        let m = Manifest::parse_within("p", text, &Ceilings::team(&rt(), &http_team())).unwrap();
        let grant = m.http.expect("a grant");
        assert_eq!(grant.limits.requests_per_call, 2);
        assert_eq!(grant.limits.request_timeout, Duration::from_millis(rt().default_timeout_ms.min(10_000)));
        let d = &grant.destinations[0];
        assert_eq!((d.host.as_str(), d.port, d.path_prefix.as_str()), ("crm.example.com", 443, "/api/v2"));
        assert_eq!(d.methods, vec![http::Method::GET, http::Method::POST]);
        assert_eq!(d.credential.kind(), "exchange");
        assert_eq!(d.header, http::header::AUTHORIZATION);
        assert!(Manifest::parse("p", "[tools.t]\n", &rt()).unwrap().http.is_none(), "no [http], no grant");
    }

    #[test]
    fn http_beyond_the_team_ceiling_or_malformed_is_refused_naming_the_field() {
        let c = Ceilings::team(&rt(), &http_team());
        let dest = |body: &str| format!("[tools.t]\n[http.destinations.d]\n{body}\n");
        let cases = [
            (dest("url = \"https://evil.example.com/api/\""), "http.destinations.d.url", "http_destinations"),
            (dest("url = \"https://crm.example.com/admin/\""), "http.destinations.d.url", "outside"),
            (dest("url = \"http://crm.example.com/api/\""), "http.destinations.d.url", "outside"),
            (dest("url = \"https://u:p@crm.example.com/api/\""), "http.destinations.d.url", "credentials"),
            (dest("url = \"ftp://crm.example.com/api/\""), "http.destinations.d.url", "only http and https"),
            (
                dest("url = \"https://crm.example.com/api/\"\nmethods = [\"CONNECT\"]"),
                "methods",
                "not allowed",
            ),
            (
                dest("url = \"https://crm.example.com/api/\"\ncredential = \"exchange\""),
                "audience",
                "needs the audience",
            ),
            (
                dest("url = \"https://crm.example.com/api/\"\ncredential = \"secret\"\nsecret = \"nope\""),
                "secret",
                "not in",
            ),
            (
                dest("url = \"https://crm.example.com/api/\"\ncredential = \"secret\""),
                "secret",
                "needs the name",
            ),
            (dest("url = \"https://crm.example.com/api/\"\naudience = \"x\""), "audience", "only used with"),
            (
                dest("url = \"https://crm.example.com/api/\"\ncredential = \"caller\"\nheader = \"Host\""),
                "header",
                "frames or routes",
            ),
            (
                format!("{}[http]\nmax_requests = 1000\n", dest("url = \"https://crm.example.com/api/\"")),
                "http.max_requests",
                "1..=",
            ),
            ("[tools.t]\n[http]\nmax_requests = 1\n".to_owned(), "http", "declares no"),
            (
                "[tools.t]\n[http.destinations.Bad]\nurl = \"https://crm.example.com/api/\"\n".to_owned(),
                "http.destinations.Bad",
                "not a valid",
            ),
        ];
        for (text, field, reason) in cases {
            let err = Manifest::parse_within("p", &text, &c).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(reason), "{text}: {err}");
        }
        // A secret the team has is fine; the shared directory may name any origin.
        let ok = dest(
            "url = \"https://crm.example.com/api/x\"\ncredential = \"secret\"\nsecret = \"crm-key\"\nheader = \"X-Api-Key\"",
        );
        assert!(Manifest::parse_within("p", &ok, &c).is_ok());
        let anywhere = dest("url = \"https://anywhere.example.org/\"");
        assert!(Manifest::parse("p", &anywhere, &rt()).is_ok());
        // A team without http_destinations gets no outbound HTTP at all.
        let err =
            Manifest::parse_within("p", &anywhere, &Ceilings::team(&rt(), &team())).unwrap_err().to_string();
        assert!(err.contains("http_destinations: none"), "{err}");
    }
}

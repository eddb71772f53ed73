//! `[[teams]]`: one Warden, many teams. Each team has its own plugin directory, the scope prefix
//! its manifests may claim, ceilings on memory, time and database access, the claim that says who
//! belongs to it, and the minisign keys its plugins are signed with.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;

use super::Config;
use crate::shared::{DatabaseAccess, parse_trusted_key};

/// Longest team name: with a 32-character plugin name and a 64-character tool name, served names
/// (`team.plugin.tool`) stay within MCP's 128 characters.
const MAX_TEAM_NAME: usize = 24;

/// One `[[teams]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Team name, the first part of its tool names (`<team>.<plugin>.<tool>`).
    pub name: String,
    /// The team's own plugin directory.
    pub plugins_dir: PathBuf,
    /// Every scope a manifest of this team requires must start with this (e.g. `sales:`).
    pub scope_prefix: String,
    /// Every resource URI and template a manifest of this team lists must start with this
    /// (default `<team>://`), so no team can serve, shadow or capture another team's URIs.
    pub resource_prefix: Option<String>,
    /// The token claim that says who belongs to the team (a string or an array of strings), e.g.
    /// `org_id` or `groups`.
    pub member_claim: String,
    /// Values of `member_claim` that make a caller a member.
    pub members: Vec<String>,
    /// Memory ceiling for the team's manifests, in MiB (at most `runtime.max_memory_mb`).
    pub max_memory_mb: Option<u64>,
    /// Wall-time ceiling for the team's manifests, in milliseconds (at most `runtime.max_timeout_ms`).
    pub max_timeout_ms: Option<u64>,
    /// The most database access a manifest of this team may ask for.
    #[serde(default)]
    pub database: DatabaseAccess,
    /// Refuse the team's plugins unless signed by one of `trusted_keys`.
    #[serde(default)]
    pub require_signatures: bool,
    /// Minisign public keys the team signs with (`RW...`, or `file:`/`env:` references).
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// The HTTP destinations (origin and path prefix, e.g. `https://api.example.com/v1/`) the
    /// team's manifests may declare. Empty: the team's plugins get no outbound HTTP.
    #[serde(default)]
    pub http_destinations: Vec<String>,
    /// Secrets the team's manifests may name (`credential = "secret"`): `env:`/`file:` references.
    #[serde(default)]
    pub http_secrets: std::collections::BTreeMap<String, super::Secret>,
}

impl TeamConfig {
    /// The prefix the team's resource URIs and templates must start with.
    pub fn resource_prefix(&self) -> String {
        self.resource_prefix.clone().unwrap_or_else(|| format!("{}://", self.name))
    }
}

/// True if `name` is a valid team name: `[a-z0-9-]`, starting with a letter, at most 24 long.
pub fn is_valid_team_name(name: &str) -> bool {
    (1..=MAX_TEAM_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Config {
    pub(super) fn validate_teams(&self, bad: &mut impl FnMut(&str, String, &str)) {
        check_keys("plugins", self.plugins.require_signatures, &self.plugins.trusted_keys, bad);
        let mut names = BTreeSet::new();
        let mut dirs = BTreeSet::from([self.plugins.dir.clone()]);
        let mut resource_prefixes: Vec<(usize, String)> = Vec::new();
        for (i, team) in self.teams.iter().enumerate() {
            let at = format!("teams[{i}]");
            let field = |f: &str| format!("{at}.{f}");
            if !is_valid_team_name(&team.name) {
                bad(
                    &field("name"),
                    format!("{:?} is not a valid team name", team.name),
                    "use 1-24 characters of a-z, 0-9 or '-', starting with a letter",
                );
            }
            if !names.insert(team.name.clone()) {
                bad(
                    &field("name"),
                    format!("team {:?} is defined twice", team.name),
                    "give each team its own name",
                );
            }
            if !dirs.insert(team.plugins_dir.clone()) {
                bad(
                    &field("plugins_dir"),
                    format!(
                        "{} is already another team's (or the shared) plugin directory",
                        team.plugins_dir.display()
                    ),
                    "give every team its own directory, apart from plugins.dir",
                );
            }
            if team.scope_prefix.len() < 2 || team.scope_prefix.contains(char::is_whitespace) {
                bad(
                    &field("scope_prefix"),
                    format!("{:?} is too short to tell teams apart", team.scope_prefix),
                    "use the team's own prefix, e.g. \"sales:\"",
                );
            }
            let prefix = team.resource_prefix();
            if prefix.len() < 3 || !prefix.contains(':') || prefix.contains(char::is_whitespace) {
                bad(
                    &field("resource_prefix"),
                    format!("{prefix:?} does not start a URI (a scheme and ':')"),
                    "use the team's own scheme, e.g. \"sales://\"",
                );
            }
            if let Some((j, other)) = resource_prefixes
                .iter()
                .find(|(_, o)| o.starts_with(&prefix) || prefix.starts_with(o.as_str()))
            {
                bad(
                    &field("resource_prefix"),
                    format!(
                        "{prefix:?} overlaps teams[{j}]'s {other:?}, so one team could serve the other's URIs"
                    ),
                    "give every team a resource prefix that is not a prefix of another's",
                );
            }
            resource_prefixes.push((i, prefix));
            if team.member_claim.trim().is_empty() {
                bad(
                    &field("member_claim"),
                    "is empty".into(),
                    "name the claim that carries the team, e.g. \"org_id\"",
                );
            }
            if team.members.is_empty() || team.members.iter().any(String::is_empty) {
                bad(
                    &field("members"),
                    "lists no (or an empty) member value, so nobody could use the team's tools".into(),
                    "list the values of member_claim that make a caller a member",
                );
            }
            let rt = &self.runtime;
            if let Some(m) = team.max_memory_mb
                && (m == 0 || m > rt.max_memory_mb)
            {
                bad(
                    &field("max_memory_mb"),
                    format!("{m} MiB is outside 1..={} (runtime.max_memory_mb)", rt.max_memory_mb),
                    "lower it, or raise runtime.max_memory_mb",
                );
            }
            if let Some(t) = team.max_timeout_ms
                && (t == 0 || t > rt.max_timeout_ms)
            {
                bad(
                    &field("max_timeout_ms"),
                    format!("{t} ms is outside 1..={} (runtime.max_timeout_ms)", rt.max_timeout_ms),
                    "lower it, or raise runtime.max_timeout_ms",
                );
            }
            check_keys(&at, team.require_signatures, &team.trusted_keys, bad);
        }
    }
}

fn check_keys(at: &str, required: bool, keys: &[String], bad: &mut impl FnMut(&str, String, &str)) {
    if required && keys.is_empty() {
        bad(
            &format!("{at}.trusted_keys"),
            "is empty, but require_signatures is on, so no plugin could load".into(),
            "add the minisign public key (the RW... line of minisign.pub) the plugins are signed with",
        );
    }
    for (k, key) in keys.iter().enumerate() {
        if let Err(e) = parse_trusted_key(key) {
            bad(
                &format!("{at}.trusted_keys[{k}]"),
                e.to_string(),
                "use the public key line from `minisign -G` (starts with RW), or file:PATH to the .pub file",
            );
        }
    }
}

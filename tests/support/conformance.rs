//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in
//! `tests/conformance/package.json`) run against a Warden endpoint, and its results read back.
//!
//! What the pinned release does (read from its `dist/index.js`; see `tests/conformance/README.md`):
//! - `conformance server --url URL --requirements 2026-07-28` runs the 37 scored server scenarios
//!   of `requirements/2026-07-28.yaml` and, after them, its 13 `not_scored` ones (the `tasks-*`
//!   extension scenarios and three pending ones), one after another, each at the 2026-07-28 wire.
//! - With `-o DIR` every scenario writes `DIR/server-<scenario>-<ISO time, ':' and '.' as '-'>/checks.json`,
//!   an array of checks `{id, name, description, status, errorMessage?, details?, ...}` with status
//!   SUCCESS, FAILURE, WARNING, SKIPPED or INFO. A scenario that throws leaves its directory empty
//!   (and is counted as a FAILURE in the suite's own output).
//! - Exit status with `--expected-failures FILE`: 1 if a scored scenario has a FAILURE **or a
//!   WARNING** that the file does not list, or if the file lists something that now passes
//!   (stale); else 0. The not-scored scenarios never count. (Without the file, only FAILUREs of
//!   scored scenarios count.)
//! - It needs Node.js 22 or newer (`fs.globSync`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{node_path, repo_root};

/// The release `tests/conformance/package.json` pins.
pub const SUITE_VERSION: &str = "0.2.0-alpha.12";
/// The spec revision whose frozen requirement set the test runs.
pub const REQUIREMENTS: &str = "2026-07-28";

/// `tests/conformance/`.
pub fn suite_dir() -> PathBuf {
    repo_root().join("tests").join("conformance")
}

/// `tests/conformance/expected-failures.yaml`, the baseline.
pub fn expected_failures() -> PathBuf {
    suite_dir().join("expected-failures.yaml")
}

fn package_dir() -> PathBuf {
    suite_dir().join("node_modules").join("@modelcontextprotocol").join("conformance")
}

/// One check of a scenario, from its `checks.json`.
#[derive(Debug, Clone)]
pub struct Check {
    /// Check id (what `scenario:check-id` baseline entries name).
    pub id: String,
    /// SUCCESS, FAILURE, WARNING, SKIPPED or INFO.
    pub status: String,
    /// What the check is about.
    pub description: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name, e.g. `tools-call-simple-text`.
    pub name: String,
    /// `None` for a scored scenario; otherwise why it is not scored (`extension`, `pending`).
    pub not_scored: Option<String>,
    /// Its checks; `None` if it wrote no `checks.json` (it threw, or never ran).
    pub checks: Option<Vec<Check>>,
}

impl Scenario {
    fn count(&self, status: &str) -> usize {
        self.checks.as_ref().map_or(0, |c| c.iter().filter(|c| c.status == status).count())
    }

    /// No FAILURE, and it ran.
    pub fn passed(&self) -> bool {
        self.checks.is_some() && self.count("FAILURE") == 0
    }
}

/// A finished (or timed out) suite run.
#[derive(Debug)]
pub struct SuiteRun {
    /// The exit code; `None` if it was killed (see `timed_out`).
    pub exit_code: Option<i32>,
    /// True if it ran past its time limit and was killed.
    pub timed_out: bool,
    /// What it printed, colours removed.
    pub stdout: String,
    /// What it printed on stderr, colours removed.
    pub stderr: String,
    /// Every scenario of the requirement set, in its order, scored ones first, with what it wrote.
    pub scenarios: Vec<Scenario>,
}

impl SuiteRun {
    /// Exit status 0 within the time limit.
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }

    /// A table of every scenario: scored or not, checks by status.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let width = self.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let (scored, not_scored): (Vec<&Scenario>, Vec<&Scenario>) =
            self.scenarios.iter().partition(|s| s.not_scored.is_none());
        let _ = writeln!(
            out,
            "MCP conformance {SUITE_VERSION}, requirements {REQUIREMENTS}: exit {}{}",
            self.exit_code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
            if self.timed_out { " (timed out, killed)" } else { "" }
        );
        for (title, group) in [("scored", scored), ("not scored", not_scored)] {
            let passed = group.iter().filter(|s| s.passed()).count();
            let sum = |status: &str| group.iter().map(|s| s.count(status)).sum::<usize>();
            let _ = writeln!(
                out,
                "{title}: {passed}/{} scenarios without FAILURE; checks: {} SUCCESS, {} FAILURE, {} WARNING, {} SKIPPED, {} INFO",
                group.len(),
                sum("SUCCESS"),
                sum("FAILURE"),
                sum("WARNING"),
                sum("SKIPPED"),
                sum("INFO"),
            );
            for s in &group {
                // WARN: no FAILURE but a WARNING, which the baseline counts for scored scenarios.
                let mark = match (s.passed(), s.count("WARNING")) {
                    (false, _) => "FAIL",
                    (true, 0) => "pass",
                    (true, _) => "WARN",
                };
                let why = s.not_scored.as_deref().map_or_else(String::new, |r| format!(" ({r})"));
                if s.checks.is_none() {
                    let _ =
                        writeln!(out, "  {mark} {:width$}  no checks.json (threw or never ran){why}", s.name);
                    continue;
                }
                let _ = writeln!(
                    out,
                    "  {mark} {:width$}  {:>2} success {:>2} failure {:>2} warning {:>2} skipped{why}",
                    s.name,
                    s.count("SUCCESS"),
                    s.count("FAILURE"),
                    s.count("WARNING"),
                    s.count("SKIPPED"),
                );
            }
        }
        out
    }

    /// Every FAILURE check, and every WARNING of a scored scenario (the baseline counts those as
    /// failures too), as `scenario:check-id [STATUS] message` lines; scored scenarios first.
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for s in &self.scenarios {
            let tag = if s.not_scored.is_some() { " (not scored)" } else { "" };
            let Some(checks) = &s.checks else {
                let _ = writeln!(out, "{}{tag}: wrote no checks.json (see the suite's output)", s.name);
                continue;
            };
            for c in checks {
                let counts = c.status == "FAILURE" || (c.status == "WARNING" && s.not_scored.is_none());
                if counts {
                    let _ = writeln!(
                        out,
                        "{}:{} [{}]{tag} {}: {}",
                        s.name,
                        c.id,
                        c.status,
                        c.description,
                        c.error.as_deref().unwrap_or("(no message)")
                    );
                }
            }
        }
        out
    }
}

/// The server scenarios of the requirement set: `(name, None)` for the scored ones, then
/// `(name, Some(reason))` for the `not_scored` ones (read from the installed package's
/// `requirements/<revision>.yaml`).
pub fn requirement_set() -> anyhow::Result<Vec<(String, Option<String>)>> {
    let path = package_dir().join("requirements").join(format!("{REQUIREMENTS}.yaml"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(parse_requirements(&text))
}

/// A small reader for the requirement file's shape: top-level `server:` is a list of names;
/// `not_scored:` is a list of `- scenario: X` maps with `leg:` and `reason:`.
fn parse_requirements(text: &str) -> Vec<(String, Option<String>)> {
    let mut section = String::new();
    let mut scored = Vec::new();
    let mut not_scored: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':').trim().to_owned();
            continue;
        }
        let item = line.trim();
        match section.as_str() {
            "server" => {
                if let Some(name) = item.strip_prefix("- ") {
                    scored.push((name.trim().to_owned(), None));
                }
            }
            "not_scored" => {
                if let Some(name) = item.strip_prefix("- scenario:") {
                    not_scored.push((name.trim().to_owned(), None, None));
                } else if let (Some(leg), Some(last)) = (item.strip_prefix("leg:"), not_scored.last_mut()) {
                    last.1 = Some(leg.trim().to_owned());
                } else if let (Some(reason), Some(last)) =
                    (item.strip_prefix("reason:"), not_scored.last_mut())
                {
                    last.2 = Some(reason.trim().to_owned());
                }
            }
            _ => {}
        }
    }
    scored.extend(
        not_scored
            .into_iter()
            .filter(|(_, leg, _)| leg.as_deref() == Some("server"))
            .map(|(name, _, reason)| (name, Some(reason.unwrap_or_else(|| "not scored".to_owned())))),
    );
    scored
}

/// Reads `out_dir/server-<scenario>-<time>/checks.json` for every scenario of `set`.
pub fn read_results(out_dir: &Path, set: &[(String, Option<String>)]) -> Vec<Scenario> {
    let mut found: BTreeMap<String, Option<Vec<Check>>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(out_dir) {
        for entry in entries.flatten() {
            let dir = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = scenario_of_dir(&dir) else { continue };
            let checks = std::fs::read_to_string(entry.path().join("checks.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v.as_array().map(|a| a.iter().map(to_check).collect()));
            found.insert(name.to_owned(), checks);
        }
    }
    let mut scenarios: Vec<Scenario> = set
        .iter()
        .map(|(name, reason)| Scenario {
            name: name.clone(),
            not_scored: reason.clone(),
            checks: found.remove(name).flatten(),
        })
        .collect();
    // Anything the suite ran that the requirement file does not name (a newer build): listed as
    // not scored, so it shows up.
    scenarios.extend(found.into_iter().map(|(name, checks)| Scenario {
        name,
        not_scored: Some("not in the requirement file".into()),
        checks,
    }));
    scenarios
}

/// `server-tools-list-2026-12-01T13-45-07-850Z` → `tools-list`.
fn scenario_of_dir(dir: &str) -> Option<&str> {
    const STAMP: usize = "-2026-12-01T13-45-07-850Z".len();
    let rest = dir.strip_prefix("server-")?;
    let cut = rest.len().checked_sub(STAMP)?;
    let (name, stamp) = rest.split_at(cut);
    (stamp.starts_with('-') && stamp.ends_with('Z') && !name.is_empty()).then_some(name)
}

fn to_check(v: &Value) -> Check {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Check {
        id: text("id"),
        status: text("status"),
        description: text("description"),
        error: v["errorMessage"].as_str().map(str::to_owned),
    }
}

/// Removes ANSI colour sequences (the suite always prints in colour).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs the pinned suite against `url` (an MCP endpoint on 127.0.0.1) with the requirement set
/// of [`REQUIREMENTS`] and the baseline [`expected_failures`], writing results under `out_dir`;
/// kills it after `limit`.
pub async fn run_server_suite(url: &str, out_dir: &Path, limit: Duration) -> anyhow::Result<SuiteRun> {
    let bin = suite_dir().join("node_modules").join(".bin").join("conformance");
    if !bin.exists() {
        bail!(
            "{} is missing: run `npm ci --prefix tests/conformance` (`make test-deps` does)",
            bin.display()
        );
    }
    let version = std::fs::read_to_string(package_dir().join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if version != SUITE_VERSION {
        bail!(
            "tests/conformance/node_modules holds conformance {version:?}, not {SUITE_VERSION}: run `npm ci --prefix tests/conformance`"
        );
    }
    let path = node_path();
    let node = tokio::process::Command::new("node")
        .args(["-p", "process.versions.node"])
        .env("PATH", &path)
        .output()
        .await
        .context("run node (is Node.js 22+ installed? `make test-deps` installs it)")?;
    let node_version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    let major: u32 = node_version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 22 {
        bail!(
            "the conformance suite needs Node.js 22 or newer (it uses fs.globSync); `node` on PATH is {node_version:?}: \
             run `make test-deps`, which installs Node 22 under target/node"
        );
    }

    let stdout = tempfile::NamedTempFile::new()?;
    let stderr = tempfile::NamedTempFile::new()?;
    let mut child = tokio::process::Command::new(&bin)
        .arg("server")
        .args(["--url", url])
        .args(["--requirements", REQUIREMENTS])
        .arg("--expected-failures")
        .arg(expected_failures())
        .arg("-o")
        .arg(out_dir)
        .current_dir(suite_dir())
        .env("PATH", &path)
        .stdin(Stdio::null())
        .stdout(stdout.reopen()?)
        .stderr(stderr.reopen()?)
        .kill_on_drop(true)
        .spawn()
        .context("start the conformance suite")?;
    let (exit_code, timed_out) = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => (status?.code(), false),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    let set = requirement_set()?;
    Ok(SuiteRun {
        exit_code,
        timed_out,
        stdout: strip_ansi(&std::fs::read_to_string(stdout.path()).unwrap_or_default()),
        stderr: strip_ansi(&std::fs::read_to_string(stderr.path()).unwrap_or_default()),
        scenarios: read_results(out_dir, &set),
    })
}

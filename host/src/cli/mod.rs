//! The command line: `serve`, `check`, `plugins`, `new`, `probe`, `token`, `rotate-keys`.
//!
//! This is the binary's edge, so errors here are `anyhow` with context for the operator; the
//! rooms below return typed errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{AuthMode, Config};
use crate::plugins::LoadReport;

pub mod new;

/// Warden hosts MCP tools as sandboxed WebAssembly components.
#[derive(clap::Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    /// What to do.
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Runs the server.
    Serve {
        /// Configuration file (TOML); without it the embedded defaults apply.
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validates the configuration and every plugin, prints the tools table; exits non-zero on
    /// any error.
    Check {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Lists the plugins in the plugin directory and whether each loads.
    Plugins {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Scaffolds a plugin (source with one tool, manifest, Makefile) that builds and loads
    /// unchanged: `make` builds NAME.wasm, `make install PLUGIN_DIR=...` installs it.
    New {
        /// The plugin's name (a-z, 0-9, '-', '_'; starting with a letter).
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: new::Lang,
        /// Where to create the NAME/ directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The repository's sdk/ directory (default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Fetches `url` and exits 0 on a 2xx answer: the container health check, with no curl needed.
    Probe {
        /// The URL, e.g. http://127.0.0.1:9100/healthz.
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Prints an access token signed with the local issuer key (`auth.mode = "local"`).
    Token {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
        /// Subject (`sub`) of the token.
        #[arg(long)]
        sub: String,
        /// Space-separated scopes, e.g. "tool:greet tool:whoami".
        #[arg(long, default_value = "")]
        scope: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Audience; defaults to the server's resource URL (<public_url>/mcp).
        #[arg(long)]
        audience: Option<String>,
        /// Extra claims as NAME=VALUE (VALUE is read as JSON when it parses, else as a string),
        /// e.g. --claim org_id=sales --claim 'groups=["ops","sales"]'. Repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// Rolls the token signing key and the store's sealing key over (then restart every
    /// replica): the old signing key stays published, the old sealing key keeps opening what
    /// it sealed, so no session is lost.
    RotateKeys {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Runs one CLI command; the process exits with what this returns.
pub fn run(cli: Cli) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => {
                let app = App::build(Config::load(config.as_deref())?, true)?;
                app.serve().await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Check { config } => check(config, true).await,
            Command::Plugins { config } => check(config, false).await,
            Command::New { name, lang, dir, sdk } => {
                let sdk = sdk.unwrap_or_else(new::default_sdk_dir);
                let made = new::scaffold(&name, lang, &dir, &sdk)?;
                println!(
                    "created {}: `make -C {0}` builds {name}.wasm; `warden check` validates it",
                    made.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Probe { url, timeout_ms } => Ok(probe(&url, timeout_ms).await),
            Command::RotateKeys { config } => {
                let config = Config::load(config.as_deref())?;
                let rotated = crate::oidc_proxy::rotate_keys(&config.keys_dir())?;
                println!(
                    "signing key: {} (the previous one stays published as retired)",
                    rotated.signing_kid
                );
                println!("sealing key: {}", rotated.sealing_key_id);
                println!("restart every replica to use them");
                Ok(ExitCode::SUCCESS)
            }
            Command::Token { config, sub, scope, ttl, audience, claims } => {
                token(config, &sub, &scope, ttl, audience, &claims).map(|()| ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn,rmcp=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// `probe`: GET `url`; success on 2xx.
async fn probe(url: &str, timeout_ms: u64) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(Duration::from_millis(timeout_ms)).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("probe: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `token`: mints a local-mode access token.
fn token(
    config_path: Option<PathBuf>,
    sub: &str,
    scope: &str,
    ttl: u64,
    audience: Option<String>,
    claims: &[String],
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    if config.auth.mode != AuthMode::Local {
        anyhow::bail!(
            "auth.mode is {:?}: `warden token` mints tokens only for local mode; get tokens from your IdP instead",
            config.auth.mode
        );
    }
    let bound = config.server.bind;
    let issuer = config.issuer(bound).context("local mode always has an issuer")?;
    let audience = audience.unwrap_or_else(|| config.audience(bound));
    let mut extra = serde_json::Map::new();
    for c in claims {
        let (name, value) =
            c.split_once('=').with_context(|| format!("--claim {c:?}: write it as NAME=VALUE"))?;
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        extra.insert(name.to_owned(), value);
    }
    let issuer_key = crate::resource_server::local::LocalIssuer::load_or_create(&config.keys_dir())?;
    println!("{}", issuer_key.mint_with(&issuer, &audience, sub, scope, ttl, extra)?);
    Ok(())
}

/// `check` (tools table, strict) and `plugins` (one line per plugin).
async fn check(config_path: Option<PathBuf>, strict: bool) -> anyhow::Result<ExitCode> {
    let App { config, directories, .. } = App::build(Config::load(config_path.as_deref())?, false)?;
    let mut reports = Vec::new();
    for mut directory in directories {
        reports.extend(directory.load_all().await);
    }
    if strict {
        println!("configuration OK (plugins from {})", config.plugins.dir.display());
        print_tools_table(&reports);
        print_outbound_table(&reports);
    } else {
        print_plugins(&reports);
    }
    let failures: Vec<&LoadReport> = reports.iter().filter(|r| r.result.is_err()).collect();
    for r in &reports {
        for w in &r.warnings {
            eprintln!("warning: {}: {w}", r.source);
        }
    }
    for r in &failures {
        if let Err(e) = &r.result {
            eprintln!("error: plugin {}: {e}", r.source);
        }
    }
    Ok(if strict && !failures.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_tools_table(reports: &[LoadReport]) {
    let mut rows = vec![[
        "SERVES".to_owned(),
        "NAME".to_owned(),
        "SCOPES".to_owned(),
        "MEMORY".to_owned(),
        "TIMEOUT".to_owned(),
        "DATABASE".to_owned(),
    ]];
    for r in reports {
        let Ok(p) = &r.result else { continue };
        let served = (p.tools.iter().map(|t| ("tool", t.name.clone(), &t.grant)))
            .chain(p.resources.iter().map(|x| ("resource", x.uri.clone(), &x.grant)))
            .chain(p.templates.iter().map(|x| ("template", x.template.as_str().to_owned(), &x.grant)))
            .chain(p.prompts.iter().map(|x| ("prompt", x.name.clone(), &x.grant)));
        for (kind, name, grant) in served {
            let scopes = if grant.scopes.is_empty() { "-".to_owned() } else { grant.scopes.join(" ") };
            rows.push([
                kind.to_owned(),
                name,
                scopes,
                format!("{} MiB", p.manifest.limits.memory_bytes / (1024 * 1024)),
                format!("{} ms", p.manifest.limits.timeout_ms),
                format!("{:?}", p.manifest.database).to_lowercase(),
            ]);
        }
    }
    print_table(&rows);
}

/// Each plugin's HTTP destinations (none: no table).
fn print_outbound_table(reports: &[LoadReport]) {
    let header = [
        "HTTP".to_owned(),
        "PLUGIN".to_owned(),
        "METHODS".to_owned(),
        "URL".to_owned(),
        "CREDENTIAL".to_owned(),
    ];
    let mut rows = vec![header];
    for r in reports {
        let Ok(p) = &r.result else { continue };
        let Some(grant) = &p.manifest.http else { continue };
        for d in &grant.destinations {
            let methods: Vec<&str> = d.methods.iter().map(http::Method::as_str).collect();
            rows.push([
                d.name.clone(),
                p.manifest.namespace(),
                methods.join(","),
                d.url(),
                d.credential.kind().to_owned(),
            ]);
        }
    }
    if rows.len() > 1 {
        println!();
        print_table(&rows);
    }
}

fn print_plugins(reports: &[LoadReport]) {
    let mut rows = vec![["SOURCE".to_owned(), "PLUGIN".to_owned(), "SHA256".to_owned(), "STATUS".to_owned()]];
    for r in reports {
        rows.push(match &r.result {
            Ok(p) => [
                r.source.clone(),
                p.manifest.namespace(),
                p.sha256.chars().take(12).collect(),
                format!(
                    "ok, {} tool(s), {} resource(s), {} template(s), {} prompt(s), contract {}",
                    p.tools.len(),
                    p.resources.len(),
                    p.templates.len(),
                    p.prompts.len(),
                    p.contract_version().as_str()
                ),
            ],
            Err(e) => [r.source.clone(), "-".into(), "-".into(), format!("refused: {e}")],
        });
    }
    print_table(&rows);
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}

//! The soak run (`make soak`, not part of `make test`): mixed load from several callers for
//! `SOAK_SECS` (default 900) against the real binary, while the deployment is disturbed the way
//! production disturbs it, then a report: calls, errors by kind, p50/p99 per kind of call,
//! resident memory after warm-up and at the end, and whether every call is in the audit log.
//!
//! - Callers: two greet `sample.greet`, two query PostgreSQL through `sql.run_query` as two
//!   different users (`SELECT current_user`, checked against the caller: an answer as anyone
//!   else is an identity leak), each user with a token from a full login through the OIDC proxy,
//!   refreshed (the refresh-token grant, rotating) every 4 minutes as a client would before the
//!   5-minute access token expires.
//! - A full login (consent, IdP, callback, token) every 15 s: the proxy's state lives in a Redis
//!   this run starts itself (its own port), restarted at 2/3 of the run.
//! - A hot reload every 3 s (`orders` reinstalled), a PostgreSQL backend kill every 2 minutes,
//!   and an IdP signing-key rotation at 1/3 (later logins verify ID tokens with the new key).
//!
//! Errors within 10 s of a disturbance that explains them are counted as expected; any other
//! error, an identity leak, a call missing from the audit log or resident memory growing more
//! than 10% over the second half of the run fails it (exit code 1). The first half is warm-up:
//! every hot reload instantiates the new version once (to list its tools) in a pooling-allocator
//! slot that then keeps the pages it dirtied, so resident memory climbs until the pool's memory
//! slots have all been used once (`runtime.max_instances` × 2 of them, about 130 reloads) and
//! then stays flat; the timeline printed shows it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken set-up stops the run

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use warden_tests::oauth::{Balancer, Browser, Client, Step};
use warden_tests::{Idp, McpClient, PgFixture, Warden, call, free_port, install, text_of};

const AUDIENCE: &str = "https://api.warden.test/mcp";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";
const SCOPES: &str = "tool:greet tool:whoami sql:read sql:query";

/// What the run saw, shared by its tasks.
#[derive(Default)]
struct Tally {
    /// Latencies by kind of call, in microseconds.
    latencies: BTreeMap<&'static str, Vec<u64>>,
    /// Errors by kind: (expected, unexpected).
    errors: BTreeMap<String, (u64, u64)>,
    /// When the last disturbance of each kind happened.
    disturbed: BTreeMap<&'static str, Instant>,
    identity_leaks: u64,
}

impl Tally {
    fn ok(&mut self, kind: &'static str, took: Duration) {
        self.latencies.entry(kind).or_default().push(took.as_micros() as u64);
    }

    /// Records an error of `kind`; expected when one of `explained_by` happened in the last 10 s.
    fn error(&mut self, kind: &str, detail: &str, explained_by: &[&str]) {
        let expected = explained_by
            .iter()
            .any(|d| self.disturbed.get(d).is_some_and(|t| t.elapsed() < Duration::from_secs(10)));
        let entry = self.errors.entry(kind.to_owned()).or_default();
        if expected {
            entry.0 += 1;
        } else {
            if entry.1 < 5 {
                eprintln!("unexpected {kind} error: {detail}");
            }
            entry.1 += 1;
        }
    }

    fn disturb(&mut self, what: &'static str) {
        eprintln!("[{}] {what}", chrono_free_now());
        self.disturbed.insert(what, Instant::now());
    }
}

fn chrono_free_now() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// A Redis server of this run's own, on `port`, persisting to `dir` (an append-only file synced
/// on every write, as a deployment that keeps its OIDC state across restarts would run it).
fn start_redis(port: u16, dir: &std::path::Path) -> anyhow::Result<Child> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "yes", "--appendfsync", "always"])
        .args(["--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start redis-server")?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("redis-server did not listen on {port}")
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// A full login through Warden as `user`; returns the OAuth client and Warden's token response.
async fn login(base: &str, idp: &str, user: &str, password: &str) -> anyhow::Result<(Client, Value)> {
    let mut client = Client::register(base, REDIRECT).await?;
    let mut browser = Browser::new();
    let url = client.authorize_url("s", SCOPES);
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else {
        anyhow::bail!("no consent page")
    };
    let q = browser.approve_and_login(base, &fields, idp, user, password, REDIRECT).await?;
    let code = q.get("code").context("no code")?;
    let (status, body) = client.exchange(code, &client.verifier.clone()).await?;
    anyhow::ensure!(status == 200, "token: {status} {body}");
    Ok((client, body))
}

/// A user's MCP connection, replaced by the refresher with one on a fresh access token.
type Session = Arc<tokio::sync::RwLock<Arc<McpClient>>>;

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(900);
    let run_for = Duration::from_secs(secs);

    let pg = PgFixture::create()?;
    let redis_port = free_port();
    let redis_dir = tempfile::tempdir()?;
    let mut redis = start_redis(redis_port, redis_dir.path())?;
    let balancer = Balancer::start().await?;
    let users = [(pg.alice.clone(), "pw-alice-1"), (pg.bob.clone(), "pw-bob-1")];
    let idp = Idp::start(
        0,
        &[AUDIENCE],
        json!([{ "client_id": "warden-proxy", "client_secret": "proxy-secret", "permissions": [],
                 "redirect_uris": [format!("{}/auth/callback", balancer.url)], "grant_types": ["authorization_code"] }]),
        json!(users
            .iter()
            .map(|(u, pw)| json!({ "sub": format!("auth0|{u}"), "username": u, "email": format!("{u}@example.com"),
                                  "password": pw, "permissions": SCOPES.split(' ').collect::<Vec<_>>() }))
            .collect::<Vec<_>>()),
        3600,
    )?;
    let config = format!(
        "[server]\npublic_url = {:?}\n[auth]\nmode = \"oidc-proxy\"\n[oidc]\nissuer = {:?}\n\
         client_id = \"warden-proxy\"\nclient_secret = \"proxy-secret\"\naudience = {AUDIENCE:?}\n\
         [store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{redis_port}/0\"\nkey_prefix = \"soak\"\n\
         {}\n[limits]\ncaller_calls_per_s = 0\ncaller_concurrency = 0\nplugin_calls_per_s = 0\nplugin_concurrency = 0\n",
        balancer.url,
        idp.issuer,
        pg.warden_config("set-role", 4),
    );
    let warden = Warden::start(&config, |dir| {
        install(dir, "sample", "sample");
        install(dir, "sql", "sql");
        install(dir, "orders", "orders");
    })
    .await?;
    balancer.point_at(&warden.base_url);
    let base = balancer.url.clone();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    let mut sessions: Vec<Session> = Vec::new();
    for (user, password) in &users {
        let (oauth, body) = login(&base, &idp.issuer, user, password).await.context("first login")?;
        let token = body["access_token"].as_str().context("no access_token")?;
        let session: Session =
            Arc::new(tokio::sync::RwLock::new(Arc::new(warden.client_with_token(token).await?)));
        sessions.push(session.clone());
        // The refresher: a new access token (and refresh token) every 4 minutes.
        let (tally, http_warden) = (tally.clone(), warden.http.clone());
        let (mcp_url, mut refresh_token) =
            (warden.mcp_url(), body["refresh_token"].as_str().context("no refresh_token")?.to_owned());
        tasks.push(tokio::spawn(async move {
            while Instant::now() + Duration::from_secs(240) < deadline {
                tokio::time::sleep(Duration::from_secs(240)).await;
                let t = Instant::now();
                let refreshed = async {
                    let (status, body) = oauth.refresh(&refresh_token).await?;
                    anyhow::ensure!(status == 200, "refresh: {status} {body}");
                    let token = body["access_token"].as_str().context("no access_token")?;
                    let client =
                        warden_tests::connect_with(http_warden.clone(), &mcp_url, None, Some(token)).await?;
                    anyhow::Ok((client, body["refresh_token"].as_str().map(str::to_owned)))
                };
                match refreshed.await {
                    Ok((client, next)) => {
                        *session.write().await = Arc::new(client);
                        if let Some(next) = next {
                            refresh_token = next;
                        }
                        tally.lock().unwrap().ok("refresh", t.elapsed());
                    }
                    Err(e) => tally.lock().unwrap().error("refresh", &format!("{e:#}"), &["redis restart"]),
                }
            }
        }));
    }

    // The callers: two greeting, two querying as their own user.
    for (i, session) in sessions.iter().enumerate() {
        for kind in ["greet", "query"] {
            let (session, tally, expected_user) = (session.clone(), tally.clone(), users[i].0.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let client = session.read().await.clone();
                    if !caller(&client, kind, &expected_user, &tally).await {
                        // Not a hot loop while something is down.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
    }
    // A full login every 15 s, through the Redis-backed proxy.
    {
        let (tally, base, issuer, users) = (tally.clone(), base.clone(), idp.issuer.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                let (user, password) = &users[n % 2];
                let t = Instant::now();
                match login(&base, &issuer, user, password).await {
                    Ok(_) => tally.lock().unwrap().ok("login", t.elapsed()),
                    Err(e) => tally.lock().unwrap().error(
                        "login",
                        &format!("{e:#}"),
                        &["redis restart", "key rotation"],
                    ),
                }
                n += 1;
                tokio::time::sleep(Duration::from_secs(15)).await;
            }
        }));
    }
    // A hot reload every 3 s.
    {
        let (tally, dir) = (tally.clone(), warden.plugins_dir());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(3)).await;
                install(&dir, "orders", "orders");
                tally.lock().unwrap().disturbed.insert("reload", Instant::now());
            }
        }));
    }

    // The disturbances, and the memory samples (every 5 s).
    let mut rss_samples: Vec<(u64, u64)> = Vec::new();
    let (mut rotated, mut redis_restarted, mut last_kill) = (false, false, started);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let elapsed = started.elapsed();
        rss_samples.push((elapsed.as_secs(), rss_kib(warden.pid())));
        if !rotated && elapsed >= run_for / 3 {
            rotated = true;
            tally.lock().unwrap().disturb("key rotation");
            let kid = idp.rotate().await?;
            eprintln!("IdP now signs with {kid}");
        }
        if !redis_restarted && elapsed >= run_for * 2 / 3 {
            redis_restarted = true;
            tally.lock().unwrap().disturb("redis restart");
            let _ = redis.kill();
            let _ = redis.wait();
            tokio::time::sleep(Duration::from_secs(2)).await;
            redis = start_redis(redis_port, redis_dir.path())?;
            tally.lock().unwrap().disturb("redis restart");
        }
        if last_kill.elapsed() >= Duration::from_secs(120) {
            last_kill = Instant::now();
            tally.lock().unwrap().disturb("backend kill");
            pg.kill_connections()?;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_end = rss_kib(warden.pid());
    let _ = redis.kill();
    let _ = redis.wait();

    // The report.
    let tally = tally.lock().unwrap();
    let is_call = |k: &str| k.starts_with("greet") || k.starts_with("query");
    let calls: usize = tally.latencies.iter().filter(|(k, _)| is_call(k)).map(|(_, v)| v.len()).sum();
    let failed_calls: u64 = tally.errors.iter().filter(|(k, _)| is_call(k)).map(|(_, (a, b))| a + b).sum();
    println!("soak: {secs} s, warden {} (pid {})", warden.base_url, warden.pid());
    println!("{:<8} {:>9} {:>9} {:>9}", "kind", "ok", "p50 ms", "p99 ms");
    for (kind, latencies) in &tally.latencies {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        println!(
            "{kind:<8} {:>9} {:>9.2} {:>9.2}",
            sorted.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99)
        );
    }
    println!("errors by kind (expected after a disturbance / unexpected):");
    for (kind, (expected, unexpected)) in &tally.errors {
        println!("  {kind:<40} {expected:>6} / {unexpected}");
    }
    let unexpected: u64 = tally.errors.values().map(|(_, u)| u).sum();
    let audit = warden.tool_calls_logged();
    let attempted = calls as u64 + failed_calls;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let at = |secs: u64| rss_samples.iter().find(|(t, _)| *t >= secs).map_or(rss_end, |(_, r)| *r);
    let rss_first = rss_samples.first().map_or(0, |(_, r)| *r);
    let rss_start = at(secs / 2);
    let growth = 100.0 * (rss_end as f64 - rss_start as f64) / rss_start.max(1) as f64;
    let peak = rss_samples.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let timeline: Vec<String> = (0..=10).map(|i| format!("{:.0}", mib(at(secs * i / 10)))).collect();
    println!("resident memory (MiB) at each tenth of the run: {}", timeline.join(" "));
    println!("identity leaks: {}", tally.identity_leaks);
    println!("tool calls: {attempted} made, {audit} in the audit log");
    println!(
        "resident memory: {:.1} MiB at the first sample, {:.1} MiB at half time, {:.1} MiB at the end \
         ({growth:+.1}% over the second half), peak {:.1} MiB",
        mib(rss_first),
        mib(rss_start),
        mib(rss_end),
        mib(peak)
    );
    let log = warden.log();
    let panics = log.matches("panicked").count();
    println!("panics in the log: {panics}");
    let passed = unexpected == 0
        && tally.identity_leaks == 0
        && audit as u64 >= attempted
        && growth <= 10.0
        && panics == 0;
    println!("{}", if passed { "soak passed" } else { "soak FAILED" });
    drop(tally);
    drop(sessions);
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

/// One call of `kind` by `client`, recorded in `tally`; false if it failed.
async fn caller(client: &McpClient, kind: &'static str, expected_user: &str, tally: &Mutex<Tally>) -> bool {
    let t = Instant::now();
    let result = match kind {
        "greet" => call(client, "sample.greet", json!({ "name": "soak" })).await,
        _ => call(client, "sql.run_query", json!({ "sql": "SELECT current_user", "params": [] })).await,
    };
    let took = t.elapsed();
    let mut tally = tally.lock().unwrap();
    match result {
        Ok(r) if r.is_error != Some(true) => {
            if kind == "query" {
                let table: Value = r
                    .structured_content
                    .clone()
                    .unwrap_or_else(|| serde_json::from_str(&text_of(&r)).unwrap_or_default());
                let acting = table["rows"][0][0].as_str().unwrap_or_default().to_owned();
                if acting != expected_user {
                    eprintln!("IDENTITY LEAK: {expected_user}'s query ran as {acting:?}");
                    tally.identity_leaks += 1;
                }
            }
            tally.ok(kind, took);
            true
        }
        Ok(r) => {
            let text = text_of(&r);
            let what = if text.contains("unavailable") || text.contains("connection") {
                "database unavailable"
            } else if text.contains("timeout") || text.contains("timed out") {
                "timeout"
            } else {
                "tool error"
            };
            tally.error(&format!("{kind}: {what}"), &text, &["backend kill"]);
            false
        }
        Err(e) => {
            tally.error(&format!("{kind}: transport"), &e.to_string(), &[]);
            false
        }
    }
}

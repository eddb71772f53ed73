//! Logins per second through Warden's OIDC proxy, against the same login done directly at the
//! IdP, side by side in one run (`make bench-login`).
//!
//! One login through Warden: `/authorize` -> consent page -> consent POST -> IdP `/auth` -> IdP
//! login form POST -> Warden's callback (upstream code exchange, ID and access token checks,
//! sealed store writes) -> the client's redirect URI -> `/token` (PKCE, Warden token signed).
//! The direct login is the IdP part alone: `/auth` -> login form POST -> code -> IdP `/token`.
//! Both run `CONCURRENCY` browsers at once for `LOGINS` logins each; the IdP is on loopback.
//!
//! Environment: `LOGINS` (default 40), `CONCURRENCY` (default 4), `WARDEN_BIN` (the binary to
//! measure; `make bench-login` builds and passes the release one), `STORE` (`embedded` or
//! `redis`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken set-up stops the test

use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use warden_tests::oauth::{Balancer, Browser, Client, Step, challenge_of};
use warden_tests::{Idp, Warden, install};

const AUDIENCE: &str = "https://api.warden.test/mcp";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn through_warden(base: &str, idp: &str, client: &mut Client) -> anyhow::Result<()> {
    let mut browser = Browser::new();
    let url = client.authorize_url("s", "tool:whoami");
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else {
        anyhow::bail!("no consent page")
    };
    let q = browser.approve_and_login(base, &fields, idp, "alice", "pw-alice-1", REDIRECT).await?;
    let code = q.get("code").context("no code")?;
    let (status, body) = client.exchange(code, &client.verifier.clone()).await?;
    anyhow::ensure!(status == 200, "token: {status} {body}");
    Ok(())
}

async fn direct(idp: &str, n: usize) -> anyhow::Result<()> {
    let mut browser = Browser::new();
    let verifier = format!("direct-verifier-{n:08}-0123456789abcdefghijklmnopqrstuvwxyz");
    let mut url = reqwest::Url::parse(&format!("{idp}/auth"))?;
    url.query_pairs_mut()
        .append_pair("client_id", "direct")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("audience", AUDIENCE)
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge_of(&verifier))
        .append_pair("code_challenge_method", "S256");
    let q = browser.login_at_idp(url.as_str(), idp, "alice", "pw-alice-1", REDIRECT).await?;
    let code = q.get("code").context("no code")?;
    let response = reqwest::Client::new()
        .post(format!("{idp}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", "direct"),
            ("client_secret", "direct-secret"),
        ])
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "IdP token: {}", response.text().await?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (logins, concurrency) = (env("LOGINS", 40), env("CONCURRENCY", 4));
    let store = std::env::var("STORE").unwrap_or_else(|_| "embedded".into());
    let balancer = Balancer::start().await?;
    let idp = Idp::start(
        0,
        &[AUDIENCE],
        json!([
            { "client_id": "warden-proxy", "client_secret": "proxy-secret", "permissions": [],
              "redirect_uris": [format!("{}/auth/callback", balancer.url)], "grant_types": ["authorization_code"] },
            { "client_id": "direct", "client_secret": "direct-secret", "permissions": [],
              "redirect_uris": [REDIRECT], "grant_types": ["authorization_code"] },
        ]),
        json!([{ "sub": "auth0|alice", "username": "alice", "email": "alice@example.com",
                 "password": "pw-alice-1", "permissions": ["tool:whoami"] }]),
        300,
    )?;
    let store_config = if store == "redis" {
        format!(
            "\n[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nkey_prefix = \"warden-bench-{}\"\n",
            std::process::id()
        )
    } else {
        String::new()
    };
    let config = format!(
        "[server]\npublic_url = {:?}\n[auth]\nmode = \"oidc-proxy\"\n[audit]\nenabled = false\n[oidc]\nissuer = {:?}\n\
         client_id = \"warden-proxy\"\nclient_secret = \"proxy-secret\"\naudience = {AUDIENCE:?}\n{store_config}",
        balancer.url, idp.issuer
    );
    let warden = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    balancer.point_at(&warden.base_url);
    let base = balancer.url.clone();
    // One warm-up login each way (discovery, JWKS, connection set-up).
    let mut warm = Client::register(&base, REDIRECT).await?;
    through_warden(&base, &idp.issuer, &mut warm).await?;
    direct(&idp.issuer, 0).await?;

    let per_task = logins.div_ceil(concurrency);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (base, issuer) = (base.clone(), idp.issuer.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::register(&base, REDIRECT).await?;
            for _ in 0..per_task {
                through_warden(&base, &issuer, &mut client).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let warden_rate = (per_task * concurrency) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let issuer = idp.issuer.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                direct(&issuer, t * 1000 + i + 1).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let direct_rate = (per_task * concurrency) as f64 / started.elapsed().as_secs_f64();

    println!("logins: {} x {concurrency} concurrent, store {store}", per_task * concurrency);
    println!("through Warden (consent + IdP + callback + token): {warden_rate:8.1} logins/s");
    println!("directly at the IdP (IdP login + token):            {direct_rate:8.1} logins/s");
    println!("Warden's whole flow runs at {:.0}% of the IdP-only rate", 100.0 * warden_rate / direct_rate);
    if store == "redis" {
        // Leave nothing behind in the shared Redis.
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "redis-cli --scan --pattern 'warden-bench-{}:*' | xargs -r redis-cli del >/dev/null",
                std::process::id()
            ))
            .status();
    }
    Ok(())
}

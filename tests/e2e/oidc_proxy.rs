//! The OIDC proxy end to end, with real parts only: the test IdP (npm `oidc-provider`, set up
//! like an Auth0 tenant: `audience`, `permissions`, a login form), real Redis, Warden replicas
//! behind a TCP balancer, and the official MCP TypeScript SDK as the client.
//!
//! - Two replicas sharing Redis: the SDK logs in through replica 1, calls tools and refreshes
//!   through replica 2; a restart keeps its registration and tokens.
//! - The embedded store with one replica: the same flow, and a restart.
//! - Refusals, each with nothing issued: unregistered redirect URI, code replay, PKCE mismatch,
//!   tampered state, consent without CSRF token or cookie, expired transaction, refresh reuse
//!   after the grace window, a metadata-document client id on a private address.

use std::net::TcpListener as StdListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use warden_tests::oauth::{Balancer, Browser, Client, Step};
use warden_tests::{Idp, Warden, install, repo_root};

const AUDIENCE: &str = "https://api.warden.test/mcp";
const IDP_CLIENT: &str = "warden-proxy";
const IDP_SECRET: &str = "proxy-secret-7f3a";
const USER: &str = "alice";
const PASSWORD: &str = "alice-pw-1";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";

/// The test IdP with Warden registered as a confidential client calling back to `public_url`.
fn idp_for(public_url: &str) -> anyhow::Result<Idp> {
    idp_with_ttl(public_url, 300)
}

/// Like [`idp_for`], with upstream access tokens living `ttl_s`.
fn idp_with_ttl(public_url: &str, ttl_s: u64) -> anyhow::Result<Idp> {
    Idp::start(
        0,
        &[AUDIENCE],
        json!([{
            "client_id": IDP_CLIENT,
            "client_secret": IDP_SECRET,
            "permissions": [],
            "redirect_uris": [format!("{public_url}/auth/callback")],
            "grant_types": ["authorization_code"],
        }]),
        json!([{
            "sub": "auth0|alice-1",
            "username": USER,
            "email": "alice@example.com",
            "password": PASSWORD,
            "permissions": ["tool:whoami", "tool:greet"],
        }]),
        ttl_s,
    )
}

/// Warden's config for the proxy in front of `idp` at `public_url`, plus `extra`.
fn proxy_config(idp: &Idp, public_url: &str, extra: &str) -> String {
    format!(
        "[server]\npublic_url = {public_url:?}\n\n[auth]\nmode = \"oidc-proxy\"\n\n\
         [oidc]\nissuer = {issuer:?}\nclient_id = {IDP_CLIENT:?}\nclient_secret = {IDP_SECRET:?}\n\
         audience = {AUDIENCE:?}\n{extra}\n",
        issuer = idp.issuer,
    )
}

/// A fresh Redis key prefix, so runs never see each other's state.
fn redis_prefix() -> String {
    format!(
        "warden-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    )
}

/// Deletes every Redis key under `prefix`.
fn redis_cleanup(prefix: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli del >/dev/null 2>&1"))
        .status();
}

/// Runs `tests/mcp-client-ts/oauth-client.mjs` (the official TS SDK with a headless browser).
/// Async, so the balancer keeps running on this test's runtime meanwhile.
async fn ts_oauth(
    mode: &str,
    mcp_url: &str,
    state_file: &std::path::Path,
    tool: Option<&str>,
) -> anyhow::Result<Value> {
    let dir = repo_root().join("tests").join("mcp-client-ts");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(dir.join("oauth-client.mjs"))
        .env("MODE", mode)
        .env("MCP_URL", mcp_url)
        .env("STATE_FILE", state_file)
        .env("IDP_USER", USER)
        .env("IDP_PASSWORD", PASSWORD)
        .env("REDIRECT_URI", REDIRECT);
    if let Some(tool) = tool {
        command.env("TOOL", tool).env("ARGS", "{}");
    }
    let out = command.output().await.context("run node")?;
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .with_context(|| format!("TS client output: {line}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn saved_refresh_token(state_file: &std::path::Path) -> String {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(state_file).unwrap_or_default()).unwrap_or_default();
    state["tokens"]["refresh_token"].as_str().unwrap_or_default().to_owned()
}

fn assert_whoami(report: &Value, context: &str) {
    assert!(report["error"].is_null(), "{context}: {report}");
    let text = report["result"]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("auth0|alice-1"), "{context}: the tool must see the IdP's user: {text}");
    let tools: Vec<&str> =
        report["tools"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    assert!(tools.contains(&"sample.whoami") && tools.contains(&"sample.greet"), "{context}: {tools:?}");
}

#[tokio::test]
async fn the_typescript_sdk_logs_in_through_one_replica_and_works_through_another() -> anyhow::Result<()> {
    let balancer = Balancer::start().await?;
    let idp = idp_for(&balancer.url)?;
    let prefix = redis_prefix();
    let keys = tempfile::tempdir()?;
    let extra = format!(
        "keys_dir = {:?}\n\n[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nkey_prefix = {prefix:?}\n",
        keys.path()
    );
    let config = proxy_config(&idp, &balancer.url, &extra);
    // Replica 1 creates the shared keys; replica 2 starts after it and reads them.
    let mut one = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    let mut two = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    let state = tempfile::NamedTempFile::new()?;
    std::fs::remove_file(state.path())?;
    let mcp = format!("{}/mcp", balancer.url);

    balancer.point_at(&one.base_url);
    let login = ts_oauth("login", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&login, "login through replica 1");
    assert!(audited(&one, |e| e["event"] == "login.completed" && e["subject"] == "auth0|alice-1").await);
    assert!(!two.audit().iter().any(|e| e["event"] == "login.completed"), "replica 2 saw no login");
    assert_eq!(login["logins"], 1, "{login}");
    assert_eq!(login["refreshToken"], true, "{login}");

    balancer.point_at(&two.base_url);
    let reuse = ts_oauth("reuse", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&reuse, "the token from replica 1, used on replica 2");
    let first_refresh = saved_refresh_token(state.path());
    let refresh = ts_oauth("refresh", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&refresh, "refresh through replica 2");
    assert_eq!(refresh["logins"], 0, "a refresh must not need a browser: {refresh}");
    assert_ne!(saved_refresh_token(state.path()), first_refresh, "the refresh token rotates");
    assert!(audited(&two, |e| e["event"] == "token.refreshed").await, "replica 2 did the refresh");

    // Restarting both replicas loses neither the registration nor the tokens.
    one.restart().await?;
    two.restart().await?;
    balancer.point_at(&one.base_url);
    let after = ts_oauth("reuse", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&after, "after a restart");
    let refreshed = ts_oauth("refresh", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&refreshed, "refresh after a restart");
    assert_eq!(refreshed["logins"], 0, "{refreshed}");

    // Nothing secret is stored in the clear: no upstream or Warden token appears in Redis.
    let dump = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "redis-cli --scan --pattern '{prefix}:*' | while read k; do redis-cli --raw get \"$k\"; done"
        ))
        .output()?;
    let dump = String::from_utf8_lossy(&dump.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(state.path())?)?;
    for token in [&saved["tokens"]["access_token"], &saved["tokens"]["refresh_token"]] {
        let token = token.as_str().unwrap_or("missing");
        assert!(!dump.contains(token), "a token is stored in the clear");
    }
    assert!(!dump.contains("alice@example.com"), "user claims are stored in the clear");
    redis_cleanup(&prefix);
    Ok(())
}

#[tokio::test]
async fn the_embedded_store_serves_one_replica_and_survives_a_restart() -> anyhow::Result<()> {
    let balancer = Balancer::start().await?;
    let idp = idp_for(&balancer.url)?;
    let config = proxy_config(&idp, &balancer.url, "");
    let mut warden = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    balancer.point_at(&warden.base_url);
    let state = tempfile::NamedTempFile::new()?;
    std::fs::remove_file(state.path())?;
    let mcp = format!("{}/mcp", balancer.url);

    let login = ts_oauth("login", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&login, "login");
    warden.restart().await?;
    balancer.point_at(&warden.base_url);
    let reuse = ts_oauth("reuse", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&reuse, "the token after a restart");
    let refresh = ts_oauth("refresh", &mcp, state.path(), Some("sample.whoami")).await?;
    assert_whoami(&refresh, "refresh after a restart (the registration and family survived)");
    assert_eq!(refresh["logins"], 0, "{refresh}");
    assert!(warden.root.path().join("data").join("state.redb").exists());
    Ok(())
}

/// Waits (up to 5 s) for an audit line matching `pred`: the audit log is written by its own
/// thread, a moment after the request is answered.
async fn audited(warden: &Warden, pred: impl Fn(&Value) -> bool) -> bool {
    warden_tests::eventually(Duration::from_secs(5), || {
        let found = warden.audit().iter().any(&pred);
        async move { found }
    })
    .await
}

/// Runs a login of `client` in `browser` at Warden's `base` (consent approved, the IdP login as
/// alice at `idp`) up to the query the client's redirect URI receives.
async fn login_as(
    client: &mut Client,
    browser: &mut Browser,
    base: &str,
    idp: &str,
    state: &str,
    scope: &str,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let url = client.authorize_url(state, scope);
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else {
        anyhow::bail!("no consent page")
    };
    browser.approve_and_login(base, &fields, idp, USER, PASSWORD, REDIRECT).await
}

/// One replica on the embedded store, for the refusal tests.
struct Proxy {
    balancer: Balancer,
    idp: Idp,
    warden: Warden,
    base: String,
}

async fn proxy(extra: &str) -> anyhow::Result<Proxy> {
    proxy_with_ttl(extra, 300).await
}

async fn proxy_with_ttl(extra: &str, upstream_ttl_s: u64) -> anyhow::Result<Proxy> {
    let balancer = Balancer::start().await?;
    let idp = idp_with_ttl(&balancer.url, upstream_ttl_s)?;
    let config = proxy_config(&idp, &balancer.url, extra);
    let warden = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    balancer.point_at(&warden.base_url);
    let base = balancer.url.clone();
    Ok(Proxy { balancer, idp, warden, base })
}

impl Proxy {
    /// Runs a login to the point where the client's redirect URI receives its query.
    async fn login(
        &self,
        client: &mut Client,
        browser: &mut Browser,
    ) -> anyhow::Result<std::collections::HashMap<String, String>> {
        login_as(client, browser, &self.base, &self.idp.issuer, "st-1", "tool:whoami tool:greet").await
    }

    /// True if, once the refusal is in the audit log, it holds no issued or refreshed token.
    async fn nothing_issued(&self) -> bool {
        let refused = |e: &Value| e["event"].as_str().is_some_and(|s| s.ends_with(".refused"));
        audited(&self.warden, refused).await
            && !self
                .warden
                .audit()
                .iter()
                .any(|e| e["event"] == "token.issued" || e["event"] == "token.refreshed")
    }
}

#[tokio::test]
async fn a_full_login_issues_warden_tokens_that_carry_the_users_permissions() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = p.login(&mut client, &mut browser).await?;
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    assert_eq!(q.get("iss"), Some(&p.base), "RFC 9207 iss");
    let (status, tokens) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let claims = decode_payload(access);
    assert_eq!(claims["iss"], p.base.as_str());
    assert_eq!(claims["aud"], format!("{}/mcp", p.base));
    assert_eq!(claims["sub"], "auth0|alice-1");
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(claims["scope"], "tool:greet tool:whoami");
    assert_eq!(claims["email"], "alice@example.com");
    // The upstream token is not what the client got.
    let header = decode_header(access);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    // Warden's JWKS verifies it; the metadata advertises S256 only and iss in responses.
    let meta: Value =
        reqwest::get(format!("{}/.well-known/oauth-authorization-server", p.base)).await?.json().await?;
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let oidc: Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", p.base)).await?.json().await?;
    assert_eq!(oidc["issuer"], meta["issuer"]);
    let prm: Value =
        reqwest::get(format!("{}/.well-known/oauth-protected-resource/mcp", p.base)).await?.json().await?;
    assert_eq!(prm["authorization_servers"], json!([p.base]));
    // The token works on /mcp; the tool sees the user.
    let mcp = p.warden.client_with_token(access).await?;
    let result = warden_tests::call(&mcp, "sample.whoami", json!({})).await?;
    assert!(warden_tests::text_of(&result).contains("alice"), "{}", warden_tests::text_of(&result));
    // A scope the client did not ask for is not granted even if the user holds it.
    let mut narrow = Client::register(&p.base, REDIRECT).await?;
    let q = login_as(&mut narrow, &mut browser, &p.base, &p.idp.issuer, "st-2", "tool:whoami").await?;
    let (_, tokens) = narrow.exchange(&q["code"], &narrow.verifier.clone()).await?;
    assert_eq!(decode_payload(tokens["access_token"].as_str().unwrap_or_default())["scope"], "tool:whoami");
    // Revoking the refresh token ends the login.
    let rt = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", p.base))
        .form(&[("token", rt.as_str()), ("client_id", narrow.client_id.as_str())])
        .send()
        .await?;
    assert_eq!(revoked.status().as_u16(), 200);
    let (status, body) = narrow.refresh(&rt).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    Ok(())
}

fn decode_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn decode_payload(token: &str) -> Value {
    decode_part(token, 1)
}

fn decode_header(token: &str) -> Value {
    decode_part(token, 0)
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    for evil in
        ["https://attacker.example/cb", "http://127.0.0.1:53682/other", "http://127.0.0.1:53682/callback#x"]
    {
        client.redirect_uri = evil.to_owned();
        let page = browser.get(&client.authorize_url("s", "tool:whoami")).await?;
        assert_eq!(page.status, 400, "{evil}");
        assert!(page.location.is_none(), "{evil} must not be redirected to");
        assert_eq!(page.headers["x-frame-options"], "DENY");
    }
    // An unknown client: the same.
    let page = browser
        .get(&format!("{}/authorize?client_id=nobody&redirect_uri={REDIRECT}&response_type=code", p.base))
        .await?;
    assert_eq!((page.status, page.location.is_some()), (400, false));
    // A registration with a dangerous redirect URI is refused outright.
    let reg = reqwest::Client::new()
        .post(format!("{}/register", p.base))
        .json(&json!({"redirect_uris": ["javascript:alert(1)"], "token_endpoint_auth_method": "none"}))
        .send()
        .await?;
    assert_eq!(reg.status().as_u16(), 400);
    assert_eq!(reg.json::<Value>().await?["error"], "invalid_redirect_uri");
    assert!(p.nothing_issued().await);
    Ok(())
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = p.login(&mut client, &mut browser).await?;
    let verifier = client.verifier.clone();
    let (status, first) = client.exchange(&q["code"], &verifier).await?;
    assert_eq!(status, 200, "{first}");
    let (status, replay) = client.exchange(&q["code"], &verifier).await?;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")), "{replay}");
    assert!(replay.get("access_token").is_none());
    let (status, refreshed) = client.refresh(first["refresh_token"].as_str().unwrap_or_default()).await?;
    assert_eq!(
        (status, refreshed["error"].as_str()),
        (400, Some("invalid_grant")),
        "the first exchange's tokens are revoked"
    );
    assert!(audited(&p.warden, |e| e["event"] == "token.refused" && e["outcome"] == "code_replay").await);
    Ok(())
}

#[tokio::test]
async fn a_pkce_mismatch_is_refused_and_burns_the_code() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = p.login(&mut client, &mut browser).await?;
    let wrong = "w".repeat(43);
    let (status, body) = client.exchange(&q["code"], &wrong).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    assert_eq!(status, 400, "the code is gone after a failed attempt: {body}");
    assert!(p.nothing_issued().await);
    Ok(())
}

#[tokio::test]
async fn a_tampered_state_at_the_callback_is_refused() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let url = client.authorize_url("st", "tool:whoami");
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else { anyhow::bail!("no consent") };
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.push(("decision", "approve"));
    let to_idp =
        browser.post(&format!("{}/consent", p.base), &form).await?.location.context("no redirect")?;
    // Log in at the IdP, but stop at Warden's callback.
    let callback = format!("{}/auth/callback", p.base);
    let Step::IdpLogin(action) = browser.advance(&to_idp, &callback).await? else {
        anyhow::bail!("no IdP login")
    };
    let action = reqwest::Url::parse(&p.idp.issuer)?.join(&action)?.to_string();
    let next =
        browser.post(&action, &[("login", USER), ("password", PASSWORD)]).await?.location.context("login")?;
    let Ok(callback_url) = browser.follow_until(&next, &callback).await? else {
        anyhow::bail!("no callback")
    };
    let state = warden_tests::oauth::query_of(&callback_url)["state"].clone();
    let tampered = callback_url.replace(&state, &format!("{state}x"));
    let page = browser.get(&tampered).await?;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "a tampered state must not redirect anywhere");
    // Without the browser's cookie, the genuine callback is refused too, and it is then spent.
    let mut other_browser = Browser::new();
    let page = other_browser.get(&callback_url).await?;
    assert_eq!((page.status, page.location.is_none()), (403, true));
    let page = browser.get(&callback_url).await?;
    assert_eq!((page.status, page.location.is_none()), (400, true));
    assert!(p.nothing_issued().await);
    assert!(!p.warden.audit().iter().any(|e| e["event"] == "login.completed"), "no login completed");
    Ok(())
}

#[tokio::test]
async fn consent_needs_both_the_csrf_token_and_the_cookie_and_expires() -> anyhow::Result<()> {
    let p = proxy("transaction_ttl_s = 3\n").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let url = client.authorize_url("st", "tool:whoami");
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else { anyhow::bail!("no consent") };
    // A repeated GET shows the same CSRF token.
    let again = browser.get(&format!("{}/consent?txn={}", p.base, fields["txn"])).await?;
    assert_eq!(warden_tests::oauth::form_fields(&again.body).1["csrf"], fields["csrf"]);
    assert_eq!(again.headers["x-frame-options"], "DENY");
    assert!(again.headers["content-security-policy"].to_str()?.contains("frame-ancestors 'none'"));
    let consent = format!("{}/consent", p.base);
    let txn = fields["txn"].as_str();
    // No CSRF token, a wrong one: refused.
    for form in [
        vec![("txn", txn), ("decision", "approve")],
        vec![("txn", txn), ("csrf", "forged"), ("decision", "approve")],
    ] {
        let page = browser.post(&consent, &form).await?;
        assert_eq!((page.status, page.location.is_none()), (403, true), "{}", page.body);
    }
    // The right token from another browser (no cookie): refused.
    let mut attacker = Browser::new();
    let page = attacker
        .post(&consent, &[("txn", txn), ("csrf", fields["csrf"].as_str()), ("decision", "approve")])
        .await?;
    assert_eq!((page.status, page.location.is_none()), (403, true));
    // Once the transaction expires, even the right form from the right browser is refused.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let page = browser
        .post(&consent, &[("txn", txn), ("csrf", fields["csrf"].as_str()), ("decision", "approve")])
        .await?;
    assert_eq!((page.status, page.location.is_none()), (400, true), "{}", page.body);
    assert!(p.nothing_issued().await);
    Ok(())
}

#[tokio::test]
async fn a_refresh_retried_within_the_grace_window_gets_the_same_pair_and_later_reuse_revokes_the_family()
-> anyhow::Result<()> {
    let p = proxy("refresh_grace_s = 2\n").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = p.login(&mut client, &mut browser).await?;
    let (_, tokens) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    let rt1 = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let (status, pair) = client.refresh(&rt1).await?;
    assert_eq!(status, 200, "{pair}");
    let (status, retry) = client.refresh(&rt1).await?;
    assert_eq!(status, 200, "a retry within the grace window: {retry}");
    assert_eq!(retry["refresh_token"], pair["refresh_token"]);
    assert_eq!(retry["access_token"], pair["access_token"]);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, reuse) = client.refresh(&rt1).await?;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")), "{reuse}");
    let rt2 = pair["refresh_token"].as_str().unwrap_or_default();
    let (status, after) = client.refresh(rt2).await?;
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "the family is revoked: {after}"
    );
    assert!(audited(&p.warden, |e| e["outcome"] == "refresh_reuse").await);
    Ok(())
}

#[tokio::test]
async fn a_metadata_document_on_a_private_address_is_never_fetched() -> anyhow::Result<()> {
    let p = proxy("").await?;
    // Something listens there, counting connections: none may arrive.
    let listener = StdListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let watcher = std::thread::spawn(move || {
        for _ in 0..40 {
            if listener.accept().is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut browser = Browser::new();
    for client_id in
        [format!("https://127.0.0.1:{port}/client.json"), format!("https://localhost:{port}/client.json")]
    {
        let url = format!(
            "{}/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&code_challenge={}&code_challenge_method=S256",
            p.base,
            urlencode(&client_id),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let page = browser.get(&url).await?;
        assert_eq!((page.status, page.location.is_none()), (400, true), "{client_id}");
        assert!(page.body.contains("non-public address"), "{}", page.body);
    }
    let _ = watcher.join();
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "Warden connected to a private address");
    assert!(audited(&p.warden, |e| e["outcome"] == "client_metadata_document").await);
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn misconfigurations_from_seed_000_are_refused_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[server]\nbind = \"0.0.0.0:8443\"\npublic_url = \"http://mcp.example.com/auth/callback\"\n\
         [auth]\nmode = \"oidc-proxy\"\n[oidc]\ndomain = \"tenant.us.auth0.com\"\nclient_id = \"abc\"\n",
    )?;
    let out =
        Command::new(warden_tests::warden_binary()).args(["check", "--config"]).arg(&config).output()?;
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    for expected in ["oidc.client_secret", "oidc.audience", "must be https", "callback path"] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    // Impersonating database users needs a user name from the IdP.
    std::fs::write(
        &config,
        "[auth]\nmode = \"oidc-proxy\"\n[oidc]\nissuer = \"https://idp.example.com/\"\nclient_id = \"a\"\n\
         client_secret = \"b\"\nscopes = [\"openid\"]\n[database]\nimpersonation = \"set-role\"\n",
    )?;
    let out =
        Command::new(warden_tests::warden_binary()).args(["check", "--config"]).arg(&config).output()?;
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && text.contains("Could not extract username"), "{text}");
    // Partial settings: [oidc] present but another mode.
    std::fs::write(&config, "[auth]\nmode = \"local\"\n[oidc]\nclient_id = \"abc\"\n")?;
    let out =
        Command::new(warden_tests::warden_binary()).args(["check", "--config"]).arg(&config).output()?;
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && text.contains("partial OAuth settings"), "{text}");
    Ok(())
}

#[tokio::test]
async fn refreshing_goes_upstream_and_an_idp_outage_keeps_the_session() -> anyhow::Result<()> {
    // Upstream access tokens live 1 s, so every Warden refresh must refresh upstream first.
    let Proxy { balancer: _balancer, idp, warden, base } = proxy_with_ttl("", 1).await?;
    let p_base = base.clone();
    let mut client = Client::register(&p_base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = login_as(&mut client, &mut browser, &p_base, &idp.issuer, "st", "tool:whoami").await?;
    let (_, tokens) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, refreshed) = client.refresh(tokens["refresh_token"].as_str().unwrap_or_default()).await?;
    assert_eq!(status, 200, "{refreshed}");
    assert!(
        audited(&warden, |e| e["event"] == "token.refreshed"
            && e["reason"] == "upstream tokens refreshed at the IdP")
        .await,
        "the refresh went to the IdP"
    );
    let mcp = warden.client_with_token(refreshed["access_token"].as_str().unwrap_or_default()).await?;
    let result = warden_tests::call(&mcp, "sample.whoami", json!({})).await?;
    assert!(warden_tests::text_of(&result).contains("alice"));
    // The IdP goes away: the refresh is "temporarily unavailable" (503), not invalid_grant, and the
    // refresh token survives for a retry.
    drop(idp);
    let rt = refreshed["refresh_token"].as_str().unwrap_or_default().to_owned();
    for attempt in 0..2 {
        let (status, body) = client.refresh(&rt).await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("temporarily_unavailable")),
            "attempt {attempt}: {body}"
        );
        assert!(!body.to_string().contains("connection"), "no internal detail leaks: {body}");
    }
    Ok(())
}

#[tokio::test]
async fn remembered_consent_skips_the_page_for_that_browser_and_client_only() -> anyhow::Result<()> {
    let p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let url = client.authorize_url("st", "tool:whoami");
    let Step::Consent(mut fields) = browser.advance(&url, REDIRECT).await? else {
        anyhow::bail!("no consent")
    };
    fields.insert("remember".into(), "1".into());
    let q = browser.approve_and_login(&p.base, &fields, &p.idp.issuer, USER, PASSWORD, REDIRECT).await?;
    assert!(q.contains_key("code"), "{q:?}");
    // Again, same browser and client: straight to the IdP (no consent page), and a code.
    let url = client.authorize_url("st2", "tool:whoami");
    let q = match browser.advance(&url, REDIRECT).await? {
        Step::Consent(_) => anyhow::bail!("consent was remembered, yet shown again"),
        Step::IdpLogin(_) => browser.login_at_idp(&url, &p.idp.issuer, USER, PASSWORD, REDIRECT).await?,
        Step::Redirected(q) => q,
        Step::Other(page) => anyhow::bail!("{} {}", page.status, page.body),
    };
    let (status, body) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    assert_eq!(status, 200, "{body}");
    // Another client, or another browser: consent is asked.
    let mut other = Client::register(&p.base, REDIRECT).await?;
    assert!(matches!(
        browser.advance(&other.authorize_url("s", "tool:whoami"), REDIRECT).await?,
        Step::Consent(_)
    ));
    let mut fresh = Browser::new();
    assert!(matches!(
        fresh.advance(&client.authorize_url("s", "tool:whoami"), REDIRECT).await?,
        Step::Consent(_)
    ));
    Ok(())
}

#[tokio::test]
async fn a_preregistered_confidential_client_must_authenticate_with_its_secret() -> anyhow::Result<()> {
    let p = proxy(&format!(
        "\n[[oidc.clients]]\nclient_id = \"static-app\"\nclient_name = \"Static App\"\nredirect_uris = [{REDIRECT:?}]\nclient_secret = \"s3cret-static\"\n"
    ))
    .await?;
    let mut client = Client::preregistered(&p.base, "static-app", REDIRECT);
    let mut browser = Browser::new();
    let q = login_as(&mut client, &mut browser, &p.base, &p.idp.issuer, "st", "tool:whoami").await?;
    let exchange = |secret: Option<&'static str>| {
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", q["code"].clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", client.verifier.clone()),
        ];
        let request = reqwest::Client::new().post(format!("{}/token", p.base)).form(&form);
        match secret {
            Some(s) => request.basic_auth("static-app", Some(s)),
            None => request.basic_auth("static-app", None::<&str>),
        }
        .send()
    };
    for wrong in [Some("wrong"), None] {
        let response = exchange(wrong).await?;
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(response.json::<Value>().await?["error"], "invalid_client");
    }
    let response = exchange(Some("s3cret-static")).await?;
    assert_eq!(response.status().as_u16(), 200, "the code survives failed client authentication");
    assert!(response.json::<Value>().await?["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn anonymous_registration_is_rate_limited() -> anyhow::Result<()> {
    let p = proxy("registrations_per_minute = 2\n").await?;
    Client::register(&p.base, REDIRECT).await?;
    Client::register(&p.base, REDIRECT).await?;
    let third = reqwest::Client::new()
        .post(format!("{}/register", p.base))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await?;
    assert_eq!(third.status().as_u16(), 429);
    assert_eq!(third.headers()["retry-after"], "60");
    let registered = |w: &Warden| w.audit().iter().filter(|e| e["event"] == "client.registered").count();
    warden_tests::eventually(Duration::from_secs(5), || {
        let n = registered(&p.warden);
        async move { n >= 2 }
    })
    .await;
    assert_eq!(registered(&p.warden), 2, "the refused registration stored nothing");
    Ok(())
}

#[tokio::test]
async fn an_idp_refusing_the_code_exchange_is_logged_with_the_fix_and_not_shown_to_the_client()
-> anyhow::Result<()> {
    let balancer = Balancer::start().await?;
    let idp = idp_for(&balancer.url)?;
    // Seed 000's "invalid_client" row: the secret configured for Warden is wrong.
    let config = proxy_config(&idp, &balancer.url, "").replace(IDP_SECRET, "not-the-secret");
    let warden = Warden::start(&config, |dir| install(dir, "sample", "sample")).await?;
    balancer.point_at(&warden.base_url);
    let mut client = Client::register(&balancer.url, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = login_as(&mut client, &mut browser, &balancer.url, &idp.issuer, "st", "tool:whoami").await?;
    assert_eq!(q.get("error").map(String::as_str), Some("server_error"), "{q:?}");
    assert_eq!(q.get("state").map(String::as_str), Some("st"));
    assert!(!q.contains_key("code"));
    let description = q.get("error_description").cloned().unwrap_or_default();
    assert!(!description.contains("invalid_client") && !description.contains("secret"), "{description}");
    assert!(
        warden.log().contains("oidc.client_id or oidc.client_secret is wrong"),
        "the log names the fix:\n{}",
        warden.log()
    );
    assert!(!warden.log().contains("not-the-secret"), "the secret is never logged");
    assert!(audited(&warden, |e| e["outcome"] == "upstream_exchange").await);
    Ok(())
}

#[tokio::test]
async fn rotating_both_keys_loses_no_session() -> anyhow::Result<()> {
    let mut p = proxy("").await?;
    let mut client = Client::register(&p.base, REDIRECT).await?;
    let mut browser = Browser::new();
    let q = p.login(&mut client, &mut browser).await?;
    let (_, tokens) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    let old_access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    let old_kid = decode_header(&old_access)["kid"].clone();
    let out = Command::new(warden_tests::warden_binary())
        .args(["rotate-keys", "--config"])
        .arg(p.warden.root.path().join("server.toml"))
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    p.warden.restart().await?;
    p.balancer.point_at(&p.warden.base_url);
    // The token signed with the retired key still works; the family sealed with the old
    // sealing key still opens; new tokens carry the new key id.
    let mcp = p.warden.client_with_token(&old_access).await?;
    assert!(
        warden_tests::text_of(&warden_tests::call(&mcp, "sample.whoami", json!({})).await?).contains("alice")
    );
    let (status, refreshed) = client.refresh(tokens["refresh_token"].as_str().unwrap_or_default()).await?;
    assert_eq!(status, 200, "{refreshed}");
    let new_kid = decode_header(refreshed["access_token"].as_str().unwrap_or_default())["kid"].clone();
    assert_ne!(new_kid, old_kid);
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", p.base)).await?.json().await?;
    let kids: Vec<&Value> =
        jwks["keys"].as_array().map(|k| k.iter().map(|k| &k["kid"]).collect()).unwrap_or_default();
    assert!(kids.contains(&&old_kid) && kids.contains(&&new_kid), "{jwks}");
    assert_eq!(jwks["keys"][0]["kid"], new_kid, "the new key signs");
    Ok(())
}

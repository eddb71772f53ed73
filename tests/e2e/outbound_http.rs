//! Outbound HTTP as the caller (`wasi:http` through the host), with real parts: the test IdP
//! (npm `oidc-provider`: logins, `/userinfo`, an RFC 8693 token-exchange grant), a downstream
//! API that verifies exchanged tokens against the IdP's keys, and test servers that count their
//! connections (`warden_tests::upstream`).
//!
//! - `as_caller_*`: alice and bob, through the OIDC proxy, each get their own profile (the
//!   `userinfo` example and its TypeScript twin `ts-userinfo`, `credential = "caller"`) and their own records (the `downstream` example,
//!   `credential = "exchange"`), interleaved; no token reaches a plugin, the audit log or the log.
//! - Refusals, each with no connection made.
//! - Limits: an upstream that never answers, one that streams forever, one that sends 50 MB.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use warden_tests::oauth::{Balancer, Browser, Client, Step};
use warden_tests::upstream::{Behaviour, Upstream};
use warden_tests::{
    Greeter, Idp, McpClient, Warden, call, component, eventually, free_port, install, install_manifest,
    install_wasm, text_of,
};

const AUDIENCE: &str = "https://api.warden.test/mcp";
const API_AUDIENCE: &str = "https://records.warden.test";
const IDP_CLIENT: &str = "warden-proxy";
const IDP_SECRET: &str = "proxy-secret-http-9c1d";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const USERS: [(&str, &str, &str, &str); 2] = [
    ("alice", "alice-pw-1", "auth0|alice-1", "alice@example.com"),
    ("bob", "bob-pw-2", "auth0|bob-2", "bob@example.com"),
];
/// Slack over a limit on a loaded 2-core machine: the point is "bounded", not speed.
const SLACK: Duration = Duration::from_secs(3);

fn idp(public_url: &str, ttl_s: u64) -> anyhow::Result<Idp> {
    let users: Vec<Value> = USERS
        .iter()
        .map(|(name, pw, sub, email)| {
            json!({"sub": sub, "username": name, "email": email, "password": pw,
                   "permissions": ["tool:get_user_info", "tool:records"]})
        })
        .collect();
    Idp::start(
        0,
        &[AUDIENCE, API_AUDIENCE],
        json!([{
            "client_id": IDP_CLIENT,
            "client_secret": IDP_SECRET,
            "permissions": [],
            "redirect_uris": [format!("{public_url}/auth/callback")],
            "grant_types": ["authorization_code", TOKEN_EXCHANGE],
        }]),
        json!(users),
        ttl_s,
    )
}

/// The probe fixture's manifest with `http` (its `[http]` tables) and a `timeout_ms` limit.
fn probe_manifest(timeout_ms: u64, http: &str) -> String {
    format!(
        "[plugin]\nname = \"probe\"\n\n[limits]\ntimeout_ms = {timeout_ms}\n\n[tools.fetch]\nscopes = []\n\n\
         [tools.fetch_wstd]\nscopes = []\n\n{http}"
    )
}

/// The example manifest `plugins/<name>/plugin.toml` with its destination URL replaced.
fn example_manifest(name: &str, placeholder: &str, url: &str) -> String {
    let text = std::fs::read_to_string(warden_tests::manifest_source(name)).unwrap_or_default();
    assert!(text.contains(placeholder), "{name}'s manifest has {placeholder}");
    text.replace(placeholder, url)
}

fn install_as(dir: &std::path::Path, stem: &str, crate_name: &str, manifest: &str) {
    install_manifest(dir, stem, manifest);
    install_wasm(dir, stem, &std::fs::read(component(crate_name)).unwrap());
}

/// Calls `probe.fetch` and returns what the plugin saw.
async fn fetch(client: &McpClient, args: Value) -> anyhow::Result<Value> {
    let result = call(client, "probe.fetch", args).await?;
    let text = text_of(&result);
    ensure!(result.is_error != Some(true), "probe failed: {text}");
    serde_json::from_str(&text).with_context(|| format!("probe output: {text}"))
}

/// The error of the first hop the probe reports.
async fn fetch_error(client: &McpClient, args: Value) -> anyhow::Result<String> {
    let seen = fetch(client, args).await?;
    seen["hops"][0]["error"].as_str().map(str::to_owned).with_context(|| format!("no error: {seen}"))
}

/// Logs `user` in through the proxy at `base`; returns Warden's access token.
async fn login(base: &str, idp: &str, user: &str, password: &str) -> anyhow::Result<String> {
    let mut client = Client::register(base, REDIRECT).await?;
    let mut browser = Browser::new();
    let url = client.authorize_url("st-http", "tool:get_user_info tool:records");
    let Step::Consent(fields) = browser.advance(&url, REDIRECT).await? else { bail!("no consent page") };
    let q: HashMap<String, String> =
        browser.approve_and_login(base, &fields, idp, user, password, REDIRECT).await?;
    let (status, tokens) = client.exchange(&q["code"], &client.verifier.clone()).await?;
    ensure!(status == 200, "token exchange failed: {tokens}");
    tokens["access_token"].as_str().map(str::to_owned).context("no access token")
}

/// The proxy, the IdP, the downstream API and an echo server, with the examples and the probe.
struct AsCaller {
    _balancer: Balancer,
    idp: Idp,
    api: Upstream,
    echo: Upstream,
    warden: Warden,
    base: String,
}

async fn as_caller(upstream_ttl_s: u64) -> anyhow::Result<AsCaller> {
    let balancer = Balancer::start().await?;
    let idp = idp(&balancer.url, upstream_ttl_s)?;
    let api = Upstream::api(idp.jwks().await?, &idp.issuer, API_AUDIENCE).await?;
    let echo = Upstream::start(Behaviour::Echo).await?;
    let admin = free_port();
    let config = format!(
        "[server]\npublic_url = {public:?}\nadmin_bind = \"127.0.0.1:{admin}\"\n\n[auth]\nmode = \"oidc-proxy\"\n\n\
         [oidc]\nissuer = {issuer:?}\nclient_id = {IDP_CLIENT:?}\nclient_secret = {IDP_SECRET:?}\naudience = {AUDIENCE:?}\n\n\
         [http]\nallow_cidrs = [\"127.0.0.1/32\"]\nallow_plain_http_credentials = true\n",
        public = balancer.url,
        issuer = idp.issuer,
    );
    let userinfo = example_manifest(
        "userinfo",
        "https://your-tenant.us.auth0.com/userinfo",
        &format!("{}/userinfo", idp.issuer),
    );
    let ts_userinfo = example_manifest(
        "ts-userinfo",
        "https://your-tenant.us.auth0.com/userinfo",
        &format!("{}/userinfo", idp.issuer),
    );
    let downstream =
        example_manifest("downstream", "https://records.example.com/v1", &format!("{}/v1", api.url))
            .replace("https://records.example.com", API_AUDIENCE);
    let probe = probe_manifest(
        3000,
        &format!(
            "[http.destinations.echo]\nurl = \"{echo}/\"\ncredential = \"caller\"\n\n\
             [http.destinations.api]\nurl = \"{api}/v1\"\ncredential = \"exchange\"\naudience = {API_AUDIENCE:?}\n\n\
             [http.destinations.other-api]\nurl = \"{api}/v2\"\ncredential = \"exchange\"\nresource = {API_AUDIENCE:?}\nscopes = [\"more\"]\n",
            echo = echo.url,
            api = api.url,
        ),
    );
    let warden = Warden::start(&config, |dir| {
        install_as(dir, "userinfo", "userinfo", &userinfo);
        install_as(dir, "ts-userinfo", "ts-userinfo", &ts_userinfo);
        install_as(dir, "downstream", "downstream", &downstream);
        install_as(dir, "probe", "http-probe", &probe);
    })
    .await?;
    balancer.point_at(&warden.base_url);
    let base = balancer.url.clone();
    Ok(AsCaller { _balancer: balancer, idp, api, echo, warden, base })
}

impl AsCaller {
    async fn client_for(&self, user: usize) -> anyhow::Result<(String, McpClient)> {
        let (name, pw, ..) = USERS[user];
        let token = login(&self.base, &self.idp.issuer, name, pw).await?;
        let client = self.warden.client_with_token(&token).await?;
        Ok((token, client))
    }

    async fn exchanges(&self) -> anyhow::Result<u64> {
        let body: Value =
            reqwest::get(format!("{}/__admin/exchanges", self.idp.issuer)).await?.json().await?;
        body["exchanges"].as_u64().context("exchanges")
    }
}

/// Three rounds of both examples for `user`, checking each answer is that user's.
async fn rounds(client: &McpClient, user: usize) -> anyhow::Result<Vec<String>> {
    let (_, _, sub, email) = USERS[user];
    let (_, _, other_sub, other_email) = USERS[1 - user];
    let mut texts = Vec::new();
    for _ in 0..3 {
        let profile = call(client, "userinfo.get_user_info", json!({})).await?;
        let text = text_of(&profile);
        ensure!(profile.is_error != Some(true), "get_user_info failed: {text}");
        let v: Value = serde_json::from_str(&text)?;
        ensure!(v["user_info"]["email"] == email && v["user_info"]["sub"] == sub, "{email}: {text}");
        ensure!(!text.contains(other_email), "{email} saw {other_email}");
        // The same tool in TypeScript (plugins/ts-userinfo), through the same host-attached token.
        let ts = call(client, "ts-userinfo.get_user_info", json!({})).await?;
        ensure!(ts.is_error != Some(true), "ts-userinfo failed: {}", text_of(&ts));
        let w: Value = serde_json::from_str(&text_of(&ts))?;
        ensure!(w["user_info"] == v["user_info"], "the same profile from both: {text} vs {}", text_of(&ts));
        texts.push(text);
        texts.push(text_of(&ts));
        let records = call(client, "downstream.my_records", json!({})).await?;
        let text = text_of(&records);
        ensure!(records.is_error != Some(true), "my_records failed: {text}");
        let v: Value = serde_json::from_str(&text)?;
        ensure!(v["records"]["subject"] == sub, "{sub}: {text}");
        ensure!(!text.contains(other_sub), "{sub} saw {other_sub}");
        texts.push(text);
    }
    Ok(texts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_caller_alice_and_bob_get_their_own_data_and_no_token_reaches_a_plugin_or_a_log()
-> anyhow::Result<()> {
    let s = as_caller(300).await?;
    let (alice_token, alice) = s.client_for(0).await?;
    let (bob_token, bob) = s.client_for(1).await?;

    // Interleaved, concurrently: each gets their own profile and records, every time.
    let (a, b) = tokio::join!(rounds(&alice, 0), rounds(&bob, 1));
    let mut seen = a?;
    seen.extend(b?);
    // One exchange per caller; the other calls used the cached token.
    assert_eq!(s.exchanges().await?, 2, "exchanged tokens are cached per caller and audience");
    // Another audience (resource + scopes) is another exchange.
    let other = fetch(&alice, json!({"url": format!("{}/v2/records", s.api.url)})).await?;
    assert_eq!(other["hops"][0]["status"], 200, "{other}");
    assert_eq!(s.exchanges().await?, 3);

    // The plugin sets its own Authorization: the host replaces it with the caller's token.
    let probe = fetch(
        &alice,
        json!({"url": format!("{}/anything?q=1", s.echo.url), "headers": {"authorization": "Bearer forged-by-plugin"}}),
    )
    .await?;
    assert_eq!(probe["hops"][0]["status"], 200, "{probe}");
    let env = &probe["env"];
    assert_eq!(env["WARDEN_HTTP_ECHO"], format!("{}/", s.echo.url), "{env}");
    let sent = s.echo.requests();
    let upstream = sent.last().and_then(|r| r.headers.get("authorization")).cloned().unwrap_or_default();
    assert!(
        upstream.starts_with("Bearer ey") && !upstream.contains("forged"),
        "replaced, not merged: {upstream}"
    );
    assert_eq!(sent.iter().filter(|r| r.headers.contains_key("authorization")).count(), 1);
    let upstream = upstream.trim_start_matches("Bearer ").to_owned();
    assert_ne!(upstream, alice_token, "the token Warden received is never forwarded");
    seen.push(probe.to_string());
    seen.push(other.to_string());

    // No token of any kind reaches a plugin, the audit log or Warden's log.
    let exchanged: Vec<String> = s
        .api
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization").map(|v| v.trim_start_matches("Bearer ").to_owned()))
        .collect();
    assert!(exchanged.len() >= 7, "the API saw every records call: {}", exchanged.len());
    let audit = serde_json::to_string(&s.warden.audit())?;
    let log = s.warden.log();
    let secrets = [alice_token.as_str(), bob_token.as_str(), upstream.as_str()]
        .into_iter()
        .chain(exchanged.iter().map(String::as_str));
    for token in secrets {
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(signature.len() > 20, "a JWT");
        for text in &seen {
            assert!(!text.contains(signature), "a token reached a plugin: {text}");
        }
        assert!(!audit.contains(signature), "a token reached the audit log");
        assert!(!log.contains(signature), "a token reached Warden's log");
    }

    // Every request is an audit line: plugin, caller, method, URL without the query, status,
    // bytes, credential kind. Lines are written by the audit thread: wait for the last request's.
    let written = eventually(Duration::from_secs(5), || async {
        s.warden
            .audit()
            .iter()
            .any(|e| e["event"] == "http.request" && e["plugin"] == "probe" && e["credential"] == "caller")
    })
    .await;
    ensure!(written, "the probe's audit line was written");
    let lines: Vec<Value> = s.warden.audit().into_iter().filter(|e| e["event"] == "http.request").collect();
    let userinfo = lines.iter().filter(|e| e["plugin"] == "userinfo").collect::<Vec<_>>();
    assert_eq!(userinfo.len(), 6, "{lines:?}");
    for e in &userinfo {
        assert_eq!(e["outcome"], "ok");
        assert_eq!(e["credential"], "caller");
        assert_eq!(e["method"], "GET");
        assert_eq!(e["status"], 200);
        assert!(e["bytes"].as_u64().unwrap_or(0) > 10, "{e}");
        assert_eq!(e["url"], format!("{}/userinfo", s.idp.issuer));
    }
    assert!(lines.iter().any(|e| e["plugin"] == "downstream"
        && e["credential"] == "exchange"
        && e["subject"] == "auth0|bob-2"));
    let probe_line = lines
        .iter()
        .find(|e| e["plugin"] == "probe" && e["credential"] == "caller")
        .with_context(|| format!("probe line in {lines:?}"))?;
    assert_eq!(probe_line["url"], format!("{}/anything", s.echo.url), "no query string");

    // Counted in /metrics by plugin and destination.
    let admin = s.warden.admin_url.clone().context("admin")?;
    let metrics = reqwest::get(format!("{admin}/metrics")).await?.text().await?;
    let line = metrics
        .lines()
        .find(|l| {
            l.contains("outbound_requests_total")
                && l.contains("plugin=\"userinfo\"")
                && l.contains("destination=\"idp\"")
        })
        .with_context(|| format!("no outbound metric:\n{metrics}"))?;
    assert!(line.contains("outcome=\"ok\"") && line.ends_with(" 6"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_caller_the_idp_down_is_a_clear_tool_error() -> anyhow::Result<()> {
    // Upstream tokens living 20 s are always due for refresh (30 s margin), and exchanged ones
    // too short to cache: every call goes to the IdP.
    let mut s = as_caller(20).await?;
    let (_, alice) = s.client_for(0).await?;
    let ok = call(&alice, "userinfo.get_user_info", json!({})).await?;
    assert_ne!(ok.is_error, Some(true), "refreshed while the IdP is up: {}", text_of(&ok));
    let ok = call(&alice, "downstream.my_records", json!({})).await?;
    assert_ne!(ok.is_error, Some(true), "{}", text_of(&ok));
    let api_before = s.api.connections();

    s.idp.stop();
    for tool in ["userinfo.get_user_info", "downstream.my_records"] {
        let started = Instant::now();
        let r = call(&alice, tool, json!({})).await?;
        assert_eq!(r.is_error, Some(true), "{tool}: {}", text_of(&r));
        assert!(text_of(&r).contains("identity provider unavailable"), "{tool}: {}", text_of(&r));
        assert!(started.elapsed() < Duration::from_secs(5) + SLACK, "{tool} took {:?}", started.elapsed());
    }
    assert_eq!(s.api.connections(), api_before, "nothing was sent without a credential");
    let audit = s.warden.audit();
    assert!(audit.iter().any(|e| e["event"] == "http.request" && e["outcome"] == "idp_unavailable"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_make_no_connection() -> anyhow::Result<()> {
    let target = Upstream::start(Behaviour::Echo).await?;
    let other = Upstream::start(Behaviour::Echo).await?;
    let redirect = Upstream::start(Behaviour::Redirect(format!("{}/secret", other.url))).await?;

    // Without the operator's CIDR: loopback, metadata and a name resolving to loopback.
    let (p, meta) = (target.port, "http://169.254.169.254/latest/");
    let manifest = probe_manifest(
        3000,
        &format!(
            "[http.destinations.loop]\nurl = \"http://127.0.0.1:{p}/\"\n\n[http.destinations.meta]\nurl = \"{meta}\"\n\n\
             [http.destinations.named]\nurl = \"http://localhost:{p}/\"\n"
        ),
    );
    let closed = Warden::start("", |dir| {
        install_as(dir, "probe", "http-probe", &manifest);
        install(dir, "sample", "sample");
    })
    .await?;
    let client = closed.client().await?;
    for (url, expected) in [
        (format!("http://127.0.0.1:{p}/x"), "127.0.0.1 (loopback)"),
        (format!("{meta}meta-data/"), "169.254.169.254 (cloud metadata)"),
        (format!("http://localhost:{p}/x"), "(loopback)"),
    ] {
        let error = fetch_error(&client, json!({"url": url})).await?;
        assert!(error.contains(expected) && error.contains("http.allow_cidrs"), "{url}: {error}");
    }
    assert_eq!(target.connections(), 0, "no connection to a refused address");
    // A plugin whose manifest declares no destinations gets a handler that refuses everything.
    drop(client);
    drop(closed);
    let bare =
        Warden::start("", |dir| install_as(dir, "probe", "http-probe", &probe_manifest(3000, ""))).await?;
    let error = fetch_error(&bare.client().await?, json!({"url": format!("{}/x", target.url)})).await?;
    assert!(error.contains("declares no [http.destinations]"), "{error}");
    assert_eq!(target.connections(), 0);
    drop(bare);

    // With loopback allowed for 127.0.0.1 only: everything the manifest does not grant.
    let (r, q) = (redirect.port, other.port);
    let manifest = probe_manifest(
        3000,
        &format!(
            "[http]\nmax_requests = 3\n\n[http.destinations.api]\nurl = \"http://127.0.0.1:{p}/api/\"\nmethods = [\"GET\"]\n\n\
             [http.destinations.hop]\nurl = \"http://127.0.0.1:{r}/\"\n\n\
             [http.destinations.keyed]\nurl = \"http://127.0.0.1:{p}/keyed/\"\ncredential = \"secret\"\nsecret = \"k\"\nheader = \"x-api-key\"\n"
        ),
    );
    let config = "[http]\nallow_cidrs = [\"127.0.0.1/32\"]\n\n[http.secrets]\nk = \"v-secret-not-sent\"\n";
    let open = Warden::start(config, |dir| install_as(dir, "probe", "http-probe", &manifest)).await?;
    let client = open.client().await?;
    let cases = [
        (json!({"url": format!("http://127.0.0.1:{q}/x")}), "is not a destination"),
        (
            json!({"url": format!("http://127.0.0.1:{p}/api/x"), "method": "POST"}),
            "POST is not a method granted",
        ),
        (json!({"url": format!("http://127.0.0.1:{p}/admin")}), "outside every path prefix"),
        (json!({"url": format!("http://127.0.0.1:{p}/api/../admin")}), "dot segments"),
        (json!({"url": format!("http://127.0.0.1:{p}/api/%2e%2e/admin")}), "encoded"),
        (json!({"url": format!("http://127.0.0.1:{p}/api/%2Fadmin")}), "encoded"),
        (json!({"url": format!("http://user:pw@127.0.0.1:{p}/api/")}), ""),
        (json!({"url": format!("http://127.0.0.1:{p}/keyed/x")}), "credentials go only over https"),
    ];
    for (args, expected) in cases {
        let error = fetch_error(&client, args.clone()).await?;
        assert!(!error.is_empty() && error.contains(expected), "{args}: {error}");
    }
    assert_eq!((target.connections(), other.connections()), (0, 0), "refused before any connection");

    // A redirect to an origin the manifest does not grant: the next hop is checked and refused.
    let seen = fetch(&client, json!({"url": format!("{}/start", redirect.url), "follow": 2})).await?;
    assert_eq!(seen["hops"][0]["status"], 302, "{seen}");
    assert!(seen["hops"][1]["error"].as_str().unwrap_or_default().contains("is not a destination"), "{seen}");
    assert_eq!((redirect.connections(), other.connections()), (1, 0));

    // The per-call request budget, and a query string that never reaches the audit log.
    let seen =
        fetch(&client, json!({"url": format!("http://127.0.0.1:{p}/api/v?token=s3cr3t-q"), "repeat": 5}))
            .await?;
    let hops = seen["hops"].as_array().context("hops")?;
    assert_eq!(hops.iter().filter(|h| h["status"] == 200).count(), 3, "{seen}");
    assert!(hops[3]["error"].as_str().unwrap_or_default().contains("already made its 3 requests"), "{seen}");
    assert_eq!(target.connections(), 3, "one connection per allowed request, none for refused ones");
    assert!(target.requests().iter().all(|r| r.target == "/api/v?token=s3cr3t-q"));
    let audit = open.audit();
    let text = serde_json::to_string(&audit)?;
    assert!(
        !text.contains("s3cr3t-q") && !text.contains("v-secret-not-sent"),
        "no query or secret in the audit log"
    );
    let refused = audit.iter().filter(|e| e["event"] == "http.request" && e["outcome"] == "refused").count();
    assert!(refused >= 9, "every refusal is an audit line: {refused}");
    assert!(audit.iter().any(|e| e["event"] == "http.request"
        && e["reason"].as_str().is_some_and(|r| r.contains("POST is not a method granted"))));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endless_and_huge_upstreams_end_the_call_on_time_while_others_are_served() -> anyhow::Result<()>
{
    let silent = Upstream::start(Behaviour::Silent).await?;
    let endless = Upstream::start(Behaviour::Endless).await?;
    let huge = Upstream::start(Behaviour::Huge { mb: 50, sized: false }).await?;
    let sized = Upstream::start(Behaviour::Huge { mb: 50, sized: true }).await?;
    let mut tables = String::from("[http]\ntimeout_ms = 1000\nmax_response_kb = 1024\n\n");
    for (name, u) in [("silent", &silent), ("endless", &endless), ("huge", &huge), ("sized", &sized)] {
        tables.push_str(&format!("[http.destinations.{name}]\nurl = \"{}/\"\n\n", u.url));
    }
    let config = format!("{}[http]\nallow_cidrs = [\"127.0.0.1/32\"]\n", warden_tests::fixtures::UNLIMITED);
    let warden = Warden::start(&config, |dir| {
        install_as(dir, "probe", "http-probe", &probe_manifest(4000, &tables));
        install(dir, "sample", "sample");
    })
    .await?;
    let client = Arc::new(warden.client().await?);

    // Another caller's calls keep being served meanwhile.
    let greeter = Greeter::spawn(Arc::new(warden.client().await?), "Ada", Duration::from_millis(20));

    let cases = [
        (silent.url.clone(), "timed out"),
        (endless.url.clone(), "timed out"),
        (huge.url.clone(), "limit: 1048576 bytes"),
        (sized.url.clone(), "exceeds this call's limit of 1048576 bytes"),
    ];
    let runs = cases.iter().map(|(url, expected)| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let error = fetch_error(&client, json!({"url": format!("{url}/data")})).await;
            (url, expected, error, started.elapsed())
        }
    });
    let results = futures::future::join_all(runs).await;
    let summary: Vec<String> = results.iter().map(|(u, _, e, t)| format!("{u}: {e:?} in {t:?}")).collect();
    for (url, expected, error, took) in results {
        let error = error.with_context(|| summary.join("\n"))?;
        assert!(error.contains(expected), "{url}: {error}\n{}", summary.join("\n"));
        assert!(took < Duration::from_secs(1) + SLACK, "{url}: the call took {took:?}");
    }
    let greeted = greeter.stop().await;
    assert!(greeted.ok >= 3, "other calls were served meanwhile: {greeted:?}");
    assert!(greeted.slowest_ms < 2000, "no other call waited on the upstreams: {greeted:?}");
    let audit = warden.audit();
    for outcome in ["timeout", "too_large"] {
        assert!(audit.iter().any(|e| e["event"] == "http.request" && e["outcome"] == outcome), "{outcome}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_destinations_verify_the_certificate_and_the_host_replaces_credential_headers()
-> anyhow::Result<()> {
    let pki = warden_tests::pki::pki("outbound");
    let api = Upstream::start_tls(Behaviour::Echo, &pki).await?;
    let ca = tempfile::NamedTempFile::new()?;
    std::fs::write(ca.path(), &pki.ca_pem)?;
    const KEY: &str = "s3cret-api-key-value";
    let manifest = probe_manifest(
        3000,
        &format!(
            "[http.destinations.keyed]\nurl = \"{}/v1/\"\nmethods = [\"GET\", \"POST\"]\ncredential = \"secret\"\nsecret = \"k\"\nheader = \"X-Api-Key\"\n",
            api.url
        ),
    );
    let http = format!("[http]\nallow_cidrs = [\"127.0.0.1/32\"]\n\n[http.secrets]\nk = {KEY:?}\n");
    let config = format!(
        "[http]\nallow_cidrs = [\"127.0.0.1/32\"]\nca_bundle = {:?}\n\n[http.secrets]\nk = {KEY:?}\n",
        ca.path()
    );
    let warden = Warden::start(&config, |dir| install_as(dir, "probe", "http-probe", &manifest)).await?;
    let client = warden.client().await?;
    // The plugin sets the credential header itself, and an Authorization: both are replaced.
    let seen = fetch(
        &client,
        json!({"url": format!("{}/v1/items?page=2", api.url), "method": "POST",
               "headers": {"x-api-key": "forged", "authorization": "Bearer plugin-made"}}),
    )
    .await?;
    assert_eq!(seen["hops"][0]["status"], 200, "{seen}");
    let sent = api.requests();
    let headers = &sent.last().context("a request")?.headers;
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some(KEY), "{headers:?}");
    assert!(!headers.contains_key("authorization"), "a plugin-set Authorization is dropped: {headers:?}");
    assert_eq!(headers.get("host").map(String::as_str), Some(api.url.trim_start_matches("https://")));
    assert!(!seen.to_string().contains(KEY), "the plugin never sees the secret");
    assert!(!serde_json::to_string(&warden.audit())?.contains(KEY) && !warden.log().contains(KEY));
    // An ordinary guest HTTP library (wstd) goes through the same host: granted, and refused.
    let r = call(&client, "probe.fetch_wstd", json!({"url": format!("{}/v1/w", api.url)})).await?;
    let v: Value = serde_json::from_str(&text_of(&r))?;
    assert_eq!(v["status"], 200, "{v}");
    assert!(v["body"].as_str().unwrap_or_default().contains("\"target\":\"/v1/w\""), "{v}");
    assert_eq!(api.requests().last().and_then(|r| r.headers.get("x-api-key")).map(String::as_str), Some(KEY));
    let r = call(&client, "probe.fetch_wstd", json!({"url": format!("{}/admin", api.url)})).await?;
    let v: Value = serde_json::from_str(&text_of(&r))?;
    assert!(v["error"].as_str().unwrap_or_default().contains("outside every path prefix"), "{v}");

    // Without the CA bundle, the certificate is not trusted: TLS fails, nothing is sent.
    drop(client);
    let untrusting = Warden::start(&http, |dir| install_as(dir, "probe", "http-probe", &manifest)).await?;
    let before = api.requests().len();
    let error =
        fetch_error(&untrusting.client().await?, json!({"url": format!("{}/v1/items", api.url)})).await?;
    assert!(
        error.contains("TLS with https://127.0.0.1") && error.to_lowercase().contains("certificate"),
        "{error}"
    );
    assert_eq!(api.requests().len(), before, "no request over an untrusted connection");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_caller_in_jwt_mode_the_presented_token_is_exchanged_and_never_forwarded() -> anyhow::Result<()> {
    let idp = Idp::start(
        0,
        &[AUDIENCE, API_AUDIENCE],
        json!([
            {"client_id": "agent-7", "client_secret": "agent-secret", "permissions": ["tool:records"]},
            {"client_id": "warden-exchange", "client_secret": "exchange-secret", "permissions": [],
             "grant_types": [TOKEN_EXCHANGE]},
        ]),
        json!([]),
        300,
    )?;
    let api = Upstream::api(idp.jwks().await?, &idp.issuer, API_AUDIENCE).await?;
    // The exchange client is configured; its token endpoint comes from auth.issuer's discovery.
    let config = format!(
        "[auth]\nmode = \"jwt\"\nissuer = {issuer:?}\naudience = {AUDIENCE:?}\n\n\
         [http]\nallow_cidrs = [\"127.0.0.1/32\"]\nallow_plain_http_credentials = true\n\n\
         [http.exchange]\nclient_id = \"warden-exchange\"\nclient_secret = \"exchange-secret\"\n",
        issuer = idp.issuer
    );
    let downstream =
        example_manifest("downstream", "https://records.example.com/v1", &format!("{}/v1", api.url))
            .replace("https://records.example.com", API_AUDIENCE);
    let warden =
        Warden::start(&config, |dir| install_as(dir, "downstream", "downstream", &downstream)).await?;
    let token = idp.client_credentials("agent-7", "agent-secret", AUDIENCE, Some("tool:records")).await?;
    let client = warden.client_with_token(&token).await?;
    for _ in 0..2 {
        let r = call(&client, "downstream.my_records", json!({})).await?;
        let text = text_of(&r);
        assert_ne!(r.is_error, Some(true), "{text}");
        let v: Value = serde_json::from_str(&text)?;
        assert_eq!(v["records"]["subject"], "agent-7", "{text}");
    }
    let sent: Vec<String> =
        api.requests().iter().filter_map(|r| r.headers.get("authorization").cloned()).collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|h| h == &sent[0] && *h != format!("Bearer {token}")),
        "exchanged, cached, never the caller's"
    );
    let body: Value = reqwest::get(format!("{}/__admin/exchanges", idp.issuer)).await?.json().await?;
    assert_eq!(body["exchanges"], 1, "the second call used the cached token");
    Ok(())
}

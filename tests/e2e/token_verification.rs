//! Warden as an OAuth 2.1 protected resource: real tokens from a real OpenID provider (npm
//! `oidc-provider`, configured like an Auth0 tenant), attacks refused with nothing run, RBAC with
//! step-up challenges, key rotation and an IdP that is down at start.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden_tests::{Idp, LATEST_PROTOCOL, McpPost, Warden, call, free_port, install, text_of, tool_names};

/// The API identifier (audience) Warden is configured with, as in an Auth0 API.
const AUD: &str = "https://warden.test/mcp";
const OTHER: &str = "https://other.example/api";

fn clients() -> Value {
    json!([
        { "client_id": "full", "client_secret": "full-secret", "permissions": ["tool:whoami", "tool:greet"] },
        { "client_id": "whoami-only", "client_secret": "whoami-secret", "permissions": ["tool:whoami"] },
    ])
}

fn start_idp(port: u16) -> Idp {
    Idp::start(port, &[AUD, OTHER], clients(), json!([]), 300).expect("start the test IdP")
}

fn jwt_config(issuer: &str) -> String {
    format!("[auth]\nmode = \"jwt\"\nissuer = \"{issuer}\"\naudience = \"{AUD}\"\njwks_min_refetch_s = 1\n")
}

async fn jwt_warden(idp: &Idp) -> Warden {
    Warden::start(&jwt_config(&idp.issuer), |dir| install(dir, "sample", "sample"))
        .await
        .expect("start warden")
}

/// A raw `tools/call` (id 7, no arguments, the newest protocol) over a new connection, with an
/// optional `Authorization` value.
async fn raw_call(warden: &Warden, authorization: Option<&str>, tool: &str) -> reqwest::Response {
    McpPost::new(warden.mcp_url())
        .authorization(authorization)
        .protocol(LATEST_PROTOCOL)
        .jsonrpc(7, "tools/call", json!({ "name": tool, "arguments": {} }))
        .send()
        .await
        .expect("request")
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

#[tokio::test]
async fn a_valid_token_lists_and_calls_and_whoami_shows_the_real_claims() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let token = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    let client = warden.client_with_token(&token).await.unwrap();
    assert_eq!(tool_names(&client).await.unwrap().len(), 3);
    let who =
        call(&client, "sample.whoami", json!({})).await.unwrap().structured_content.expect("structured");
    assert_eq!(who["subject"], "full");
    assert_eq!(who["issuer"], idp.issuer.as_str());
    assert_eq!(who["client_id"], "full");
    assert_eq!(who["permissions"], json!(["tool:whoami", "tool:greet"]));
    let r = call(&client, "sample.greet", json!({ "name": "Ada" })).await.unwrap();
    assert_eq!(text_of(&r), "Hello, Ada! You are full.");
}

#[tokio::test]
async fn rbac_hides_tools_and_answers_calls_without_the_scope_with_a_step_up_challenge() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let token = idp.client_credentials("whoami-only", "whoami-secret", AUD, None).await.unwrap();
    let client = warden.client_with_token(&token).await.unwrap();
    let mut names = tool_names(&client).await.unwrap();
    names.sort();
    assert_eq!(names, ["sample.get_datetime", "sample.whoami"], "greet is hidden");
    assert_ne!(call(&client, "sample.whoami", json!({})).await.unwrap().is_error, Some(true));
    assert_ne!(call(&client, "sample.get_datetime", json!({})).await.unwrap().is_error, Some(true));
    let before = warden.tool_calls_logged();

    let r = raw_call(&warden, Some(&format!("Bearer {token}")), "sample.greet").await;
    assert_eq!(r.status(), 403);
    let c = challenge(&r);
    assert!(c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"tool:greet\""), "{c}");
    assert!(c.contains("resource_metadata="), "{c}");
    assert_eq!(warden.tool_calls_logged(), before, "greet must not run");
}

#[tokio::test]
async fn every_attack_is_refused_and_nothing_runs() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let valid = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    let parts: Vec<&str> = valid.split('.').collect();
    let (header, claims) = (decode_part(parts[0]), decode_part(parts[1]));

    // alg "none": the valid claims, no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string()),
        parts[1]
    );
    // FORGED: HS256 "signed" with the IdP's public key as the HMAC secret (key-confusion attack).
    let jwks = idp.jwks().await.unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(jwks["keys"][0].to_string().as_bytes()),
    )
    .unwrap();
    // Tampered: the payload says another subject, the signature is the original one.
    let mut evil = claims.clone();
    evil["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(evil.to_string()), parts[2]);
    // Real tokens that must still be refused.
    let other_resource = idp.client_credentials("full", "full-secret", OTHER, None).await.unwrap();
    let stranger = start_idp(0); // another issuer with its own keys: unknown kid
    let foreign = stranger.client_credentials("full", "full-secret", AUD, None).await.unwrap();

    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no token", None, 401, ""),
        ("garbage", Some("Bearer not.a.jwt".into()), 401, "invalid_token"),
        ("alg none", Some(format!("Bearer {none}")), 401, "invalid_token"),
        ("HS256 with the public key", Some(format!("Bearer {hs256}")), 401, "not accepted"),
        ("tampered payload", Some(format!("Bearer {tampered}")), 401, "bad signature"),
        ("token for another resource", Some(format!("Bearer {other_resource}")), 401, "wrong audience"),
        ("unknown kid (other issuer)", Some(format!("Bearer {foreign}")), 401, "unknown signing key"),
        ("10 KB token", Some(format!("Bearer {}", "a".repeat(10 * 1024))), 401, "too large"),
        ("basic auth", Some("Basic YWxpY2U6cHc=".into()), 401, ""),
    ];
    for (name, authorization, status, reason) in &cases {
        let r = raw_call(&warden, authorization.as_deref(), "sample.get_datetime").await;
        assert_eq!(r.status().as_u16(), *status, "{name}");
        let c = challenge(&r);
        assert!(c.starts_with("Bearer ") && c.contains("resource_metadata="), "{name}: {c}");
        assert!(c.contains(reason), "{name}: expected {reason:?} in {c}");
    }
    // Past server.max_header_bytes the request head itself is refused, before authentication.
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    assert_eq!(raw_call(&warden, Some(&huge), "sample.get_datetime").await.status().as_u16(), 431);
    let c = challenge(&raw_call(&warden, None, "sample.get_datetime").await);
    assert!(!c.contains("error="), "a missing token is not an error, just a challenge: {c}");

    assert_eq!(warden.tool_calls_logged(), 0, "no tool may run for a refused token");
    // The real token still works afterwards (nothing was poisoned), and no token reached the log.
    let r = raw_call(&warden, Some(&format!("Bearer {valid}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 200);
    let log = warden.log();
    assert!(log.contains("token rejected"), "rejections are logged with their reason");
    for secret in [&valid, &tampered, &hs256, &foreign, &other_resource] {
        let signature = secret.rsplit('.').next().unwrap_or_default();
        assert!(!log.contains(signature), "a token leaked into the log");
    }
}

#[tokio::test]
async fn rotated_idp_keys_are_picked_up_without_restart() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let old = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    assert_eq!(raw_call(&warden, Some(&format!("Bearer {old}")), "sample.get_datetime").await.status(), 200);
    let new_kid = idp.rotate().await.unwrap();
    let new = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    assert_eq!(decode_part(new.split('.').next().unwrap())["kid"], new_kid.as_str());
    tokio::time::sleep(Duration::from_millis(1100)).await; // past jwks_min_refetch_s
    let r = raw_call(&warden, Some(&format!("Bearer {new}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 200, "{}", challenge(&r));
    let r = raw_call(&warden, Some(&format!("Bearer {old}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 200, "the old key is still published, so its tokens stay valid");
}

#[tokio::test]
async fn an_idp_down_at_start_makes_warden_unready_until_it_comes_up() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let warden = Warden::spawn(&jwt_config(&issuer), |dir| install(dir, "sample", "sample")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = warden.readyz().await.unwrap();
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(ready["auth_keys_loaded"], false, "{ready}");
    let r = raw_call(&warden, Some("Bearer x.y.z"), "sample.get_datetime").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    let idp = start_idp(port);
    warden.wait_ready(Duration::from_secs(60)).await.expect("warden becomes ready by itself");
    let token = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    assert_eq!(
        raw_call(&warden, Some(&format!("Bearer {token}")), "sample.get_datetime").await.status(),
        200
    );
}

#[tokio::test]
async fn protected_resource_metadata_and_cors_preflight() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let challenge_url = {
        let c = challenge(&raw_call(&warden, None, "sample.get_datetime").await);
        c.split("resource_metadata=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(challenge_url, format!("{}/.well-known/oauth-protected-resource/mcp", warden.base_url));
    for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
        let m: Value =
            reqwest::get(format!("{}{path}", warden.base_url)).await.unwrap().json().await.unwrap();
        assert_eq!(m["resource"], format!("{}/mcp", warden.base_url), "{path}");
        assert_eq!(m["authorization_servers"], json!([idp.issuer]), "{path}");
        assert_eq!(m["bearer_methods_supported"], json!(["header"]));
        let scopes = m["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!("tool:greet")) && scopes.contains(&json!("tool:whoami")), "{m}");
    }
    let r = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/.well-known/oauth-protected-resource", warden.base_url),
        )
        .header("origin", "https://example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

/// FORGED TOKENS: signs arbitrary claims with Warden's own local-mode key (read from its data
/// directory), for claims no real IdP would issue (expired, not yet valid, wrong issuer).
fn forge(warden: &Warden, kid: &str, claims: Value) -> String {
    let key = std::fs::read(warden.root.path().join("data/keys/local-es256.p8")).expect("local key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&key)).expect("sign")
}

async fn local_kid(warden: &Warden) -> String {
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", warden.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn local_mode_tokens_from_the_cli_work_and_forged_claims_are_refused() {
    let warden =
        Warden::start("[auth]\nmode = \"local\"\nleeway_s = 5\n", |dir| install(dir, "sample", "sample"))
            .await
            .unwrap();
    // `warden token` with the same config: the audience is the resource URL of the running server.
    let token = warden.local_token("alice", "tool:greet").unwrap();
    let client = warden.client_with_token(&token).await.unwrap();
    let r = call(&client, "sample.greet", json!({ "name": "Ada" })).await.unwrap();
    assert_eq!(text_of(&r), "Hello, Ada! You are alice.");
    assert_eq!(raw_call(&warden, Some(&format!("Bearer {token}")), "sample.whoami").await.status(), 403);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (iss, aud) = (warden.base_url.clone(), warden.mcp_url());
    let base = json!({ "iss": iss, "aud": aud, "sub": "mallory", "exp": now + 600, "iat": now, "scope": "" });
    let kid = local_kid(&warden).await;
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        forge(&warden, &kid, c)
    };
    // The forger is sound: an honest forged token passes, so the refusals below are about the claims.
    assert_eq!(
        raw_call(&warden, Some(&format!("Bearer {}", with(json!({})))), "sample.get_datetime").await.status(),
        200
    );
    let cases = [
        ("expired", json!({ "exp": now - 60 }), "token expired"),
        ("not yet valid", json!({ "nbf": now + 600 }), "not valid yet"),
        ("wrong issuer", json!({ "iss": "https://evil.example" }), "wrong issuer"),
        ("wrong audience", json!({ "aud": ["https://a.example", "https://b.example"] }), "wrong audience"),
        ("no subject", json!({ "sub": null }), "missing claim"),
        ("no expiry", json!({ "exp": null }), "missing claim"),
    ];
    for (name, patch, reason) in cases {
        let r = raw_call(&warden, Some(&format!("Bearer {}", with(patch))), "sample.get_datetime").await;
        assert_eq!(r.status(), 401, "{name}");
        assert!(challenge(&r).contains(reason), "{name}: {}", challenge(&r));
    }
    // An audience array that includes this resource is fine.
    let ok = with(json!({ "aud": ["https://a.example", aud] }));
    assert_eq!(raw_call(&warden, Some(&format!("Bearer {ok}")), "sample.get_datetime").await.status(), 200);
}

#[tokio::test]
async fn introspection_mode_accepts_active_tokens_for_this_resource_only() {
    let idp = start_idp(0);
    let config = |secret: &str| {
        format!(
            "[auth]\nmode = \"introspection\"\nissuer = \"{iss}\"\naudience = \"{AUD}\"\n\
             introspection_url = \"{iss}/token/introspection\"\nintrospection_client_id = \"whoami-only\"\n\
             introspection_client_secret = \"{secret}\"\n",
            iss = idp.issuer
        )
    };
    let warden =
        Warden::start(&config("whoami-secret"), |dir| install(dir, "sample", "sample")).await.unwrap();
    let token = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    let client = warden.client_with_token(&token).await.unwrap();
    let who =
        call(&client, "sample.whoami", json!({})).await.unwrap().structured_content.expect("structured");
    assert_eq!(who["subject"], "full");
    assert_eq!(who["permissions"], json!(["tool:whoami", "tool:greet"]));

    let other = idp.client_credentials("full", "full-secret", OTHER, None).await.unwrap();
    for (name, token, reason) in
        [("inactive", "opaque-garbage", "not active"), ("other resource", &other, "wrong audience")]
    {
        let r = raw_call(&warden, Some(&format!("Bearer {token}")), "sample.get_datetime").await;
        assert_eq!(r.status(), 401, "{name}");
        assert!(challenge(&r).contains(reason), "{name}: {}", challenge(&r));
    }

    // Warden's own credentials wrong: the IdP cannot be asked, so 503 (not a verdict on the token).
    let misconfigured =
        Warden::start(&config("wrong"), |dir| install(dir, "sample", "sample")).await.unwrap();
    let r = raw_call(&misconfigured, Some(&format!("Bearer {token}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 503);
    assert!(misconfigured.log().contains("token introspection failed"));
    assert_eq!(misconfigured.tool_calls_logged() + warden.tool_calls_logged(), 1, "only the whoami call ran");
}

#[tokio::test]
async fn the_last_good_keys_keep_working_while_the_idp_is_down() {
    let idp = start_idp(0);
    let warden = jwt_warden(&idp).await;
    let unused = idp.client_credentials("full", "full-secret", AUD, None).await.unwrap();
    drop(idp); // the IdP goes away; Warden has its keys but has never seen this token
    // Force a key fetch that fails: a token naming an unknown kid, past the refetch interval.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut header = decode_part(unused.split('.').next().unwrap());
    header["kid"] = json!("no-such-key");
    let parts: Vec<&str> = unused.split('.').collect();
    let unknown = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), parts[1], parts[2]);
    let r = raw_call(&warden, Some(&format!("Bearer {unknown}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 401);
    assert!(warden.log().contains("could not be re-fetched"), "the failed fetch happened:\n{}", warden.log());
    // The keys from before the failed fetch still verify a token Warden has never seen.
    let r = raw_call(&warden, Some(&format!("Bearer {unused}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 200, "{}", challenge(&r));
    assert_eq!(warden.readyz().await.unwrap()["ready"], true);
}

#[tokio::test]
async fn required_scopes_apply_to_every_request() {
    let idp = start_idp(0);
    let extra = format!("{}required_scopes = [\"mcp:use\"]\n", jwt_config(&idp.issuer));
    let warden = Warden::start(&extra, |dir| install(dir, "sample", "sample")).await.unwrap();
    let without = idp.client_credentials("full", "full-secret", AUD, Some("tool:greet")).await.unwrap();
    let r = raw_call(&warden, Some(&format!("Bearer {without}")), "sample.get_datetime").await;
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).contains("scope=\"mcp:use\""), "{}", challenge(&r));
    let with = idp.client_credentials("full", "full-secret", AUD, Some("mcp:use")).await.unwrap();
    assert_eq!(raw_call(&warden, Some(&format!("Bearer {with}")), "sample.get_datetime").await.status(), 200);
    assert_eq!(warden.tool_calls_logged(), 1);
}

//! Cost of verifying a bearer token: RS256 (Auth0's default, i.e. an upstream token used
//! directly), ES256 (local mode), a Warden-issued OIDC-proxy token (ES256 with the user's copied
//! claims), each through the full verifier, against a hit in the verified-token cache.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use warden::resource_server::TokenCache;
use warden::resource_server::claims::ClaimRules;
use warden::resource_server::jwks::KeySet;
use warden::resource_server::jwt::JwtVerifier;
use warden::resource_server::local::LocalIssuer;

const ISS: &str = "https://idp.example/";
const AUD: &str = "https://warden.example/mcp";

fn rules() -> ClaimRules {
    ClaimRules { permissions_as_scopes: true, username_claims: vec!["sub".into()] }
}

fn claims() -> serde_json::Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({ "iss": ISS, "aud": AUD, "sub": "auth0|alice", "exp": now + 3600, "iat": now,
            "scope": "openid", "permissions": ["tool:greet", "tool:whoami"], "azp": "client" })
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");

    // RS256 with a 2048-bit key, as Auth0 signs.
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key");
    let public = rsa.public_key();
    let jwk = json!({ "keys": [{ "kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()) }] });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("r1".into());
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).expect("der");
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let rs_token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem"))
            .expect("sign rs256");
    let rs_keys = Arc::new(KeySet::fixed(&jwk).expect("jwks"));
    let rs = JwtVerifier::new(rs_keys, ISS.into(), AUD.into(), vec![Algorithm::RS256], 30, rules());

    // ES256, as local mode signs.
    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalIssuer::load_or_create(&dir.path().join("keys")).expect("local key");
    let es_token = local.mint(ISS, AUD, "alice", "tool:greet", 3600).expect("mint");
    let es_keys = Arc::new(KeySet::fixed(&local.jwks()).expect("jwks"));
    let es = JwtVerifier::new(es_keys, ISS.into(), AUD.into(), vec![Algorithm::ES256], 30, rules());

    // What the OIDC proxy issues: the same key type, plus the user's profile claims.
    let now = jsonwebtoken::get_current_timestamp();
    let proxy_token = local
        .sign(&json!({ "iss": ISS, "aud": AUD, "sub": "auth0|alice", "exp": now + 300, "iat": now, "nbf": now,
            "jti": "k2l3j4h5g6f7d8s9a0", "client_id": "Ab3dE5fG7hI9jK1lM3nO5p", "scope": "tool:greet tool:whoami",
            "permissions": ["tool:greet", "tool:whoami"], "email": "alice@example.com",
            "email_verified": true, "name": "Alice", "username": "alice" }))
        .expect("sign proxy token");

    let cache = TokenCache::new(10_000, Duration::from_secs(300));
    let (identity, remaining) = rt.block_on(rs.verify(&rs_token)).expect("rs256 verifies");
    cache.insert(&rs_token, identity, remaining);

    let mut group = c.benchmark_group("token_verify");
    group.bench_function("rs256", |b| b.iter(|| rt.block_on(rs.verify(&rs_token)).expect("ok")));
    group.bench_function("es256", |b| b.iter(|| rt.block_on(es.verify(&es_token)).expect("ok")));
    group
        .bench_function("oidc_proxy_es256", |b| b.iter(|| rt.block_on(es.verify(&proxy_token)).expect("ok")));
    group.bench_function("cache_hit", |b| b.iter(|| cache.get(&rs_token).expect("cached")));
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);

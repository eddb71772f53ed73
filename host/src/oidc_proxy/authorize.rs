//! The browser's part of a login: `/authorize` (the client's request, checked), `/consent` (the
//! user approves this client, this redirect and these scopes), and the upstream callback (the
//! IdP's answer, exchanged and verified, turned into Warden's own authorization code).
//!
//! Confused-deputy protection: Warden uses one static client at the IdP for every MCP client, so
//! the IdP's own consent cannot tell clients apart. Warden asks itself, before sending the
//! browser upstream, naming the client and where the code will go.
//!
//! Each login is a *transaction* in the store (15 minutes by default) bound to the browser that
//! started it by a `__Host-` cookie holding a random value whose hash the transaction keeps. The
//! consent form carries a per-transaction CSRF token; the upstream `state` is a fresh random
//! value redeemed once at the callback, which also checks the cookie, so a code can only land in
//! the browser that approved the request.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::clients::Client;
use super::errors::error_page;
use super::token::{CodeGrant, Family};
use super::upstream::UpstreamError;
use super::vault::{digest_key, random_token};
use super::{ClientLookup, OidcProxy, page, params, pkce};
use crate::telemetry::AuditEvent;

/// A login between `/authorize` and the consent decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Transaction {
    id: String,
    client_id: String,
    client_name: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    state: Option<String>,
    scope: Vec<String>,
    csrf: String,
    /// SHA-256 of the browser-binding cookie's value.
    binding: String,
    /// Consent was remembered for this user: the IdP must log the same user in.
    remembered_for: Option<String>,
}

/// A login sent upstream, waiting for the IdP's callback (keyed by the upstream `state`).
#[derive(Debug, Serialize, Deserialize)]
struct UpstreamLogin {
    txn: Transaction,
    verifier: String,
    nonce: String,
    remember: bool,
}

const TXN: &str = "txn";
const LOGIN: &str = "login";
const CONSENT: &str = "consent";
const USER_COOKIE: &str = "__Host-warden-user";
const USER_COOKIE_CONTEXT: &[u8] = b"cookie:warden-user";

/// The value of cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The per-transaction browser-binding cookie's name.
fn binding_cookie(txn_id: &str) -> String {
    format!("__Host-warden-login-{}", txn_id.get(..16).unwrap_or(txn_id))
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: u64) {
    let cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            super::errors::no_store(r.headers_mut());
            r
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "Invalid redirect", "The redirect URI cannot be used."),
    }
}

/// True if the browser holds the cookie bound to `txn`.
fn holds_binding(headers: &HeaderMap, txn: &Transaction) -> bool {
    cookie(headers, &binding_cookie(&txn.id)).is_some_and(|value| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            digest_key(value).as_bytes(),
            txn.binding.as_bytes(),
        )
        .is_ok()
    })
}

fn not_this_browser() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Sign-in not recognised",
        "This sign-in was started in another browser, or its cookie is missing. Nothing was approved.",
    )
}

fn expired() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in is unknown, expired, or was already completed. Nothing was approved.",
    )
}

impl OidcProxy {
    /// Where an error goes once the client and redirect URI are trusted: back to the client, with
    /// `state` and RFC 9207 `iss`.
    fn redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &str,
        description: &str,
    ) -> Response {
        let Ok(mut url) = url::Url::parse(redirect_uri) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect",
                "The redirect URI cannot be used.",
            );
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("error", error).append_pair("error_description", description);
            if let Some(s) = state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        see_other(url.as_str())
    }

    fn audit(
        &self,
        event: &'static str,
        outcome: &'static str,
        client_id: &str,
        subject: Option<&str>,
        reason: Option<String>,
    ) {
        let mut e = AuditEvent::new(event, outcome);
        e.client_id = Some(client_id.to_owned());
        e.subject = subject.map(str::to_owned);
        e.reason = reason;
        self.telemetry.audit.record(&e);
    }

    fn consent_key(subject: &str, client_id: &str, redirect_uri: &str) -> String {
        digest_key(&format!("{subject}\n{client_id}\n{redirect_uri}"))
    }

    /// The user a browser's "remember" cookie names, if it opens.
    fn remembered_user(&self, headers: &HeaderMap) -> Option<String> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie(headers, USER_COOKIE)?).ok()?;
        let subject = self.vault.sealer().open(USER_COOKIE_CONTEXT, &sealed).ok()?;
        String::from_utf8(subject).ok()
    }

    /// Sends the browser to the IdP for `txn` (after consent, or with remembered consent).
    async fn start_upstream(&self, txn: Transaction, remember: bool) -> Response {
        let client_id = txn.client_id.clone();
        let (Ok(state), Ok(nonce)) = (random_token(32), random_token(32)) else {
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Try again.");
        };
        let Ok((verifier, challenge)) = pkce::new_pair() else {
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Try again.");
        };
        let url = match self.upstream.authorization_url(&state, &nonce, &challenge).await {
            Ok(url) => url,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the login to the IdP");
                return self.redirect_error(
                    &txn.redirect_uri,
                    txn.state.as_deref(),
                    "temporarily_unavailable",
                    "the identity provider cannot be reached; try again",
                );
            }
        };
        let login = UpstreamLogin { txn, verifier, nonce, remember };
        let ttl = Duration::from_secs(self.settings.transaction_ttl_s);
        if let Err(e) = self.vault.put(LOGIN, &state, &login, ttl).await {
            return e.into();
        }
        tracing::debug!(client_id = %client_id, "login sent to the IdP");
        see_other(&url)
    }
}

/// `GET /authorize`: checks the client and redirect URI (an error page if either is wrong), then
/// the request (errors go back to the client), and starts a transaction.
pub(super) async fn authorize(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match params::parse(query.as_deref().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e.to_string()),
    };
    let Some(client_id) = params.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request names no client (client_id).",
        );
    };
    let client: Client = match proxy.find_client(client_id).await {
        Ok(c) => c,
        Err(ClientLookup::Unknown) => {
            proxy.audit("login.refused", "unknown_client", client_id, None, None);
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown client",
                "This client is not registered with this server. Remove the server from your MCP client and add it again so it registers.",
            );
        }
        Err(ClientLookup::Document(reason)) => {
            proxy.audit("login.refused", "client_metadata_document", client_id, None, Some(reason.clone()));
            return error_page(StatusCode::BAD_REQUEST, "Client refused", &reason);
        }
        Err(ClientLookup::Store(e)) => {
            tracing::error!(error = %e, "client lookup failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Try again in a moment.",
            );
        }
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.allows_redirect(uri) => uri.clone(),
        Some(uri) => {
            proxy.audit("login.refused", "unregistered_redirect_uri", client_id, None, Some(uri.clone()));
            return error_page(
                StatusCode::BAD_REQUEST,
                "Redirect URI not registered",
                "The redirect URI in this request is not one the client registered, so the response will not be sent there.",
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The request names no redirect_uri.",
            );
        }
    };
    let state = params.get("state").map(String::as_str);
    let fail =
        |error: &str, description: &str| proxy.redirect_error(&redirect_uri, state, error, description);
    if params.get("response_type").map(String::as_str) != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let challenge = params.get("code_challenge").cloned().unwrap_or_default();
    if let Err(e) = pkce::check_challenge(&challenge, params.get("code_challenge_method").map(String::as_str))
    {
        return fail("invalid_request", &e.to_string());
    }
    if let Some(resource) = params.get("resource")
        && resource.trim_end_matches('/') != proxy.resource.trim_end_matches('/')
    {
        return fail("invalid_target", "this server only issues tokens for its own MCP endpoint");
    }
    let scope: Vec<String> =
        params.get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    if scope.len() > 50 || scope.iter().any(|s| s.len() > 200) {
        return fail("invalid_scope", "too many or too long scopes");
    }
    let (Ok(id), Ok(binding), Ok(csrf)) = (random_token(32), random_token(32), random_token(32)) else {
        return fail("temporarily_unavailable", "try again");
    };
    let remembered_for = proxy.remembered_user(&headers);
    let mut txn = Transaction {
        id: id.clone(),
        client_id: client.client_id.clone(),
        client_name: client.client_name.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge,
        state: state.map(str::to_owned),
        scope,
        csrf,
        binding: digest_key(&binding),
        remembered_for: None,
    };
    let ttl = proxy.settings.transaction_ttl_s;
    if let Some(subject) = remembered_for {
        let key = OidcProxy::consent_key(&subject, &client.client_id, &redirect_uri);
        match proxy.vault.get::<bool>(CONSENT, &key).await {
            Ok(Some(true)) => {
                txn.remembered_for = Some(subject);
                let mut response = proxy.start_upstream(txn, false).await;
                set_cookie(&mut response, &binding_cookie(&id), &binding, ttl);
                return response;
            }
            Ok(_) => {}
            Err(e) => return e.into(),
        }
    }
    if let Err(e) = proxy.vault.put(TXN, &id, &txn, Duration::from_secs(ttl)).await {
        return e.into();
    }
    let mut response = see_other(&format!("/consent?txn={id}"));
    set_cookie(&mut response, &binding_cookie(&id), &binding, ttl);
    response
}

/// `GET /consent?txn=`: the consent page. Shown again on a repeated GET with the same CSRF token.
pub(super) async fn consent_page(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params::parse(query.as_deref().unwrap_or_default().as_bytes()).unwrap_or_default();
    let Some(id) = params.get("txn") else { return expired() };
    let txn: Transaction = match proxy.vault.get(TXN, id).await {
        Ok(Some(t)) => t,
        Ok(None) => return expired(),
        Err(e) => return e.into(),
    };
    if !holds_binding(&headers, &txn) {
        return not_this_browser();
    }
    proxy.render_consent(&txn).await
}

impl OidcProxy {
    async fn render_consent(&self, txn: &Transaction) -> Response {
        let esc = page::escape;
        let redirect = url::Url::parse(&txn.redirect_uri).ok();
        let redirect_host = redirect
            .as_ref()
            .map(|u| match u.host_str() {
                Some(h) => {
                    format!("{}://{h}{}", u.scheme(), u.port().map(|p| format!(":{p}")).unwrap_or_default())
                }
                None => format!("{}:", u.scheme()),
            })
            .unwrap_or_default();
        let name = match &txn.client_name {
            Some(n) => {
                format!("<strong>{}</strong> <span class=\"muted\">(name given by the client)</span>", esc(n))
            }
            None => "<strong>An unnamed client</strong>".into(),
        };
        let api_scopes: Vec<&String> =
            txn.scope.iter().filter(|s| !super::OIDC_SCOPES.contains(&s.as_str())).collect();
        let scopes = if api_scopes.is_empty() {
            "<li>every tool your account is allowed to use</li>".to_owned()
        } else {
            api_scopes.iter().map(|s| format!("<li><code>{}</code></li>", esc(s))).collect::<String>()
        };
        let remember = if self.settings.consent_remember_days > 0 {
            format!(
                "<p><label><input type=\"checkbox\" name=\"remember\" value=\"1\"> Remember this decision for {} days</label></p>",
                self.settings.consent_remember_days
            )
        } else {
            String::new()
        };
        let body = format!(
            "<h1>Allow access to your MCP tools?</h1>\
             <div class=\"box\"><p>{name} asks to use the tools on <strong>{server}</strong> as you.</p>\
             <p>Client id: <code>{client_id}</code></p>\
             <p>After you sign in, the answer goes to <strong>{redirect_host}</strong>.</p>\
             <p>Access requested:</p><ul>{scopes}</ul></div>\
             <form method=\"post\" action=\"/consent\">\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{remember}\
             <button type=\"submit\" name=\"decision\" value=\"approve\" class=\"approve\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"deny\">Deny</button></form>\
             <p class=\"muted\">Only allow a client you are connecting yourself, right now. If you did not just add \
             this server to an MCP client, choose Deny.</p>",
            server = esc(&self.issuer),
            client_id = esc(&txn.client_id),
            redirect_host = esc(&redirect_host),
            txn = esc(&txn.id),
            csrf = esc(&txn.csrf),
        );
        let mut targets = vec![redirect_host];
        if let Ok(e) = self.upstream.endpoints().await
            && let Ok(u) = url::Url::parse(&e.authorization_endpoint)
        {
            targets.push(u.origin().ascii_serialization());
        }
        page::html(StatusCode::OK, "Allow access?", &body, &targets)
    }
}

/// `POST /consent`: the user's decision. Needs the transaction's CSRF token and cookie; the
/// transaction is then consumed (a second POST finds nothing).
pub(super) async fn consent_decision(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|b| params::parse(b.as_bytes()).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e),
    };
    let Some(id) = form.get("txn").map(String::as_str) else { return expired() };
    let txn: Transaction = match proxy.vault.get(TXN, id).await {
        Ok(Some(t)) => t,
        Ok(None) => return expired(),
        Err(e) => return e.into(),
    };
    if !holds_binding(&headers, &txn) {
        proxy.audit("login.refused", "consent_without_cookie", &txn.client_id, None, None);
        return not_this_browser();
    }
    let csrf_ok = form.get("csrf").is_some_and(|c| {
        aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), txn.csrf.as_bytes()).is_ok()
    });
    if !csrf_ok {
        proxy.audit("login.refused", "consent_csrf", &txn.client_id, None, None);
        return error_page(
            StatusCode::FORBIDDEN,
            "Form not accepted",
            "The consent form was not submitted from this server's page. Nothing was approved.",
        );
    }
    let txn: Transaction = match proxy.vault.take(TXN, id).await {
        Ok(Some(t)) => t,
        Ok(None) => return expired(),
        Err(e) => return e.into(),
    };
    match form.get("decision").map(String::as_str) {
        Some("approve") => {
            let remember = form.get("remember").map(String::as_str) == Some("1")
                && proxy.settings.consent_remember_days > 0;
            proxy.start_upstream(txn, remember).await
        }
        _ => {
            proxy.audit("login.refused", "consent_denied", &txn.client_id, None, None);
            proxy.redirect_error(
                &txn.redirect_uri,
                txn.state.as_deref(),
                "access_denied",
                "the user denied access",
            )
        }
    }
}

/// A hint for the operator, from seed 000's error table, for an IdP error.
fn operator_hint(error: &str, description: &str, callback: &str) -> String {
    let d = description.to_ascii_lowercase();
    match error {
        "unauthorized_client" => "enable the Authorization Code grant for Warden's application at the IdP (Auth0: Advanced Settings > Grant Types)".into(),
        "invalid_client" => "oidc.client_id or oidc.client_secret is wrong: copy them again from the IdP application".into(),
        _ if d.contains("redirect") || d.contains("callback") => {
            format!("list {callback} exactly (scheme, host, port, path) in the IdP application's Allowed Callback URLs")
        }
        _ if d.contains("code_challenge") => {
            "the IdP application type does not accept PKCE from a confidential client (Auth0: use a Machine to Machine application)".into()
        }
        _ if d.contains("audience") || d.contains("service not found") || d.contains("not authorized") => {
            "oidc.audience must be an API identifier at the IdP, and the application must be authorized for it (Auth0: APIs > your API > Application Access)".into()
        }
        _ => "see the IdP's logs for this login".into(),
    }
}

/// `GET <callback_path>`: the IdP's answer. Redeems the upstream `state` once, checks the
/// browser binding and RFC 9207 `iss`, exchanges the code, verifies the tokens, and sends
/// Warden's own code to the client.
pub(super) async fn callback(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match params::parse(query.as_deref().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid request", &e.to_string()),
    };
    let Some(state) = params.get("state") else { return expired() };
    let login: UpstreamLogin = match proxy.vault.take(LOGIN, state).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            tracing::info!("callback with an unknown, used or expired state");
            return expired();
        }
        Err(e) => return e.into(),
    };
    let txn = login.txn;
    if !holds_binding(&headers, &txn) {
        proxy.audit("login.refused", "callback_without_cookie", &txn.client_id, None, None);
        return not_this_browser();
    }
    let back = |error: &str, description: &str| {
        proxy.redirect_error(&txn.redirect_uri, txn.state.as_deref(), error, description)
    };
    if let (Some(iss), Some(expected)) = (params.get("iss"), proxy.upstream.issuer())
        && iss.trim_end_matches('/') != expected.trim_end_matches('/')
    {
        proxy.audit("login.refused", "upstream_issuer_mismatch", &txn.client_id, None, Some(iss.clone()));
        return back("access_denied", "the sign-in response came from an unexpected issuer");
    }
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").cloned().unwrap_or_default();
        let hint = operator_hint(error, &description, &proxy.upstream.callback_url);
        tracing::warn!(error = %error, description = %description, hint = %hint, "the IdP refused the login");
        proxy.audit("login.refused", "upstream_error", &txn.client_id, None, Some(error.clone()));
        return match error.as_str() {
            "temporarily_unavailable" | "server_error" => {
                back("temporarily_unavailable", "the identity provider is temporarily unavailable; try again")
            }
            _ => back("access_denied", "the identity provider did not sign the user in"),
        };
    }
    let Some(code) = params.get("code") else {
        return back("access_denied", "the identity provider sent no code");
    };
    let upstream_login = match proxy.upstream.exchange(code, &login.verifier, &login.nonce).await {
        Ok(l) => l,
        Err(UpstreamError::Unavailable(e)) => {
            tracing::warn!(error = %e, "code exchange: the IdP is unavailable");
            return back(
                "temporarily_unavailable",
                "the identity provider is temporarily unavailable; try again",
            );
        }
        Err(UpstreamError::Rejected { error, description }) => {
            let description = description.unwrap_or_default();
            let hint = operator_hint(&error, &description, &proxy.upstream.callback_url);
            tracing::error!(error = %error, description = %description, hint = %hint, "code exchange refused by the IdP");
            proxy.audit("login.refused", "upstream_exchange", &txn.client_id, None, Some(error));
            return back(
                "server_error",
                "the identity provider refused the sign-in; the server log says why",
            );
        }
        Err(UpstreamError::Invalid(e)) => {
            tracing::error!(error = %e, "code exchange: the IdP's tokens do not verify");
            proxy.audit("login.refused", "upstream_token_invalid", &txn.client_id, None, Some(e));
            return back("server_error", "the identity provider's answer could not be verified");
        }
    };
    let subject = upstream_login.claims.get("sub").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
    if let Some(remembered) = &txn.remembered_for
        && *remembered != subject
    {
        proxy.audit("login.refused", "remembered_consent_other_user", &txn.client_id, Some(&subject), None);
        return back(
            "access_denied",
            "another user signed in than the one who approved this client; try again",
        );
    }
    let scope = proxy.grant(&upstream_login.claims, &txn.scope);
    let family = Family {
        client_id: txn.client_id.clone(),
        scope,
        claims: upstream_login.claims,
        upstream: upstream_login.tokens,
    };
    let (Ok(family_id), Ok(code)) = (random_token(24), random_token(32)) else {
        return back("temporarily_unavailable", "try again");
    };
    let grant = CodeGrant {
        client_id: txn.client_id.clone(),
        redirect_uri: txn.redirect_uri.clone(),
        code_challenge: txn.code_challenge.clone(),
        family: family_id.clone(),
    };
    let s = &proxy.settings;
    let stored = async {
        proxy
            .vault
            .put(super::token::FAMILY, &family_id, &family, Duration::from_secs(s.refresh_token_ttl_s))
            .await?;
        proxy
            .vault
            .put(super::token::CODE, &digest_key(&code), &grant, Duration::from_secs(s.code_ttl_s))
            .await?;
        if login.remember {
            let key = OidcProxy::consent_key(&subject, &txn.client_id, &txn.redirect_uri);
            proxy
                .vault
                .put(CONSENT, &key, &true, Duration::from_secs(s.consent_remember_days * 86_400))
                .await?;
        }
        Ok::<(), super::vault::VaultError>(())
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "cannot store the login");
        return back("temporarily_unavailable", "the sign-in could not be saved; try again");
    }
    proxy.audit("login.completed", "ok", &txn.client_id, Some(&subject), None);
    let Ok(mut url) = url::Url::parse(&txn.redirect_uri) else { return expired() };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &txn.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &proxy.issuer);
    }
    let mut response = see_other(url.as_str());
    set_cookie(&mut response, &binding_cookie(&txn.id), "", 0);
    if login.remember
        && let Ok(sealed) = proxy.vault.sealer().seal(USER_COOKIE_CONTEXT, subject.as_bytes())
    {
        set_cookie(
            &mut response,
            USER_COOKIE,
            &URL_SAFE_NO_PAD.encode(sealed),
            s.consent_remember_days * 86_400,
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-warden-user=xyz; b=2"));
        assert_eq!(cookie(&h, "__Host-warden-user"), Some("xyz"));
        assert_eq!(cookie(&h, "warden-user"), None);
    }

    #[test]
    fn operator_hints_follow_seed_000() {
        assert!(operator_hint("unauthorized_client", "", "x").contains("Authorization Code"));
        assert!(
            operator_hint("invalid_request", "redirect_uri mismatch", "https://h/auth/callback")
                .contains("https://h/auth/callback")
        );
        assert!(operator_hint("invalid_client", "", "x").contains("client_secret"));
    }
}

//! Outbound HTTP as the caller: the capability the host lends a plugin whose manifest declares
//! `[http.destinations.*]`. Each request the plugin builds (through the standard
//! `wasi:http/outgoing-handler`) is checked against its destinations ([`policy`]), gets its
//! credential attached by the host ([`credentials`]), is resolved and connected only to an
//! address the operator allows ([`address`], [`connect`]), is held to the call's limits, and is
//! written to the audit log and counted in `/metrics`. The plugin never sees a credential.

pub mod address;
mod connect;
pub mod credentials;
pub mod policy;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::Body;

pub use connect::ResponseBody;
use credentials::{CallerTokens, CredentialError, ExchangeClient, Exchanger};
use policy::{Credential, HttpGrant, Mismatch, Scheme, Target};

use crate::config::{AuthMode, Config};
use crate::shared::{Identity, resolve_reference};
use crate::telemetry::{AuditEvent, Telemetry};

/// The largest request body a plugin may send.
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// Why an outbound request failed. The text is what the plugin receives.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundError {
    /// The request is not allowed; nothing was sent.
    #[error("refused by Warden: {0}")]
    Refused(String),
    /// No credential could be attached; nothing was sent.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The name did not resolve.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The TLS handshake failed.
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    /// The request took longer than its limit.
    #[error("the request timed out after {0} ms")]
    Timeout(u64),
    /// The response would exceed the call's byte budget.
    #[error("the response exceeds this call's {0} KiB response limit")]
    TooLarge(u64),
    /// The upstream spoke broken HTTP, or the connection broke.
    #[error("HTTP error: {0}")]
    Protocol(String),
}

impl OutboundError {
    fn outcome(&self) -> &'static str {
        match self {
            OutboundError::Refused(_) => "refused",
            OutboundError::Credential(CredentialError::IdpUnavailable(_)) => "idp_unavailable",
            OutboundError::Credential(_) => "no_credential",
            OutboundError::Timeout(_) => "timeout",
            OutboundError::TooLarge(_) => "too_large",
            _ => "error",
        }
    }
}

/// Why outbound HTTP could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OutboundSetupError {
    /// A setting is unusable; the message names it.
    #[error("{field}: {problem}")]
    Config {
        /// The setting.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn setup_error(field: &str, problem: impl std::fmt::Display) -> OutboundSetupError {
    OutboundSetupError::Config { field: field.into(), problem: problem.to_string() }
}

/// Outbound HTTP for every plugin: the operator's address policy, TLS roots, secrets, token
/// exchange, and where the caller's upstream tokens come from.
pub struct Outbound {
    address: address::AddressPolicy,
    plain_http_credentials: bool,
    tls: Arc<rustls::ClientConfig>,
    /// Secret values by team (`None`: the shared directory) and name.
    secrets: HashMap<Option<String>, BTreeMap<String, String>>,
    exchanger: Exchanger,
    caller_tokens: RwLock<Option<Arc<dyn CallerTokens>>>,
    oidc_proxy: bool,
    telemetry: Telemetry,
}

impl Outbound {
    /// Outbound HTTP as `config` describes it.
    pub fn new(config: &Config, telemetry: Telemetry) -> Result<Outbound, OutboundSetupError> {
        let h = &config.http;
        let mut allowed = Vec::new();
        for (i, cidr) in h.allow_cidrs.iter().enumerate() {
            allowed.push(cidr.parse().map_err(|e| setup_error(&format!("http.allow_cidrs[{i}]"), e))?);
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &h.ca_bundle {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| setup_error("http.ca_bundle", format!("{}: {e}", path.display())))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| setup_error("http.ca_bundle", format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| setup_error("http.ca_bundle", format!("{}: {e}", path.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup_error("http", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];

        let mut secrets = HashMap::new();
        let resolve_all = |at: &str, map: &BTreeMap<String, crate::config::Secret>| {
            map.iter()
                .map(|(name, value)| {
                    let field = format!("{at}.{name}");
                    resolve_reference(&field, value.expose())
                        .map(|v| (name.clone(), v))
                        .map_err(|e| setup_error(&field, e))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        secrets.insert(None, resolve_all("http.secrets", &h.secrets)?);
        for (i, team) in config.teams.iter().enumerate() {
            secrets.insert(
                Some(team.name.clone()),
                resolve_all(&format!("teams[{i}].http_secrets"), &team.http_secrets)?,
            );
        }

        let oidc_proxy = config.auth.mode == AuthMode::OidcProxy;
        let exchange = &h.exchange;
        let client_id = exchange
            .client_id
            .clone()
            .or_else(|| oidc_proxy.then(|| config.oidc.client_id.clone()).flatten());
        let client_secret = match &exchange.client_secret {
            Some(s) => Some(
                resolve_reference("http.exchange.client_secret", s.expose())
                    .map_err(|e| setup_error("http.exchange.client_secret", e))?,
            ),
            None if oidc_proxy => match &config.oidc.client_secret {
                Some(s) => Some(
                    resolve_reference("oidc.client_secret", s.expose())
                        .map_err(|e| setup_error("oidc.client_secret", e))?,
                ),
                None => None,
            },
            None => None,
        };
        let discovery = if oidc_proxy {
            config.oidc.discovery_url()
        } else {
            config.auth.config_url.clone().or_else(|| {
                config
                    .auth
                    .issuer
                    .as_ref()
                    .map(|i| format!("{}/.well-known/openid-configuration", i.trim_end_matches('/')))
            })
        };
        let token_url = exchange
            .token_url
            .clone()
            .map(credentials::TokenUrl::Fixed)
            .or_else(|| discovery.map(credentials::TokenUrl::Discover));
        let client = match (token_url, client_id, client_secret) {
            (Some(token_url), Some(client_id), Some(client_secret)) => {
                Some(ExchangeClient { token_url, client_id, client_secret })
            }
            _ => None,
        };
        Ok(Outbound {
            address: address::AddressPolicy::new(allowed),
            plain_http_credentials: h.allow_plain_http_credentials,
            tls: Arc::new(tls),
            secrets,
            exchanger: Exchanger::new(client),
            caller_tokens: RwLock::new(None),
            oidc_proxy,
            telemetry,
        })
    }

    /// Sets where `caller` credentials come from (the OIDC proxy's sealed upstream tokens).
    pub fn set_caller_tokens(&self, tokens: Arc<dyn CallerTokens>) {
        if let Ok(mut slot) = self.caller_tokens.write() {
            *slot = Some(tokens);
        }
    }

    /// The HTTP capability of one call of `plugin` (its namespace) for `caller`, ending at
    /// `deadline`.
    pub fn call(
        self: &Arc<Self>,
        grant: Arc<HttpGrant>,
        plugin: &str,
        team: Option<&str>,
        caller: &Identity,
        deadline: Instant,
    ) -> CallHttp {
        CallHttp {
            inner: Arc::new(CallInner {
                outbound: self.clone(),
                requests: AtomicU32::new(0),
                bytes_left: Arc::new(AtomicU64::new(grant.limits.response_bytes)),
                grant,
                plugin: plugin.to_owned(),
                team: team.map(str::to_owned),
                caller: caller.clone(),
                deadline,
            }),
        }
    }

    async fn subject_token(&self, caller: &Identity) -> Result<String, CredentialError> {
        if self.oidc_proxy {
            return self.upstream_token(caller).await;
        }
        caller.bearer().map(str::to_owned).ok_or_else(|| {
            CredentialError::NotConfigured("the caller presented no bearer token to exchange".into())
        })
    }

    async fn upstream_token(&self, caller: &Identity) -> Result<String, CredentialError> {
        let tokens = self.caller_tokens.read().ok().and_then(|t| t.clone());
        match tokens {
            Some(tokens) => tokens.upstream_access_token(caller).await,
            None => Err(CredentialError::NotConfigured(
                "credential \"caller\" needs auth.mode = \"oidc-proxy\" (Warden keeps the caller's upstream token only there)".into(),
            )),
        }
    }

    /// The header value of `credential` for `caller` (`None`: attach nothing).
    async fn credential(
        &self,
        team: Option<&str>,
        credential: &Credential,
        caller: &Identity,
    ) -> Result<Option<String>, CredentialError> {
        match credential {
            Credential::None => Ok(None),
            Credential::Caller => Ok(Some(format!("Bearer {}", self.upstream_token(caller).await?))),
            Credential::Exchange { .. } => {
                if let Some(token) = self.exchanger.cached(caller, credential) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let subject = self.subject_token(caller).await?;
                let token = self.exchanger.exchange(caller, credential, &subject).await?;
                Ok(Some(format!("Bearer {token}")))
            }
            Credential::Secret { name } => self
                .secrets
                .get(&team.map(str::to_owned))
                .and_then(|m| m.get(name))
                .map(|v| Some(v.clone()))
                .ok_or_else(|| CredentialError::NotConfigured(format!("secret {name:?} is not configured"))),
        }
    }
}

struct CallInner {
    outbound: Arc<Outbound>,
    grant: Arc<HttpGrant>,
    requests: AtomicU32,
    bytes_left: Arc<AtomicU64>,
    plugin: String,
    team: Option<String>,
    caller: Identity,
    deadline: Instant,
}

/// The HTTP capability lent to one call: its grant, limits and caller. Cheap to clone.
#[derive(Clone)]
pub struct CallHttp {
    inner: Arc<CallInner>,
}

/// The audit line of a request, written once its body has ended.
struct Record {
    telemetry: Telemetry,
    event: AuditEvent,
    destination: String,
    started: Instant,
}

impl Record {
    fn write(mut self, outcome: &'static str, bytes: Option<u64>, reason: Option<String>) {
        self.event.outcome = outcome;
        self.event.bytes = bytes;
        self.event.reason = reason;
        self.event.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1e3);
        let plugin = self.event.plugin.clone().unwrap_or_default();
        self.telemetry.metrics.outbound_request(&plugin, &self.destination, outcome);
        self.telemetry.audit.record(&self.event);
    }
}

struct Finisher(std::sync::Mutex<Option<Record>>);

impl connect::Finish for Finisher {
    fn finish(&self, bytes: u64, outcome: &'static str, reason: Option<String>) {
        if let Some(record) = self.0.lock().ok().and_then(|mut r| r.take()) {
            record.write(outcome, Some(bytes), reason);
        }
    }
}

impl CallHttp {
    /// Environment variables naming the destinations' URLs (`WARDEN_HTTP_<NAME>`), for the plugin.
    pub fn environment(grant: &HttpGrant) -> Vec<(String, String)> {
        grant
            .destinations
            .iter()
            .map(|d| (format!("WARDEN_HTTP_{}", d.name.to_ascii_uppercase().replace('-', "_")), d.url()))
            .collect()
    }

    /// Sends one request the plugin built, as this call's caller, within its grant and limits.
    pub async fn send<B>(&self, request: Request<B>) -> Result<Response<ResponseBody>, OutboundError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let call = &self.inner;
        let started = Instant::now();
        let method = request.method().clone();
        let mut event = AuditEvent::by("http.request", "ok", &call.caller);
        event.plugin = Some(call.plugin.clone());
        event.team = call.team.clone();
        event.method = Some(method.to_string());
        let record = |event: AuditEvent, destination: &str| Record {
            telemetry: call.outbound.telemetry.clone(),
            event,
            destination: destination.to_owned(),
            started,
        };
        let refuse = |event: AuditEvent, destination: &str, e: OutboundError| {
            tracing::info!(plugin = %call.plugin, destination, reason = %e, "outbound request not completed");
            record(event, destination).write(e.outcome(), None, Some(e.to_string()));
            Err(e)
        };

        // The whole body first (within MAX_REQUEST_BODY and the call's deadline), before any check:
        // the plugin has finished writing when it learns the outcome, so neither a refusal nor an
        // early answer closes its body stream under it (a guest library would report that as a
        // reset instead of the reason), and the request goes out with a Content-Length.
        let (parts, body) = request.into_parts();
        let collect = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_REQUEST_BODY));
        let body = match tokio::time::timeout_at(call.deadline.into(), collect).await {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(e)) => {
                let e = match e.downcast::<http_body_util::LengthLimitError>() {
                    Ok(_) => OutboundError::Refused(format!(
                        "the request body exceeds {} KiB",
                        MAX_REQUEST_BODY / 1024
                    )),
                    Err(e) => OutboundError::Protocol(format!("reading the plugin's request body: {e}")),
                };
                return refuse(event, "-", e);
            }
            Err(_) => {
                let ms = u64::try_from(call.deadline.saturating_duration_since(started).as_millis())
                    .unwrap_or(u64::MAX);
                return refuse(event, "-", OutboundError::Timeout(ms));
            }
        };
        let mut request = Request::from_parts(parts, http_body_util::Full::new(body));
        let target = match Target::parse(request.uri()) {
            Ok(t) => t,
            Err(reason) => return refuse(event, "-", OutboundError::Refused(reason)),
        };
        event.url = Some(format!("{}{}", target.origin(), target.path));
        let destination = match call.grant.find(&target, &method) {
            Ok(d) => d,
            Err(m) => {
                let reason = match m {
                    Mismatch::Origin => {
                        format!("{} is not a destination this plugin's manifest declares", target.origin())
                    }
                    Mismatch::Path => format!(
                        "{} is outside every path prefix granted for {}",
                        target.path,
                        target.origin()
                    ),
                    Mismatch::Method => {
                        format!("{method} is not a method granted for {}{}", target.origin(), target.path)
                    }
                };
                return refuse(event, "-", OutboundError::Refused(reason));
            }
        };
        event.credential = Some(destination.credential.kind());
        let name = destination.name.clone();
        let limits = call.grant.limits;
        if call.requests.fetch_add(1, Ordering::AcqRel) >= limits.requests_per_call {
            let e = OutboundError::Refused(format!(
                "this call already made its {} requests",
                limits.requests_per_call
            ));
            return refuse(event, &name, e);
        }
        if destination.credential != Credential::None
            && target.scheme == Scheme::Http
            && !call.outbound.plain_http_credentials
        {
            let e = OutboundError::Refused(format!(
                "{} is plain http, and credentials go only over https (the operator can allow it with http.allow_plain_http_credentials)",
                target.origin()
            ));
            return refuse(event, &name, e);
        }
        let deadline = call.deadline.min(started + limits.request_timeout);
        let timeout_ms =
            u64::try_from(deadline.saturating_duration_since(started).as_millis()).unwrap_or(u64::MAX);
        let work = async {
            let credential =
                call.outbound.credential(call.team.as_deref(), &destination.credential, &call.caller).await?;
            let headers = request.headers_mut();
            if destination.credential != Credential::None {
                headers.remove(http::header::AUTHORIZATION);
                headers.remove(&destination.header);
            }
            if let Some(value) = credential {
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    OutboundError::Refused("the credential is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                headers.insert(destination.header.clone(), value);
            }
            let addr = connect::resolve(&call.outbound.address, &target).await?;
            let mut sender = connect::connect(addr, &target, &call.outbound.tls, deadline).await?;
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
            *request.uri_mut() =
                path.parse().map_err(|_| OutboundError::Refused("the path is not a valid URI".into()))?;
            sender.send_request(request).await.map_err(|e| OutboundError::Protocol(e.to_string()))
        };
        let response = match tokio::time::timeout_at(deadline.into(), work).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return refuse(event, &name, e),
            Err(_) => return refuse(event, &name, OutboundError::Timeout(timeout_ms)),
        };
        event.status = Some(response.status().as_u16());
        let limit_kb = limits.response_bytes / 1024;
        if let Some(len) = response.body().size_hint().exact()
            && len > call.bytes_left.load(Ordering::Acquire)
        {
            return refuse(event, &name, OutboundError::TooLarge(limit_kb));
        }
        let finish = Box::new(Finisher(std::sync::Mutex::new(Some(record(event, &name)))));
        Ok(response.map(|body| {
            ResponseBody::new(body, call.bytes_left.clone(), limit_kb, deadline, timeout_ms, finish)
        }))
    }
}

//! Drives Warden's OIDC proxy the way a browser and an OAuth client do, one step at a time, so
//! tests can interfere at any step: a cookie-keeping [`Browser`] that does not follow redirects
//! on its own, an OAuth [`Client`] (DCR, PKCE, token requests), and a [`Balancer`] that puts
//! several Warden replicas behind one public URL, as a load balancer does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A response as the browser saw it.
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, resolved against the request URL.
    pub location: Option<String>,
    /// The body.
    pub body: String,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

/// A minimal browser: a cookie jar per host:port and manual redirects.
pub struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

fn origin_key(url: &reqwest::Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(0))
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// An empty browser.
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Browser { http, jar: HashMap::new() }
    }

    /// Forgets every cookie of `host:port` whose name starts with `prefix`.
    pub fn drop_cookies(&mut self, url: &str, prefix: &str) {
        if let Ok(u) = reqwest::Url::parse(url)
            && let Some(jar) = self.jar.get_mut(&origin_key(&u))
        {
            jar.retain(|name, _| !name.starts_with(prefix));
        }
    }

    async fn send(&mut self, url: &str, form: Option<&[(&str, &str)]>) -> anyhow::Result<Page> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let key = origin_key(&parsed);
        let mut request = match form {
            Some(f) => self.http.post(parsed.clone()).form(f),
            None => self.http.get(parsed.clone()),
        };
        if let Some(jar) = self.jar.get(&key)
            && !jar.is_empty()
        {
            let header = jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            request = request.header("cookie", header);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let first = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                let max_age_zero = text.to_ascii_lowercase().contains("max-age=0");
                let jar = self.jar.entry(key.clone()).or_default();
                if max_age_zero || value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| parsed.join(l).ok())
            .map(|u| u.to_string());
        let body = response.text().await.unwrap_or_default();
        Ok(Page { status, location, body, headers })
    }

    /// GET `url` (no redirect followed).
    pub async fn get(&mut self, url: &str) -> anyhow::Result<Page> {
        self.send(url, None).await
    }

    /// POST a form to `url` (no redirect followed).
    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        self.send(url, Some(form)).await
    }

    /// Follows redirects from `url` until one points at a URL starting with `stop` (returned,
    /// not requested) or a page that is not a redirect (an error).
    pub async fn follow_until(&mut self, url: &str, stop: &str) -> anyhow::Result<Result<String, Page>> {
        let mut next = url.to_owned();
        for _ in 0..20 {
            if next.starts_with(stop) {
                return Ok(Ok(next));
            }
            let page = self.get(&next).await?;
            match page.location.clone() {
                Some(l) if (300..400).contains(&page.status) => next = l,
                _ => return Ok(Err(page)),
            }
        }
        bail!("too many redirects from {url}")
    }
}

/// The hidden inputs of the first form on `html`, and its action.
pub fn form_fields(html: &str) -> (String, HashMap<String, String>) {
    let action = html
        .split("<form")
        .nth(1)
        .and_then(|f| f.split("action=\"").nth(1))
        .and_then(|a| a.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let mut fields = HashMap::new();
    for input in html.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap_or_default();
        let attr = |name: &str| {
            tag.split(&format!("{name}=\"")).nth(1).and_then(|v| v.split('"').next()).map(str::to_owned)
        };
        if attr("type").as_deref() == Some("hidden")
            && let (Some(n), Some(v)) = (attr("name"), attr("value"))
        {
            fields.insert(n, v.replace("&amp;", "&"));
        }
    }
    (action, fields)
}

/// The query parameters of `url`.
pub fn query_of(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// A registered OAuth client of Warden, doing PKCE.
pub struct Client {
    /// Warden's public base URL.
    pub base: String,
    /// Its client id.
    pub client_id: String,
    /// Its redirect URI.
    pub redirect_uri: String,
    /// The PKCE verifier of the current authorization request.
    pub verifier: String,
    http: reqwest::Client,
}

/// The S256 challenge of `verifier`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Client {
    /// Registers a public client with `redirect_uri` at `base`'s `/register`.
    pub async fn register(base: &str, redirect_uri: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/register"))
            .json(&json!({
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "client_name": "Rust test client",
            }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status.as_u16() != 201 {
            bail!("registration failed: {status} {body}");
        }
        Ok(Client {
            base: base.to_owned(),
            client_id: body["client_id"].as_str().context("no client_id")?.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            verifier: String::new(),
            http,
        })
    }

    /// A client configured in `[[oidc.clients]]` (it does not register).
    pub fn preregistered(base: &str, client_id: &str, redirect_uri: &str) -> Client {
        Client {
            base: base.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            verifier: String::new(),
            http: reqwest::Client::new(),
        }
    }

    /// A fresh authorization request URL (new PKCE verifier) with `state` and `scope`.
    pub fn authorize_url(&mut self, state: &str, scope: &str) -> String {
        self.verifier = format!("v{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
        let mut url =
            reqwest::Url::parse(&format!("{}/authorize", self.base)).unwrap_or_else(|e| panic!("{e}"));
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_challenge", &challenge_of(&self.verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", state)
            .append_pair("scope", scope);
        url.to_string()
    }

    /// POSTs `form` (plus this client's id) to `/token`; returns status and JSON body.
    pub async fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<(u16, Value)> {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("client_id", &self.client_id));
        let response = self.http.post(format!("{}/token", self.base)).form(&form).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Exchanges `code` with `verifier`.
    pub async fn exchange(&self, code: &str, verifier: &str) -> anyhow::Result<(u16, Value)> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// Redeems `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<(u16, Value)> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }
}

fn rand_bytes() -> [u8; 32] {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 32];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut b);
    b
}

/// Where a login stopped.
pub enum Step {
    /// Warden showed the consent page (its form fields).
    Consent(HashMap<String, String>),
    /// The IdP showed its login form at this action URL.
    IdpLogin(String),
    /// The client's redirect URI was reached with these query parameters.
    Redirected(HashMap<String, String>),
    /// Something else: an error page.
    Other(Page),
}

impl Browser {
    /// Follows redirects from `url` and says where the login stands.
    pub async fn advance(&mut self, url: &str, redirect_uri: &str) -> anyhow::Result<Step> {
        match self.follow_until(url, redirect_uri).await? {
            Ok(redirected) => Ok(Step::Redirected(query_of(&redirected))),
            Err(page) if page.status == 200 && page.body.contains("name=\"decision\"") => {
                Ok(Step::Consent(form_fields(&page.body).1))
            }
            Err(page) if page.status == 200 && page.body.contains("type=\"password\"") => {
                let (action, _) = form_fields(&page.body);
                Ok(Step::IdpLogin(action))
            }
            Err(page) => Ok(Step::Other(page)),
        }
    }

    /// Approves the consent `fields` at `base` and logs in at the IdP as `user`; returns the
    /// query the client's redirect URI receives.
    pub async fn approve_and_login(
        &mut self,
        base: &str,
        fields: &HashMap<String, String>,
        idp: &str,
        user: &str,
        password: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<HashMap<String, String>> {
        let form: Vec<(&str, &str)> =
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain([("decision", "approve")]).collect();
        let page = self.post(&format!("{base}/consent"), &form).await?;
        let next = page
            .location
            .with_context(|| format!("consent did not redirect: {} {}", page.status, page.body))?;
        self.login_at_idp(&next, idp, user, password, redirect_uri).await
    }

    /// From `url` (on the way to the IdP), fills the IdP's login form and follows redirects to
    /// the client's redirect URI.
    pub async fn login_at_idp(
        &mut self,
        url: &str,
        idp: &str,
        user: &str,
        password: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<HashMap<String, String>> {
        match self.advance(url, redirect_uri).await? {
            Step::IdpLogin(action) => {
                let action = reqwest::Url::parse(idp)?.join(&action)?.to_string();
                let page = self.post(&action, &[("login", user), ("password", password)]).await?;
                let next = page
                    .location
                    .with_context(|| format!("IdP login failed: {} {}", page.status, page.body))?;
                match self.advance(&next, redirect_uri).await? {
                    Step::Redirected(q) => Ok(q),
                    Step::Other(p) => bail!("after the IdP login: {} {}", p.status, p.body),
                    _ => bail!("unexpected page after the IdP login"),
                }
            }
            Step::Redirected(q) => Ok(q),
            Step::Other(p) => bail!("on the way to the IdP: {} {}", p.status, p.body),
            Step::Consent(_) => bail!("consent shown twice"),
        }
    }
}

/// A TCP load balancer on 127.0.0.1: every new connection goes to the current target.
pub struct Balancer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    target: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Listens on a free port; connections are refused until [`Balancer::point_at`].
    pub async fn start() -> anyhow::Result<Balancer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let target = Arc::new(Mutex::new(String::new()));
        let current = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = current.lock().map(|t| t.clone()).unwrap_or_default();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to.as_str()).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Balancer { url, target, task })
    }

    /// Sends new connections to `base_url` (`http://host:port`).
    pub fn point_at(&self, base_url: &str) {
        if let Ok(mut t) = self.target.lock() {
            *t = base_url.trim_start_matches("http://").to_owned();
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

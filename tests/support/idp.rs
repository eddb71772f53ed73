//! The test OpenID provider: `tests/idp/idp.mjs`, npm `oidc-provider` configured like an Auth0
//! tenant (RS256 `at+jwt` access tokens, `audience` parameter, `permissions` claim).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{listening_url, node_path, repo_root};

/// A running test IdP; killed on drop.
pub struct Idp {
    child: Child,
    /// Its issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
    http: reqwest::Client,
}

impl Idp {
    /// Starts the IdP on `port` (0: any) issuing tokens for `resources`, with `clients` and
    /// `users` as JSON arrays (see tests/idp/README.md) and access tokens living `ttl_s`.
    pub fn start(
        port: u16,
        resources: &[&str],
        clients: Value,
        users: Value,
        ttl_s: u64,
    ) -> anyhow::Result<Idp> {
        let dir = repo_root().join("tests").join("idp");
        if !dir.join("node_modules").join("oidc-provider").exists() {
            bail!("tests/idp/node_modules is missing: run `npm ci --prefix tests/idp` (`make test` does)");
        }
        // The Node `make test` runs (Node 22 under target/node where the machine's is older), also
        // when nextest is run directly: oidc-provider 9 does not support Node 20 ("Unsupported
        // runtime"), which every failed start on record ran.
        let stderr_log = tempfile::NamedTempFile::new()?;
        let mut child = Command::new("node")
            .arg(dir.join("idp.mjs"))
            .env("PATH", node_path())
            .env("IDP_PORT", port.to_string())
            .env("IDP_RESOURCES", resources.join(","))
            .env("IDP_CLIENTS", clients.to_string())
            .env("IDP_USERS", users.to_string())
            .env("IDP_ACCESS_TOKEN_TTL", ttl_s.to_string())
            .stdout(Stdio::piped())
            .stderr(stderr_log.reopen()?)
            .spawn()
            .context("start node (is Node.js 22+ installed? `make test-deps` installs it)")?;
        let issuer = match listening_url(&mut child, Duration::from_secs(60)) {
            Ok(issuer) => issuer,
            Err(how) => {
                let stderr = std::fs::read_to_string(stderr_log.path()).unwrap_or_default();
                bail!("the test IdP did not start: {how}\nits stderr:\n{stderr}");
            }
        };
        Ok(Idp { child, issuer, http: reqwest::Client::new() })
    }

    /// An access token for `audience` by the client-credentials grant.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("audience", audience),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.http.post(format!("{}/token", self.issuer)).form(&form).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("token request failed: {status} {body}");
        }
        body["access_token"].as_str().map(str::to_owned).context("no access_token")
    }

    /// Test hook: rotates the signing key; returns the new `kid`.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let body: Value =
            self.http.post(format!("{}/__admin/rotate", self.issuer)).send().await?.json().await?;
        body["kid"].as_str().map(str::to_owned).context("no kid")
    }

    /// Stops the IdP (as if it went down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The published key set.
    pub async fn jwks(&self) -> anyhow::Result<Value> {
        Ok(self.http.get(format!("{}/jwks", self.issuer)).send().await?.json().await?)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
